"""`create_app(config)`: the aiohttp application (routes, middlewares, start-up and shutdown)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from mbo_fast import _core
from mbo_fast.errors import DecodeError, StoreError
from mbo_fast.store import open_store

from . import docs, firstview, guards, heatmap, livebook, sim, ui
from .config import Config
from .connections import LINGER_S, request_limits
from .consolidated import routes as consolidated_routes
from .data import Catalog, LookupFailed, configured_paths, source_of
from .live import routes as live_routes
from .logs import Handler, request_id_middleware
from .metrics import Metrics
from .routes import ParamError, routes
from .state import STATE, AppState

log = logging.getLogger("mbo_fast_server")
# on shutdown, streams and exports get this long to end before their connections are aborted
SHUTDOWN_GRACE_S = 0.25


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


_ERROR_KINDS = {400: "bad_request", 404: "not_found", 503: "unavailable"}  # else http_<status>


@web.middleware
async def errors_and_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    """JSON errors ({"error", "parameter"}) for every failure; request duration by route."""
    metrics = request.app[STATE].metrics
    t0 = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except ParamError as exc:
        status = exc.status
        kind = _ERROR_KINDS.get(status, f"http_{status}")
        metrics.errors.labels(kind).inc()
        headers = {} if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
        return web.json_response(
            {"error": str(exc), "parameter": exc.parameter}, status=status, headers=headers
        )
    except LookupFailed as exc:
        status = exc.status
        metrics.errors.labels("not_found" if status == 404 else "bad_request").inc()
        return web.json_response({"error": str(exc), "parameter": exc.parameter}, status=status)
    except StoreError as exc:  # the database failed: history is unavailable, the rest goes on
        status = 503
        metrics.errors.labels("store").inc()
        log.warning("store unavailable: %s", exc, extra={"route": _route_name(request)})
        return web.json_response(
            {"error": f"the block store is unavailable: {exc}", "parameter": None},
            status=503,
            headers={"Retry-After": "5"},
        )
    except DecodeError as exc:  # a stored block failed its checks: names the source and block
        status = 500
        metrics.errors.labels("corrupt").inc()
        log.error("corrupt stored data: %s", exc, extra={"route": _route_name(request)})
        return web.json_response(
            {"error": f"corrupt stored data: {exc}", "parameter": None}, status=500
        )
    except web.HTTPException as exc:
        status = exc.status
        if status < 400:
            raise
        metrics.errors.labels(f"http_{status}").inc()
        keep = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "x-request-id")}
        return web.json_response(
            {"error": exc.reason, "parameter": None}, status=status, headers=keep
        )
    except (asyncio.CancelledError, ConnectionError):  # the client left
        status = 499
        raise
    except Exception:
        metrics.errors.labels("internal").inc()
        log.exception("unhandled error", extra={"route": _route_name(request)})
        return web.json_response({"error": "internal error", "parameter": None}, status=500)
    finally:
        metrics.http_duration.labels(request.method, _route_name(request), str(status)).observe(
            time.perf_counter() - t0
        )


async def _import(app: web.Application) -> None:
    """Store the configured files (skipped when already stored; the Databento download and the
    default session made first), one at a time on the import thread, adding each to the catalog
    as it completes; ready once all are in."""
    state = app[STATE]
    loop = asyncio.get_running_loop()
    store, catalog = state.store, state.catalog
    assert store is not None and catalog is not None
    try:
        paths = await loop.run_in_executor(
            state.import_executor, configured_paths, state.config, store
        )
        for path in paths:
            t0 = time.perf_counter()
            imported = await loop.run_in_executor(state.import_executor, store.import_file, path)
            state.metrics.storage_seconds.labels("import").observe(imported.seconds)
            state.metrics.storage_rows.labels("import").inc(imported.blocks)
            stored = await loop.run_in_executor(state.executor, store.source, imported.source_id)
            assert stored is not None
            src = source_of(store, stored)
            catalog.add(src)
            state.metrics.sources_loaded.set(len(catalog.by_id))
            if imported.stored:
                state.metrics.records_processed.labels("import").inc(imported.records)
            log.info(
                "source imported" if imported.stored else "source already stored",
                extra={
                    "file": os.path.basename(path),
                    "source": src.id,
                    "records": imported.records,
                    "seconds": round(time.perf_counter() - t0, 3),
                },
            )
        state.persisted = True
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        state.load_error = f"{type(exc).__name__}: {exc}"
        state.metrics.errors.labels("load").inc()
        log.exception("loading failed")
    finally:
        state.loaded.set()


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    cfg = state.config
    log.info("starting", extra={"config": cfg.public()})
    _core.set_block_cache_budget(cfg.cache_mb << 20)  # the first recording fixes it
    loop = asyncio.get_running_loop()
    store = await loop.run_in_executor(state.import_executor, open_store, cfg.db_path)
    state.store = store
    abandoned = await loop.run_in_executor(state.import_executor, store.end_abandoned_live)
    if abandoned:
        log.info("live sessions of a stopped server ended", extra={"sources": abandoned})
    stored = await loop.run_in_executor(state.executor, store.sources)
    catalog = Catalog([source_of(store, s) for s in stored])
    state.catalog = catalog
    state.metrics.sources_loaded.set(len(catalog.by_id))
    state.metrics.rust_timings.recordings = lambda: [s.recording for s in catalog.sources]
    log.info(
        "serving the store",
        extra={"db": store.label, "sources": [s.summary() for s in catalog.sources]},
    )
    state.tasks.append(asyncio.create_task(_import(app)))
    if cfg.live:
        from .live import LiveIngest

        state.live = LiveIngest(state, cfg.live)
        state.live.start()
    yield
    if state.live is not None:
        await state.live.close()
    for task in state.tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    # an import still running stops at its next block (its source stays invisible, resumed by
    # the next start); the store closes once the import thread is done with it
    state.import_executor.shutdown(wait=True, cancel_futures=True)
    store.close()
    state.executor.shutdown(wait=False, cancel_futures=True)
    log.info("stopped")


async def _on_shutdown(app: web.Application) -> None:
    """Tell every SSE client we are going (a `shutdown` event), give streams and exports a
    moment to end, then abort the connections of those still running (a client that does not
    read, an export mid-file): stopping never waits for a client."""
    state = app[STATE]
    state.shutting_down = True
    if state.live is not None:
        state.live.shutdown_clients()
    sessions = list(state.streams)
    for session in sessions:
        await session.close()
    grace = min(SHUTDOWN_GRACE_S, state.config.shutdown_timeout_s)
    deadline = time.monotonic() + grace
    while state.long_responses and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    aborted = 0
    for transport in list(state.long_responses):
        if not transport.is_closing():
            transport.abort()
            aborted += 1
    await asyncio.sleep(0)  # let the aborted handlers see it
    log.info("streams closed", extra={"streams": len(sessions), "aborted": aborted})


def create_app(config: Config | None = None) -> web.Application:
    cfg = config or Config()
    state = AppState(
        config=cfg,
        metrics=Metrics(),
        executor=ThreadPoolExecutor(4, thread_name_prefix="mbo-work"),
    )
    app = web.Application(
        middlewares=[
            request_id_middleware,
            errors_and_metrics,
            *guards.middlewares(cfg),
            request_limits(state.guard, cfg.body_timeout_s, cfg.max_request_bytes),
        ],
        client_max_size=cfg.max_request_bytes,
        handler_args={
            # armed when a connection opens and after each response: bounds the time to send
            # a request's headers and the idle time between requests (see connections.py)
            "keepalive_timeout": cfg.idle_timeout_s,
            # a request whose body was not all read (408, 413) is closed within this
            "lingering_time": LINGER_S,
        },
    )
    guards.install(app)  # Server: mbo-fast
    app[STATE] = state
    app.add_routes(routes)
    app.add_routes(live_routes)
    app.add_routes(consolidated_routes)
    heatmap.add_routes(app)  # binary heatmap rasters for the web UI
    firstview.add_routes(app)  # where the web UI opens a book, and whether it is complete
    livebook.add_routes(app)  # the live books, and one live book now with its L3 queues
    sim.add_routes(app)  # simulated orders (mbo_fast.Backtest) for the web UI's L3 queue
    ui.add_routes(app)  # first: the web UI takes `/` (else docs redirects it to /docs)
    docs.add_routes(app, cfg)
    app.cleanup_ctx.append(_lifecycle)
    app.on_shutdown.append(_on_shutdown)
    return app
