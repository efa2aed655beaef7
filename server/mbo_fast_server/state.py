"""The application's shared state (one per `create_app`)."""

from __future__ import annotations

import asyncio
import dataclasses
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .config import Config
from .metrics import Metrics

if TYPE_CHECKING:
    from .data import Catalog
    from .storage import Storage
    from .stream import StreamSession


@dataclasses.dataclass
class AppState:
    config: Config
    metrics: Metrics
    executor: ThreadPoolExecutor
    catalog: Catalog | None = None
    storage: Storage | None = None
    persisted: bool = False
    load_error: str | None = None
    shutting_down: bool = False
    loaded: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    streams: weakref.WeakSet[StreamSession] = dataclasses.field(default_factory=weakref.WeakSet)
    tasks: list[asyncio.Task[Any]] = dataclasses.field(default_factory=list)
    live: Any = None  # the live ingest (live.LiveIngest) when --live is given


STATE: web.AppKey[AppState] = web.AppKey("mbo_state", AppState)
