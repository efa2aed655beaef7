"""`run(config)`: serve until SIGTERM/SIGINT, then stop within 2 s: stop accepting, send a final
`shutdown` event to SSE clients, abort the streams and exports still running a moment later
(`app._on_shutdown`: a client that does not read never holds the exit up), flush and close
storage."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from mbo_fast.errors import StoreError

from .app import create_app
from .config import Config, ConfigError, load_config
from .connections import quiet_accept_errors
from .logs import setup_logging
from .state import STATE

log = logging.getLogger("mbo_fast_server")
BACKLOG = 128  # also bounds asyncio's accept burst (see connections.py)


async def serve(config: Config, stop: asyncio.Event | None = None) -> None:
    app = create_app(config)
    runner = web.AppRunner(
        app, handle_signals=False, access_log=None, shutdown_timeout=config.shutdown_timeout_s
    )
    await runner.setup()
    assert runner.server is not None
    loop = asyncio.get_running_loop()
    state = app[STATE]
    quiet_accept_errors(loop, state.metrics)
    guard = state.guard
    guard.fit_to_fd_limit(BACKLOG)
    # the listening socket, each connection admitted by the guard (max_connections); aiohttp's
    # runner still handles every admitted connection and its graceful shutdown
    listener = await loop.create_server(
        guard.protocol_factory(runner.server), config.host, config.port, backlog=BACKLOG
    )
    stop = stop or asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows
            loop.add_signal_handler(sig, stop.set)
    sockets = listener.sockets or ()
    port = sockets[0].getsockname()[1] if sockets else config.port
    host = config.host if ":" not in config.host else f"[{config.host}]"
    url = f"http://{host}:{port}/"
    print(f"mbo-fast server listening on {url} (API docs: {url}docs)", flush=True)
    log.info("listening", extra={"url": url, "max_connections": guard.limit})
    await stop.wait()
    t0 = time.monotonic()
    log.info("stopping")
    listener.close()  # stop accepting; open connections are closed by the runner
    await runner.cleanup()
    log.info("exited", extra={"shutdown_seconds": round(time.monotonic() - t0, 3)})


def run(config: Config) -> int:
    setup_logging(config.log_level, config.log_json)
    try:
        asyncio.run(serve(config))
    except StoreError as exc:  # e.g. a database of an older schema: names the command to run
        print(f"mbo-fast: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the port is taken
        print(
            f"mbo-fast: error: cannot serve on {config.host}:{config.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 2
    return 0


def main(flags: Mapping[str, Any], config_file: str | None = None) -> int:
    """Entry point of `mbo-fast serve`: flags (None = not given) > env > TOML > defaults."""
    try:
        config = load_config(flags, config_file=config_file)
    except ConfigError as exc:
        print(f"mbo-fast: error: {exc}", file=sys.stderr)
        return 2
    return run(config)
