"""Backtest (order injection against history): hand-built scenarios with known answers, and an
invariant run over both real files."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import require_core
from dbn_builder import build_dbn
from reference_book import Rec

mbo_fast = require_core()

IID, PID = 7, 1
PX = 100_000_000_000  # 100.00
TICK = 10_000_000


def px(ticks: int) -> int:
    return PX + ticks * TICK


class Tape:
    """Records with ts_recv 10, 20, 30, ...; `last` marks the end of an event (F_LAST)."""

    def __init__(self) -> None:
        self.recs: list[Rec] = []

    def add(
        self, action: str, side: str, oid: int, price: int, size: int, last: bool = True
    ) -> int:
        ts = 10 * (len(self.recs) + 1)
        flags = 0x80 if last else 0
        self.recs.append(Rec(ts, ts, IID, PID, oid, price, size, flags, action, side))
        return len(self.recs) - 1

    def sell(self, price: int, size: int, fills: list[tuple[int, int]]) -> int:
        """A sell-aggressor trade and its F records (no F_LAST); returns the T's index."""
        index = self.add("T", "A", 0, price, size, last=False)
        for oid, sz in fills:
            self.add("F", "B", oid, price, sz, last=False)
        return index

    def backtest(self, latency_ns: int = 0) -> mbo_fast.Backtest:
        return mbo_fast.Backtest(build_dbn(self.recs), latency_ns=latency_ns)


def opening() -> Tape:
    """Bids at 100.00: id 1 (3 lots) then id 2 (2 lots); an ask of 5 at 100.02."""
    tape = Tape()
    tape.add("A", "B", 1, PX, 3)
    tape.add("A", "B", 2, PX, 2)
    tape.add("A", "A", 9, px(2), 5)
    return tape


def fill_sizes(bt: mbo_fast.Backtest) -> list[tuple[int, str]]:
    return [(f.size, f.kind) for f in bt.fills()]


def test_ahead_volume_consumed_by_fills_then_we_fill() -> None:
    tape = opening()
    tape.sell(PX, 4, [(1, 3), (2, 1)])
    tape.add("C", "B", 1, PX, 3, last=False)
    first_done = tape.add("C", "B", 2, PX, 1)
    second = tape.sell(PX, 3, [(2, 1), (5, 2)])  # 1 for id 2, then 2 for us
    tape.add("C", "B", 2, PX, 1)
    third = tape.sell(PX, 5, [(6, 5)])
    bt = tape.backtest()
    bt.run(until_index=2)
    oid = bt.place(IID, PID, "B", PX, 4)
    assert bt.queue_position(oid) == (2, 5)
    assert bt.ahead(oid) == [(1, 3), (2, 2)]
    bt.run(until_index=first_done)
    assert bt.fills() == [] and bt.queue_position(oid) == (1, 1)
    bt.run()
    fills = bt.fills()
    assert [(f.record_index, f.size, f.kind, f.price) for f in fills] == [
        (second, 2, "queue", PX),
        (third, 2, "queue", PX),
    ]
    assert (fills[0].orders_ahead_at_entry, fills[0].volume_ahead_at_entry) == (2, 5)
    assert fills[0].ts == tape.recs[second].ts_recv
    state = bt.order(oid)
    assert (state.status, state.filled, state.remaining) == ("filled", 4, 0)
    assert bt.queue_position(oid) is None


def test_ahead_volume_consumed_by_cancels() -> None:
    tape = opening()
    tape.add("C", "B", 1, PX, 3)  # id 1 gone
    tape.add("C", "B", 2, PX, 1)  # id 2 down to 1 (keeps its place)
    tape.add("A", "B", 3, PX, 10)  # behind us
    trade = tape.add("T", "A", 0, PX, 3)  # 1 for id 2, 2 for us
    bt = tape.backtest()
    oid = bt.place(IID, PID, "B", PX, 5, at_index=2)
    bt.run(until_index=4)
    assert bt.queue_position(oid) == (1, 1)
    assert bt.ahead(oid) == [(2, 1)]
    bt.run()
    assert [(f.record_index, f.size) for f in bt.fills()] == [(trade, 2)]
    assert bt.order(oid).remaining == 3


def test_an_order_ahead_that_modifies_up_moves_behind_us() -> None:
    tape = opening()
    tape.add("M", "B", 1, PX, 4)  # more size: loses priority, now behind us
    tape.add("T", "A", 0, PX, 3)  # 2 for id 2, 1 for us
    bt = tape.backtest()
    oid = bt.place(IID, PID, "B", PX, 5, at_index=2)
    bt.run(until_index=3)
    assert bt.queue_position(oid) == (1, 2)
    assert bt.orders_at(IID, PID, "B", PX) == [(2, 2), (1, 4)]
    bt.run()
    assert fill_sizes(bt) == [(1, "queue")]


def test_trade_through_fills_the_whole_order_at_its_price() -> None:
    tape = opening()
    tape.add("T", "B", 0, px(2), 5)  # buy aggressor: never fills a bid
    tape.add("T", "A", 0, px(-1), 1)  # one lot sold below our bid
    bt = tape.backtest()
    oid = bt.place(IID, PID, "B", PX, 7, at_index=2)
    bt.run()
    assert fill_sizes(bt) == [(7, "through")]
    assert bt.fills()[0].price == PX
    assert bt.order(oid).status == "filled"


def test_partial_fills_accumulate() -> None:
    tape = Tape()
    for _ in range(3):
        tape.add("T", "A", 0, PX, 2)
    bt = tape.backtest()
    oid = bt.place(IID, PID, "B", PX, 5)  # empty level: nothing ahead
    bt.run(until_index=0)
    assert bt.order(oid)[6:9] == (2, 3, "open")
    bt.run()
    assert fill_sizes(bt) == [(2, "queue"), (2, "queue"), (1, "queue")]
    assert bt.order(oid).status == "filled"
    cols = bt.fill_columns()
    assert cols["size"].tolist() == [2, 2, 1] and cols["kind"].tolist() == ["queue"] * 3


def test_latency_an_order_placed_before_a_trade_arriving_after_misses_it() -> None:
    tape = opening()
    first = tape.add("T", "A", 0, px(1), 1)  # ts 40
    second = tape.add("T", "A", 0, px(1), 1)  # ts 50
    data = build_dbn(tape.recs)
    # Requested at ts 35 with 10 ns of latency: arrives at 45, after the first trade.
    bt = mbo_fast.Backtest(data, latency_ns=10)
    oid = bt.place(IID, PID, "B", px(1), 2, at_ts=35)
    assert bt.order(oid).status == "pending"
    bt.run()
    assert [f.record_index for f in bt.fills()] == [second]
    assert bt.order(oid).entry_ts == 45
    # Without latency it is there for both trades.
    bt = mbo_fast.Backtest(data)
    bt.place(IID, PID, "B", px(1), 2, at_ts=35)
    bt.run()
    assert [f.record_index for f in bt.fills()] == [first, second]


def test_cancel_before_fill_and_a_cancel_that_arrives_too_late() -> None:
    tape = opening()
    tape.add("A", "B", 4, px(1), 1)  # index 3, ts 40
    tape.add("T", "A", 0, px(-1), 1)  # index 4, ts 50: trades through 100.00
    data = build_dbn(tape.recs)
    bt = mbo_fast.Backtest(data)
    oid = bt.place(IID, PID, "B", PX, 1, at_index=1)
    assert bt.cancel(oid, at_index=3) is True
    bt.run()
    assert bt.fills() == [] and bt.order(oid).status == "cancelled"
    assert bt.cancel(oid) is False
    bt = mbo_fast.Backtest(data, latency_ns=20)  # the cancel arrives at ts 60
    oid = bt.place(IID, PID, "B", PX, 1, at_index=0)
    bt.cancel(oid, at_index=3)
    bt.run()
    assert bt.order(oid).status == "filled"


def test_marketable_order_walks_the_displayed_book_without_touching_it() -> None:
    tape = opening()
    tape.add("A", "A", 10, px(3), 4)
    bt = tape.backtest()
    bt.run()
    oid = bt.place(IID, PID, "B", px(3), 12)
    assert [(f.price, f.size, f.kind, f.record_index) for f in bt.fills()] == [
        (px(2), 5, "entry", None),
        (px(3), 4, "entry", None),
    ]
    assert bt.order(oid)[6:9] == (9, 3, "open")
    assert bt.levels(IID, PID, "A") == [(px(2), 5, 1), (px(3), 4, 1)]


def test_modify_keeps_or_loses_priority() -> None:
    tape = opening()
    tape.add("A", "B", 3, PX, 1)  # index 3: behind us
    tape.add("T", "A", 0, PX, 6)  # 5 ahead, then 1 for us
    data = build_dbn(tape.recs)
    bt = mbo_fast.Backtest(data)
    oid = bt.place(IID, PID, "B", PX, 4, at_index=2)
    bt.modify(oid, size=2, at_index=3)  # smaller: keeps the place
    bt.run()
    assert fill_sizes(bt) == [(1, "queue")] and bt.order(oid).size == 2
    bt = mbo_fast.Backtest(data)
    oid = bt.place(IID, PID, "B", PX, 4, at_index=2)
    bt.modify(oid, size=5, at_index=3)  # larger: back of the queue, behind id 3
    bt.run(until_index=3)
    assert bt.queue_position(oid) == (3, 6)
    bt.run()
    assert bt.fills() == []


def test_historical_book_is_the_same_with_and_without_simulated_orders() -> None:
    tape = opening()
    tape.sell(PX, 4, [(1, 3), (2, 1)])
    tape.add("C", "B", 1, PX, 3, last=False)
    tape.add("C", "B", 2, PX, 1)
    data = build_dbn(tape.recs)
    market = mbo_fast.Market()
    market.apply(data)
    bt = mbo_fast.Backtest(data, latency_ns=3)
    bt.place(IID, PID, "B", PX, 4, at_index=0)
    bt.place(IID, PID, "A", PX, 4, at_index=2)
    bt.place(IID, PID, "B", px(2), 1, at_index=2)
    bt.run()
    book = market.book(IID, PID)
    for side in ("B", "A"):
        assert bt.levels(IID, PID, side) == book.levels(side)
        for price, _, _ in book.levels(side):
            assert bt.orders_at(IID, PID, side, price) == book.orders(side, price)


def test_callbacks_only_at_boundaries_or_on_a_schedule() -> None:
    tape = opening()
    tape.sell(PX, 1, [(1, 1)])
    tape.add("C", "B", 1, PX, 1)
    bt = tape.backtest()
    seen: list[int] = []
    calls = bt.run(on_boundary=lambda b: seen.append(b.position - 1), book=(IID, PID))
    assert calls == 4 and seen == [0, 1, 2, 5]
    bt = tape.backtest()
    ticks: list[tuple[int, int]] = []
    bt.run(every=25, on_boundary=lambda b: ticks.append((b.now, b.position)))
    assert ticks == [(25, 2), (50, 5)]
    bt = tape.backtest()
    assert bt.run(per_record=True, on_boundary=lambda b: None) == len(tape.recs)
    # A strategy that joins the bid at the first boundary.
    bt = tape.backtest()

    def join(b: mbo_fast.Backtest) -> None:
        if not b.orders():
            b.place(IID, PID, "B", PX, 1)

    bt.run(on_boundary=join)
    assert bt.order(0).volume_ahead_at_entry == 3


def test_bad_arguments() -> None:
    bt = opening().backtest()
    with pytest.raises(ValueError, match="side"):
        bt.place(IID, PID, "X", PX, 1)
    with pytest.raises(ValueError, match="size"):
        bt.place(IID, PID, "B", PX, 0)
    with pytest.raises(ValueError, match="size"):
        bt.place(IID, PID, "B", PX, -3)
    with pytest.raises(ValueError, match="unknown simulated order"):
        bt.cancel(42)
    with pytest.raises(ValueError, match="unknown simulated order"):
        bt.modify(42, size=1)
    with pytest.raises(ValueError, match="at most one"):
        bt.place(IID, PID, "B", PX, 1, at_ts=1, at_index=1)
    bt.run(until_ts=25)
    with pytest.raises(ValueError, match="past"):
        bt.place(IID, PID, "B", PX, 1, at_ts=5)
    with pytest.raises(ValueError, match="latency"):
        mbo_fast.Backtest(build_dbn(opening().recs), latency_ns=-1)
    with pytest.raises(mbo_fast.DecodeError):
        mbo_fast.Backtest(b"not a dbn stream")


# ---- invariant run over the real files ----


def _main_book(bbo: dict[str, np.ndarray]) -> tuple[int, int]:
    keys, counts = np.unique(
        np.stack([bbo["instrument_id"].astype(np.int64), bbo["publisher_id"]]),
        axis=1,
        return_counts=True,
    )
    iid, pid = keys[:, counts.argmax()]
    return int(iid), int(pid)


@pytest.mark.parametrize("latency_ns", [0, 250_000])
def test_invariants_on_real_files(real_path, latency_ns: int) -> None:
    bbo = mbo_fast.read_bbo(real_path)
    key = _main_book(bbo)
    rows = {int(i): r for r, i in enumerate(bbo["index"].tolist())}
    mine = np.nonzero((bbo["instrument_id"] == key[0]) & (bbo["publisher_id"] == key[1]))[0]
    two_sided = mine[(bbo["bid_ct"][mine] > 0) & (bbo["ask_ct"][mine] > 0)]
    plan = set(two_sided[np.linspace(0, len(two_sided) - 1, 10, dtype=int)[:-1]].tolist())
    bt = mbo_fast.Backtest(real_path, latency_ns=latency_ns)
    placed: list[int] = []
    checks = {"bbo": 0, "queues": 0}

    def strategy(b: mbo_fast.Backtest) -> None:
        index = b.position - 1
        row = rows[index]
        got = b.bbo(int(bbo["instrument_id"][row]), int(bbo["publisher_id"][row]))
        # Historical books identical to read_bbo's.
        for name in ("bid_px", "bid_sz", "bid_ct", "ask_px", "ask_sz", "ask_ct"):
            want = int(bbo[name][row])
            value = getattr(got, name)
            assert (mbo_fast.UNDEF_PRICE if value is None else value) == want, (index, name)
        checks["bbo"] += 1
        if row in plan:
            for size in (1, 5, 40):
                placed.append(b.place(*key, "B", got.bid_px, size))
                placed.append(b.place(*key, "A", got.ask_px, size))
        if row % 7 == 0:  # queue checks on a sample of boundaries
            for oid in placed:
                state = b.order(oid)
                position = b.queue_position(oid)
                if position is None:
                    continue
                ahead = b.ahead(oid)
                queue = b.orders_at(*key, state.side, state.price)
                # The orders ahead are exactly the front of the historical queue.
                assert ahead == queue[: len(ahead)]
                assert position[0] == len(ahead) and 0 <= position[1] <= sum(s for _, s in ahead)
                checks["queues"] += 1

    calls = bt.run(on_boundary=strategy)
    assert calls == len(bbo["index"]) == checks["bbo"]
    assert len(placed) == 6 * 9 and checks["queues"] > 0
    by_order: dict[int, int] = {}
    for fill in bt.fills():
        by_order[fill.order_id] = by_order.get(fill.order_id, 0) + fill.size
        state = bt.order(fill.order_id)
        # At or better than the limit.
        assert fill.price <= state.price if state.side == "B" else fill.price >= state.price
        assert fill.size > 0 and fill.volume_ahead_at_entry >= 0
    for state in bt.orders():
        assert by_order.get(state.order_id, 0) == state.filled <= state.size
        assert state.filled + state.remaining == state.size
        assert state.status in ("open", "filled") and state.entry_ts is not None
    assert any(f.kind == "queue" for f in bt.fills())
    # The final books equal a plain Market's.
    market = mbo_fast.Market()
    market.apply(real_path)
    for book in market.books():
        for side in ("B", "A"):
            assert bt.levels(book.instrument_id, book.publisher_id, side) == book.levels(side)


# ---------------------------------------------------------------------------------------------
# Backtest.from_replay: started from a checkpoint over shared records, the same answers


def _observe(bt: mbo_fast.Backtest) -> tuple[object, ...]:
    orders = bt.orders()
    return (
        orders,
        [bt.queue_position(o.order_id) for o in orders],
        [bt.ahead(o.order_id) for o in orders],
        bt.fills(),
    )


_SIM_SESSION: dict[str, bytes] = {}
_REPLAYS: dict[object, mbo_fast.Replay] = {}


def _replay(source: object) -> mbo_fast.Replay:
    key = id(source) if isinstance(source, bytes) else source
    if key not in _REPLAYS:
        _REPLAYS[key] = mbo_fast.Replay(source, checkpoint_every=512)
    return _REPLAYS[key]


def _sim_session() -> bytes:
    if "s" not in _SIM_SESSION:
        data = mbo_fast.simulate(seed=5, records=20_000, instruments=2)
        assert isinstance(data, bytes)
        _SIM_SESSION["s"] = data
    return _SIM_SESSION["s"]


def _placements_match(source: object, draws: list[tuple[int, int, int, int, int]]) -> None:
    """Orders at indexes given by `draws` ((index, book, side, ticks from the touch, size)),
    asked about after each placement and at a later point and the end: a from-zero backtest and
    one from the replay's checkpoint at or before the first order answer alike."""
    replay = _replay(source)
    n = len(replay)
    draws = sorted((index % n, *rest) for index, *rest in draws)
    first = draws[0][0]
    zero = mbo_fast.Backtest(source)
    shared = mbo_fast.Backtest.from_replay(replay, position=first + 1)
    assert shared.position == (first + 1) // 512 * 512 and len(shared) == n
    books = sorted({(b.instrument_id, b.publisher_id) for b in replay.books()}) or [(1, 1)]
    for index, book, side_bit, ticks, size in draws:
        for bt in (zero, shared):
            if bt.position <= index:
                bt.run(until_index=index)
        assert zero.now == shared.now
        iid, pid = books[book % len(books)]
        side = "B" if side_bit else "A"
        bbo = zero.bbo(iid, pid)
        touch = bbo.bid_px if side == "B" else bbo.ask_px
        price = (touch if touch is not None else 64_810_000_000) + ticks * 10_000_000
        a = zero.place(iid, pid, side, price, size, at_index=index)
        b = shared.place(iid, pid, side, price, size, at_index=index)
        assert a == b and _observe(zero) == _observe(shared)
    for target in ((draws[-1][0] + n) // 2, n - 1):
        for bt in (zero, shared):
            if bt.position <= target:
                bt.run(until_index=target)
        assert _observe(zero) == _observe(shared)


_DRAWS = st.lists(
    st.tuples(
        st.integers(0, 10**9),
        st.integers(0, 3),
        st.integers(0, 1),
        st.integers(-2, 2),
        st.integers(1, 30),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=40)
@given(_DRAWS)
def test_from_replay_answers_like_a_backtest_from_zero_simulated(draws: list) -> None:
    _placements_match(_sim_session(), draws)


@settings(max_examples=25)
@given(draws=_DRAWS)
def test_from_replay_answers_like_a_backtest_from_zero_clx5(clx5_path, draws: list) -> None:
    _placements_match(str(clx5_path), draws)


def test_from_replay_bounds() -> None:
    replay = _replay(_sim_session())
    n = len(replay)
    assert mbo_fast.Backtest.from_replay(replay).position == 0
    assert mbo_fast.Backtest.from_replay(replay, position=n).position == n // 512 * 512
    with pytest.raises(ValueError, match="past the end"):
        mbo_fast.Backtest.from_replay(replay, position=n + 1)
    with pytest.raises(ValueError, match="position must be >= 0"):
        mbo_fast.Backtest.from_replay(replay, position=-1)
    bt = mbo_fast.Backtest.from_replay(replay, position=5_000)
    with pytest.raises(ValueError, match="in the past"):
        bt.place(1, 1, "B", 64_810_000_000, 1, at_index=bt.position - 2)
