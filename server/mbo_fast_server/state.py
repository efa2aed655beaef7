"""The application's shared state (one per `create_app`), and `Slots`, the counted limits on
concurrent streams and exports."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .config import Config
from .connections import ConnectionGuard
from .logs import LogThrottle
from .metrics import Metrics

if TYPE_CHECKING:
    from mbo_fast.store import BlockStore

    from .data import Catalog
    from .stream import StreamSession


class Slots:
    """At most `limit` holders at once. `take()` checks and reserves in one synchronous step, so a
    handler that takes its slot before its first `await` cannot be overtaken by a burst (a check
    followed by an `await` and then a registration lets every concurrent request through)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def take(self) -> bool:
        if self.held >= self.limit:
            return False
        self.held += 1
        return True

    def release(self) -> None:
        self.held -= 1


@dataclasses.dataclass
class AppState:
    config: Config
    metrics: Metrics
    executor: ThreadPoolExecutor
    # imports and other store writes, one at a time, apart from the request threads
    import_executor: ThreadPoolExecutor = dataclasses.field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="mbo-import")
    )
    catalog: Catalog | None = None
    store: BlockStore | None = None
    persisted: bool = False  # every configured file is in the store
    load_error: str | None = None
    shutting_down: bool = False
    loaded: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    streams: weakref.WeakSet[StreamSession] = dataclasses.field(default_factory=weakref.WeakSet)
    tasks: list[asyncio.Task[Any]] = dataclasses.field(default_factory=list)
    live: Any = None  # the live ingest (live.LiveIngest) when --live is given
    # held from before a handler's first await until its response ends (see Slots)
    stream_slots: Slots = dataclasses.field(init=False)
    live_slots: Slots = dataclasses.field(init=False)
    export_slots: Slots = dataclasses.field(init=False)
    # clients dropped for taking no bytes: one line a second at most (each counted in metrics)
    drop_log: LogThrottle = dataclasses.field(
        default_factory=lambda: LogThrottle(logging.getLogger("mbo_fast_server"), 1.0)
    )

    # streams and exports being served: on shutdown, those still running after a short grace
    # are aborted, so stopping never waits for a slow client (see app._on_shutdown)
    long_responses: set[asyncio.Transport] = dataclasses.field(default_factory=set)
    # the open connections (see connections.py); `serve` makes it enforce max_connections
    guard: ConnectionGuard = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.guard = ConnectionGuard(self.config.max_connections, self.metrics)
        self.stream_slots = Slots(self.config.max_streams)
        self.live_slots = Slots(self.config.max_streams)
        self.export_slots = Slots(self.config.max_exports)


@contextlib.contextmanager
def long_response(state: AppState, request: web.BaseRequest) -> Iterator[None]:
    """Register a stream or export for the time it is served (see `long_responses`)."""
    transport = request.transport
    if transport is not None:
        state.long_responses.add(transport)
    try:
        yield
    finally:
        if transport is not None:
            state.long_responses.discard(transport)


STATE: web.AppKey[AppState] = web.AppKey("mbo_state", AppState)
