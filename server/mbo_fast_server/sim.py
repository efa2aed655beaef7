"""Simulated limit orders in the historical queues, for the web UI: `POST /api/v1/sim/orders`
places one at a record index, `POST /api/v1/sim/cancel` and `/api/v1/sim/modify` cancel one or
change its price or size at a record index, `GET /api/v1/sim/orders?index=` reports every order
of a source as it stands after that record (status, price, size, queue position, fills),
`DELETE` forgets them.

Backed by `mbo_fast.Backtest` (exact FIFO queue position; README "Backtest: order injection"),
zero latency. A backtest only moves forward: one is kept per source and rebuilt when asked about
an earlier index (or an order placed before its position), over the source's stored blocks
(read on demand through the shared cache) from its checkpoint at or before the earliest order,
not from record 0; the orders are re-placed, and their cancels and modifies re-sent, at their
indexes (in the order they were asked at one index), so the answer depends only on (requests,
index) and equals a from-the-start backtest's.

The work runs on the simulator's own small thread pool, never on the one book queries use, so
rebuilds cannot hold `/api/v1/book` up; at most `MAX_PENDING` computations wait or run at once
(more: 503)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiohttp import web

import mbo_fast

from .data import Source
from .routes import (
    I64,
    U16,
    U32,
    ParamError,
    _book,
    _catalog,
    _check_known,
    _int,
    _json,
    json_object,
)
from .routes import _source as _named_source

_T = TypeVar("_T")
routes = web.RouteTableDef()
MAX_ORDERS = 200
MAX_CHANGES = 2000
MAX_SIZE = 1_000_000
SIM_THREADS = 2  # the simulator's own pool: per-source work is serialised by SimBook.lock
MAX_PENDING = 16  # simulator computations waiting or running at once; more get a 503


@dataclasses.dataclass(frozen=True)
class SimRequest:
    id: int
    instrument_id: int
    publisher_id: int
    side: str
    price: int
    size: int
    index: int
    seq: int  # arrival order among all the source's requests (ties at one index)


@dataclasses.dataclass(frozen=True)
class SimChange:
    """A cancel (price and size None) or a modify of order `order` after record `index`."""

    order: int
    kind: str
    index: int
    price: int | None
    size: int | None
    seq: int


class SimBook:
    """The simulated orders of one source and the backtest that replays them."""

    def __init__(self, src: Source) -> None:
        self.src = src
        self.lock = threading.Lock()
        self.requests: list[SimRequest] = []
        self.changes: list[SimChange] = []
        self.bt: mbo_fast.Backtest | None = None
        self.placed: dict[int, int] = {}  # request id -> backtest order id
        self.sent: set[int] = set()  # seqs of the changes sent to `bt`
        self.next_id = 0
        self.next_seq = 0

    def add(self, iid: int, pid: int, side: str, price: int, size: int, index: int) -> SimRequest:
        with self.lock:
            if len(self.requests) >= MAX_ORDERS:
                raise ParamError(None, f"at most {MAX_ORDERS} simulated orders: DELETE them first")
            req = SimRequest(self.next_id, iid, pid, side, price, size, index, self.next_seq)
            self.next_id += 1
            self.next_seq += 1
            self.requests.append(req)
            return req

    def change(
        self, order: int, kind: str, index: int, price: int | None, size: int | None
    ) -> SimRequest:
        """Ask to cancel or modify `order` after record `index`; its placement request."""
        with self.lock:
            req = next((r for r in self.requests if r.id == order), None)
            if req is None:
                raise ParamError("id", f"no simulated order {order}", status=404)
            if index < req.index:
                raise ParamError("index", f"before the order was placed (index {req.index})")
            if len(self.changes) >= MAX_CHANGES:
                raise ParamError(None, f"at most {MAX_CHANGES} changes: DELETE the orders first")
            self.changes.append(SimChange(order, kind, index, price, size, self.next_seq))
            self.next_seq += 1
            return req

    def clear(self) -> int:
        with self.lock:
            n = len(self.requests)
            self.requests.clear()
            self.changes.clear()
            self.bt = None
            self.placed = {}
            self.sent = set()
            return n

    def state(self, index: int, book: tuple[int, int] | None) -> list[dict[str, Any]]:
        """Every order (of `book`, or all) after record `index`. Blocking: run in an executor."""
        with self.lock:
            # placements and changes in the order they take effect
            due: list[SimRequest | SimChange] = sorted(
                [r for r in self.requests if r.index <= index]
                + [c for c in self.changes if c.index <= index],
                key=lambda e: (e.index, e.seq),
            )
            bt = self.bt

            def done(e: SimRequest | SimChange) -> bool:
                return e.id in self.placed if isinstance(e, SimRequest) else e.seq in self.sent

            late = bt is not None and any(not done(e) and e.index + 1 < bt.position for e in due)
            if bt is None or bt.position > index + 1 or late:
                # from the checkpoint at or before the earliest order: the same answers as a
                # backtest from record 0, for a fraction of the records
                start = min((e.index + 1 for e in due), default=index + 1)
                bt = self.bt = mbo_fast.Backtest.from_recording(self.src.recording, position=start)
                self.placed = {}
                self.sent = set()
            for e in due:
                if done(e):
                    continue
                if bt.position <= e.index:
                    bt.run(until_index=e.index)
                if isinstance(e, SimRequest):
                    self.placed[e.id] = bt.place(
                        e.instrument_id, e.publisher_id, e.side, e.price, e.size, at_index=e.index
                    )
                    continue
                self.sent.add(e.seq)
                target = self.placed[e.order]
                if e.kind == "cancel":
                    bt.cancel(target, at_index=e.index)
                else:
                    bt.modify(target, price=e.price, size=e.size, at_index=e.index)
            if bt.position <= index:
                bt.run(until_index=index)
            fills: dict[int, list[dict[str, Any]]] = {}
            for f in bt.fills():
                fills.setdefault(f.order_id, []).append(
                    {
                        "ts": f.ts,
                        "index": f.record_index,
                        "price": f.price,
                        "size": f.size,
                        "kind": f.kind,
                    }
                )
            out: list[dict[str, Any]] = []
            for r in self.requests:
                if book is not None and (r.instrument_id, r.publisher_id) != book:
                    continue
                doc: dict[str, Any] = dataclasses.asdict(r)
                del doc["seq"]
                doc["entry_ts"] = None
                oid = self.placed.get(r.id) if r.index <= index else None
                if oid is None:
                    doc.update(status="scheduled", filled=0, remaining=r.size, fills=[])
                    doc.update(orders_ahead_at_entry=None, volume_ahead_at_entry=None)
                    doc.update(orders_ahead=None, volume_ahead=None, ahead=[])
                    out.append(doc)
                    continue
                st = bt.order(oid)
                qp = bt.queue_position(oid)
                doc.update(
                    price=st.price,  # after any modify
                    size=st.size,
                    entry_ts=st.entry_ts,
                    status=st.status,
                    filled=st.filled,
                    remaining=st.remaining,
                    orders_ahead_at_entry=st.orders_ahead_at_entry,
                    volume_ahead_at_entry=st.volume_ahead_at_entry,
                    orders_ahead=qp[0] if qp else None,
                    volume_ahead=qp[1] if qp else None,
                    ahead=[oid2 for oid2, _ in bt.ahead(oid)] if qp else [],
                    fills=fills.get(oid, []),
                )
                out.append(doc)
            return out


SIM: web.AppKey[dict[int, SimBook]] = web.AppKey("sim", dict)  # source id -> SimBook


class SimPool:
    """The simulator's threads and its bound on waiting work."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(SIM_THREADS, thread_name_prefix="mbo-sim")
        self.pending = 0

    async def run(self, fn: Callable[[], _T]) -> _T:
        if self.pending >= MAX_PENDING:
            raise ParamError(None, "the order simulator is busy: try again later", status=503)
        self.pending += 1  # reserved before the first await
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, fn)
        finally:
            self.pending -= 1


SIM_POOL: web.AppKey[SimPool] = web.AppKey("sim_pool", SimPool)


def _sim(request: web.Request, src: Source) -> SimBook:
    books: dict[int, SimBook] = request.app[SIM]
    sb = books.get(src.id)
    if sb is None:
        sb = books[src.id] = SimBook(src)
    return sb


def _body_int(
    body: dict[str, Any], name: str, lo: int, hi: int, required: bool = True
) -> int | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ParamError(name, "required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamError(name, f"not an integer: {str(value)[:40]!r}")
    if not lo <= value <= hi:
        raise ParamError(name, f"must be in {lo}..{hi}, got {value}")
    return value


def _source(request: web.Request) -> tuple[Source, tuple[int, int] | None]:
    """The source (and book, when `instrument_id` is given) a request names."""
    if "instrument_id" in request.query:
        src, iid, pid = _book(request)
        return src, (iid, pid)
    return _named_source(request), None


@routes.post("/api/v1/sim/orders")
async def place(request: web.Request) -> web.Response:
    _check_known(request, set())
    body = await json_object(request)
    allowed = {"instrument_id", "publisher_id", "source", "side", "price", "size", "index"}
    for key in body:
        if key not in allowed:
            raise ParamError(key, f"unknown field (expected one of {sorted(allowed)})")
    iid = _body_int(body, "instrument_id", 0, U32)
    pid = _body_int(body, "publisher_id", 0, U16, required=False)
    sid = _body_int(body, "source", 0, I64, required=False)
    assert iid is not None
    src, pid2 = _catalog(request).find(iid, pid, sid)
    side = body.get("side")
    if side not in ("B", "A"):
        raise ParamError("side", "must be 'B' or 'A'")
    price = _body_int(body, "price", 1, I64 - 1)
    size = _body_int(body, "size", 1, MAX_SIZE)
    index = _body_int(body, "index", 0, max(len(src) - 1, 0))
    assert price is not None and size is not None and index is not None
    sb = _sim(request, src)

    def place_and_report() -> tuple[SimRequest, list[dict[str, Any]]]:
        req = sb.add(iid, pid2, side, price, size, index)
        return req, sb.state(index, (iid, pid2))

    req, orders = await request.app[SIM_POOL].run(place_and_report)
    doc = next(o for o in orders if o["id"] == req.id)
    return _json({"source": src.id, "index": index, "order": doc}, status=201)


async def _change(request: web.Request, kind: str) -> web.Response:
    """POST /api/v1/sim/cancel, /api/v1/sim/modify: {id, index, source?, price?, size?}."""
    _check_known(request, set())
    body = await json_object(request)
    allowed = {"id", "index", "source"} | ({"price", "size"} if kind == "modify" else set())
    for key in body:
        if key not in allowed:
            raise ParamError(key, f"unknown field (expected one of {sorted(allowed)})")
    order = _body_int(body, "id", 0, I64)
    sid = _body_int(body, "source", 0, I64, required=False)
    cat = _catalog(request)
    if sid is not None:
        src = cat.get(sid)
    else:
        served = cat.sources
        if len(served) != 1:
            raise ParamError("source", "several sources are served: name one")
        src = served[0]
    index = _body_int(body, "index", 0, max(len(src) - 1, 0))
    price = size = None
    if kind == "modify":
        price = _body_int(body, "price", 1, I64 - 1, required=False)
        size = _body_int(body, "size", 1, MAX_SIZE, required=False)
        if price is None and size is None:
            raise ParamError("price", "give a new price, a new size or both")
    assert order is not None and index is not None
    sb = _sim(request, src)

    def change_and_report() -> dict[str, Any]:
        req = sb.change(order, kind, index, price, size)
        book = (req.instrument_id, req.publisher_id)
        return next(o for o in sb.state(index, book) if o["id"] == order)

    doc = await request.app[SIM_POOL].run(change_and_report)
    return _json({"source": src.id, "index": index, "order": doc})


@routes.post("/api/v1/sim/cancel")
async def cancel(request: web.Request) -> web.Response:
    return await _change(request, "cancel")


@routes.post("/api/v1/sim/modify")
async def modify(request: web.Request) -> web.Response:
    return await _change(request, "modify")


@routes.get("/api/v1/sim/orders")
async def orders(request: web.Request) -> web.Response:
    _check_known(request, {"instrument_id", "publisher_id", "source", "index"})
    src, book = _source(request)
    index = _int(request, "index", hi=max(len(src) - 1, 0), default=max(len(src) - 1, 0))
    assert index is not None
    sb = _sim(request, src)
    items = await request.app[SIM_POOL].run(lambda: sb.state(index, book))
    return _json({"source": src.id, "index": index, "orders": items})


@routes.delete("/api/v1/sim/orders")
async def clear(request: web.Request) -> web.Response:
    _check_known(request, {"source"})
    src, _ = _source(request)
    return _json({"source": src.id, "deleted": _sim(request, src).clear()})


async def _close_pool(app: web.Application) -> None:
    app[SIM_POOL].executor.shutdown(wait=False, cancel_futures=True)


def add_routes(app: web.Application) -> None:
    app[SIM] = {}
    app[SIM_POOL] = SimPool()
    app.on_cleanup.append(_close_pool)
    app.add_routes(routes)
