"""REST endpoints under /api/v1/, health, metrics and the SSE stream's parameter handling.

Request parsing is strict and in one place (`parse_int`, `_parse_ts`, `json_object`): integers
are ASCII digits `[0-9]+`, with a leading `-` only where negative values exist (never `+`, `_`,
spaces, or other scripts' digits, which Python's `int()` would take); an empty value
(`?index=`) is a 400, not "not given"; a JSON body is an object, UTF-8, bounded in size and
nesting (a 400 with a message, never a 500)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

import mbo_fast

from .data import Catalog, Source, book_at
from .logs import request_id
from .state import STATE, AppState, Slots, long_response
from .stream import (
    ClientStuck,
    StreamSession,
    log_stuck,
    make_player,
    send_within,
    serve_stream,
)

_T = TypeVar("_T")
log = logging.getLogger("mbo_fast_server")
routes = web.RouteTableDef()
U32 = 2**32 - 1
U16 = 2**16 - 1
I64 = 2**63 - 1
_DIGITS = re.compile(r"[0-9]+")
_SIGNED = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"[0-9]{1,12}(\.[0-9]{1,20})?")
_MAX_DIGITS = 20  # 2**64 has 20 digits: longer is out of every range (and costly to convert)


class ParamError(Exception):
    """A request the server answers with `status` and `{"error", "parameter"}`; `retry_after`
    (seconds) becomes a Retry-After header (a 503 for a limit that frees up)."""

    def __init__(
        self,
        parameter: str | None,
        message: str,
        status: int = 400,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.status = status
        self.retry_after = retry_after


def take_slot(state: AppState, slots: Slots, what: str) -> None:
    """Reserve one of `slots` now (before the handler's first await) or answer 503; the
    handler releases it in a `finally`."""
    if state.shutting_down:
        raise ParamError(None, "the server is shutting down", status=503, retry_after=1)
    if not slots.take():
        raise ParamError(
            None, f"too many {what} ({slots.limit}): try again later", status=503, retry_after=1
        )


def _check_known(request: web.Request, allowed: set[str]) -> None:
    for name in request.query:
        if name not in allowed:
            raise ParamError(name, f"unknown parameter (expected one of {sorted(allowed)})")
    for name in set(request.query):
        if len(request.query.getall(name)) > 1:
            raise ParamError(name, "given more than once")


def _empty(name: str) -> ParamError:
    return ParamError(name, "empty value: give a value or leave the parameter out")


def is_digits(raw: str) -> bool:
    """`[0-9]+` (ASCII) and nothing else."""
    return _DIGITS.fullmatch(raw) is not None


def parse_int(name: str, raw: str, *, lo: int = 0, hi: int = I64) -> int:
    """The one integer syntax of requests (query parameters, Last-Event-ID, times in ns):
    `[0-9]+`, with a leading `-` only when `lo < 0`; then `lo <= value <= hi`."""
    if raw == "":
        raise _empty(name)
    if (_SIGNED if lo < 0 else _DIGITS).fullmatch(raw) is None:
        if _SIGNED.fullmatch(raw) is not None:  # "-5" where no value is negative
            raise ParamError(name, f"must be in {lo}..{hi}, got {raw[:40]}")
        raise ParamError(name, f"not an integer (digits 0-9 only): {raw[:40]!r}")
    if len(raw.lstrip("-")) > _MAX_DIGITS:
        raise ParamError(name, f"must be in {lo}..{hi}, got {raw[:40]}…")
    value = int(raw, 10)
    if not lo <= value <= hi:
        raise ParamError(name, f"must be in {lo}..{hi}, got {value}")
    return value


def _int(
    request: web.Request,
    name: str,
    *,
    lo: int = 0,
    hi: int = I64,
    default: int | None = None,
    required: bool = False,
) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        if required:
            raise ParamError(name, "required")
        return default
    return parse_int(name, raw, lo=lo, hi=hi)


def _parse_ts(name: str, raw: str) -> int:
    """Nanoseconds since the epoch (`parse_int`'s syntax), or an ISO 8601 time in ASCII (UTC
    unless it names an offset)."""
    if raw == "":
        raise _empty(name)
    if is_digits(raw):
        return parse_int(name, raw, hi=I64)
    try:
        if not raw.isascii():
            raise ValueError(raw)
        when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ParamError(name, f"not a time (ns or ISO 8601): {raw[:40]!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    delta = when - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    value = (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
    if not 0 <= value <= I64:
        raise ParamError(name, f"out of range: {raw[:40]!r}")
    return value


def _ts(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    return None if raw is None else _parse_ts(name, raw)


def parse_decimal(name: str, raw: str) -> float:
    """A non-negative decimal number in ASCII: `[0-9]+` with an optional `.[0-9]+`."""
    if raw == "":
        raise _empty(name)
    if _DECIMAL.fullmatch(raw) is None:
        raise ParamError(name, f"not a decimal number (digits 0-9 and '.'): {raw[:40]!r}")
    return float(raw)


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object (Content-Type checked by guards.json_bodies_only; size
    and time bounded by connections.request_limits, which read it: 413, 408). Not UTF-8, not
    JSON, nested too deeply for the decoder (it raises RecursionError) or not an object: a 400."""
    raw = await request.read()
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ParamError(None, "the body is not UTF-8") from None
    except RecursionError:
        raise ParamError(None, "the body is not a JSON object: it nests too deeply") from None
    except ValueError as exc:
        raise ParamError(None, f"the body is not JSON: {str(exc)[:80]}") from None
    if not isinstance(body, dict):
        raise ParamError(None, "the body must be a JSON object")
    return body


def _bool(request: web.Request, name: str, default: bool = False) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return default
    if raw == "":
        raise _empty(name)
    if raw in ("true", "false"):
        return raw == "true"
    raise ParamError(name, f"expected true or false, got {raw[:40]!r}")


def _state(request: web.Request) -> AppState:
    return request.app[STATE]


def _catalog(request: web.Request) -> Catalog:
    state = _state(request)
    if state.catalog is None:
        raise ParamError(None, "data is still loading", status=503)
    return state.catalog


def _book(request: web.Request) -> tuple[Source, int, int]:
    """(source, instrument_id, publisher_id) named by the request; 404 for unknown ids."""
    cat = _catalog(request)
    iid = _int(request, "instrument_id", hi=U32, required=True)
    pid = _int(request, "publisher_id", hi=U16)
    source = _int(request, "source", hi=I64)
    assert iid is not None
    src, pid2 = cat.find(iid, pid, source)
    return src, iid, pid2


def _source(request: web.Request) -> Source:
    """The source named by `source` (a store id), or the only one served."""
    cat = _catalog(request)
    if "publisher_id" in request.query:
        raise ParamError("publisher_id", "needs instrument_id")
    sid = _int(request, "source", hi=I64)
    if sid is not None:
        return cat.get(sid)
    served = cat.sources
    if not served:
        raise ParamError(None, "no source is stored yet: try again later", status=503)
    if len(served) > 1:
        raise ParamError("source", "several sources are served: name one")
    return served[0]


async def _run(request: web.Request, fn: Callable[[], _T]) -> _T:
    return await asyncio.get_running_loop().run_in_executor(_state(request).executor, fn)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


# --------------------------------------------------------------------------------------------
# health and metrics


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return _json({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    state = _state(request)
    checks = {
        "data": state.catalog is not None,
        "storage": state.store is not None and state.persisted,
    }
    ready = all(checks.values()) and not state.shutting_down
    body: dict[str, Any] = {"ready": ready, "checks": checks}
    if state.load_error:
        body["error"] = state.load_error
    return _json(body, status=200 if ready else 503)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body = _state(request).metrics.render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})


# --------------------------------------------------------------------------------------------
# data


@routes.get("/api/v1/sources")
async def sources(request: web.Request) -> web.Response:
    _check_known(request, set())
    return _json({"sources": [s.summary() for s in _catalog(request).sources]})


@routes.get("/api/v1/instruments")
async def instruments(request: web.Request) -> web.Response:
    _check_known(request, set())
    return _json({"instruments": _catalog(request).instruments()})


@routes.get("/api/v1/book")
async def book(request: web.Request) -> web.Response:
    _check_known(
        request, {"instrument_id", "publisher_id", "source", "index", "ts", "depth", "orders"}
    )
    cfg = _state(request).config
    src, iid, pid = _book(request)
    index = _int(request, "index", hi=max(len(src) - 1, 0))
    ts = _ts(request, "ts")
    if index is not None and ts is not None:
        raise ParamError("ts", "give index or ts, not both")
    depth = _int(request, "depth", lo=1, hi=cfg.max_depth, default=10)
    orders = _bool(request, "orders")
    assert depth is not None
    metrics = _state(request).metrics
    t0 = time.perf_counter()
    body = await _run(
        request,
        lambda: book_at(src, iid, pid, index=index, ts=ts, depth=depth, orders=orders),
    )
    metrics.book_seconds.observe(time.perf_counter() - t0)
    return web.Response(body=body, content_type="application/json")


async def _history(request: web.Request, kind: str) -> web.Response:
    """A page of BBO rows, trades or records, derived from the source's blocks by the core
    (which also writes the items' JSON)."""
    state = _state(request)
    cfg = state.config
    allowed = {"source", "instrument_id", "publisher_id", "start", "end", "after", "limit"}
    _check_known(request, allowed)
    iid: int | None = None
    pid: int | None = None
    if kind != "records" or "instrument_id" in request.query:
        src, iid, pid = _book(request)
    else:
        src = _source(request)
    start, end = _ts(request, "start"), _ts(request, "end")
    if start is not None and end is not None and end < start:
        raise ParamError("end", "end is before start")
    after = _int(request, "after", lo=-1)
    limit = _int(request, "limit", lo=1, hi=cfg.max_page, default=cfg.default_page)
    assert limit is not None
    rec = src.recording
    items, rows, last = await _run(
        request,
        lambda: rec.page(
            kind,  # type: ignore[arg-type]
            iid,
            pid,
            after=None if after is None or after < 0 else after,
            start=start,
            end=end,
            limit=limit,
        ),
    )
    next_after = b"%d" % last if rows == limit and last is not None else b"null"
    body = b'{"source":%d,"items":%b,"limit":%d,"next_after":%b}' % (
        src.id,
        items,
        limit,
        next_after,
    )
    return web.Response(body=body, content_type="application/json")


@routes.get("/api/v1/bbo")
async def bbo(request: web.Request) -> web.Response:
    return await _history(request, "bbo")


@routes.get("/api/v1/trades")
async def trades(request: web.Request) -> web.Response:
    return await _history(request, "trades")


@routes.get("/api/v1/records")
async def records(request: web.Request) -> web.Response:
    return await _history(request, "records")


@routes.get("/api/v1/export")
async def export(request: web.Request) -> web.StreamResponse:
    _check_known(request, {"source", "instrument_id", "publisher_id", "depth"})
    cfg = _state(request).config
    iid: int | None = None
    pid: int | None = None
    if "instrument_id" in request.query:
        src, iid, pid = _book(request)
    else:
        src = _source(request)
    depth = _int(request, "depth", lo=1, hi=min(cfg.max_depth, 100), default=10)
    assert depth is not None
    state = _state(request)
    take_slot(state, state.export_slots, "exports in progress")  # before the first await
    state.metrics.exports.inc()
    try:
        with long_response(state, request):
            return await _stream_export(request, src, depth, iid, pid)
    finally:
        state.metrics.exports.dec()
        state.export_slots.release()


async def _stream_export(
    request: web.Request, src: Source, depth: int, iid: int | None, pid: int | None
) -> web.StreamResponse:
    """The core's resumable export over the source's blocks (`Recording.export_depth`): one
    chunk made at a time on the executor and written within `send_timeout_s`, so an export
    holds about one chunk however big it is and however slowly the client reads; a client that
    takes nothing for that long is dropped."""
    state = _state(request)
    cfg = state.config
    export = await _run(
        request,
        lambda: src.recording.export_depth(depth, iid, pid, chunk_bytes=cfg.export_chunk_bytes),
    )
    first = await _run(request, export.next_chunk)  # a bad source fails before any header
    resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    resp.headers["X-Request-Id"] = request_id.get() or ""
    resp.enable_chunked_encoding()
    try:
        await send_within(request, resp.prepare(request), cfg.send_timeout_s)
        chunk = first
        while chunk:
            await send_within(request, resp.write(chunk), cfg.send_timeout_s)
            chunk = b""  # not held while the next one is made
            chunk = await _run(request, export.next_chunk)
        await send_within(request, resp.write_eof(), cfg.send_timeout_s)
    except ClientStuck:
        log_stuck(state, "export")
    except ConnectionError:  # the client left
        state.metrics.errors.labels("export_disconnect").inc()
    except mbo_fast.MboError:
        # the headers are out: the chunked body ends without its last chunk, which a client
        # sees as an incomplete response; the lines before the corrupt record were sent
        state.metrics.errors.labels("export").inc()
        log.exception("export failed mid-stream", extra={"source": src.id})
        if request.transport is not None:
            request.transport.abort()
    return resp


# --------------------------------------------------------------------------------------------
# SSE playback


@routes.get("/api/v1/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    cfg = state.config
    _check_known(request, {"instrument_id", "publisher_id", "source", "depth", "from", "speed"})
    src, iid, pid = _book(request)
    depth = _int(request, "depth", lo=1, hi=min(cfg.max_depth, 100), default=10)
    assert depth is not None
    raw_speed = request.query.get("speed", "1")
    speed: float | None
    if raw_speed == "max":
        speed = None
    else:
        speed = parse_decimal("speed", raw_speed)
        if not 0.1 <= speed <= cfg.max_speed:
            raise ParamError("speed", f"must be in 0.1..{cfg.max_speed:g} or 'max'")
    n = len(src)
    start_index: int | None = None
    start_ts: int | None = None
    raw_from = request.query.get("from")
    if raw_from is not None:
        value = _parse_ts("from", raw_from)
        if value < 10**15 and is_digits(raw_from):  # a record index (timestamps are ~1.7e18)
            if value >= n:
                raise ParamError("from", f"index must be < {n}")
            start_index = value
        else:
            start_ts = value
    last_raw = request.headers.get("Last-Event-ID")
    last_id: int | None = None
    if last_raw is not None:  # (EventSource sends none before its first id)
        last_id = parse_int("Last-Event-ID", last_raw, lo=-1, hi=n - 1)
    take_slot(state, state.stream_slots, "streams")  # before the first await: see Slots
    try:
        with long_response(state, request):
            return await _serve_playback(
                request, src, iid, pid, depth, speed, last_id, start_ts, start_index
            )
    finally:
        state.stream_slots.release()


async def _serve_playback(
    request: web.Request,
    src: Source,
    iid: int,
    pid: int,
    depth: int,
    speed: float | None,
    last_id: int | None,
    start_ts: int | None,
    start_index: int | None,
) -> web.StreamResponse:
    state = _state(request)
    cfg = state.config

    def open_player() -> tuple[Any, list[tuple[str, int, bytes]]]:
        player = make_player(src, iid, pid, depth)
        first: list[tuple[str, int, bytes]] = []
        if last_id is not None:  # resume: exactly after the last event the client saw
            # the seek completes the book's event: its trades after last_id are still owed
            first.extend(player.seek(index=max(last_id, 0)))
        elif start_ts is not None:
            player.seek(ts=start_ts)
        else:
            player.seek(index=start_index or 0)
        idx, snap = player.snapshot()
        first.append(("snapshot", idx, snap))  # after the gap's trades: the state they led to
        return player, first

    player, first = await _run(request, open_player)
    ts0 = src.ts_range
    session = StreamSession(
        app_state=state,
        player=player,
        speed=speed,
        queue_ticks=cfg.queue_ticks,
        first_ts=ts0[0] if ts0 else 0,
    )
    headers = {"X-Request-Id": request_id.get() or ""}
    return await serve_stream(request, session, first, headers)
