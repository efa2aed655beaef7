"""Indicative uncross (`Book.indicative_uncross`) against a pure-Python brute force: every level
price tried, the rules applied literally (max volume, min |imbalance|, nearest the reference -
default the mid of best bid and ask - then the lower price).

Random books are built from DBN bytes through `mbo_fast.Market` and checked against the literal
brute force (and its vectorised twin); on the real files every crossed F_LAST boundary is reached
with `mbo_fast.Replay` and checked against the vectorised one (books there have ~1,500 levels).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import require_core
from dbn_builder import build_dbn
from reference_book import F_LAST, F_TOB, UNDEF_PRICE, Rec

mbo_fast = require_core()

TICK = 250_000_000
BASE = 60_000_000_000
Levels = list[tuple[int, int, int]]


def brute_force(bids: Levels, asks: Levels, reference: int | None) -> tuple[int, ...] | None:
    """(price, volume, bid_volume, ask_volume, imbalance) by trying every level price."""
    if not bids or not asks:
        return None
    # Distances doubled: the mid needs no rounding.
    ref2 = 2 * reference if reference is not None else bids[0][0] + asks[0][0]
    best = None
    for p in sorted({px for px, _, _ in bids} | {px for px, _, _ in asks}):
        bv = sum(sz for px, sz, _ in bids if px >= p)
        av = sum(sz for px, sz, _ in asks if px <= p)
        vol = min(bv, av)
        if vol == 0:
            continue
        key = (-vol, abs(bv - av), abs(2 * p - ref2), p)
        if best is None or key < best[0]:
            best = (key, (p, vol, bv, av, bv - av))
    return None if best is None else best[1]


def brute_force_np(bids: Levels, asks: Levels, reference: int | None) -> tuple[int, ...] | None:
    """The same exhaustive search, vectorised: every level price at once, cumulative sizes by
    binary search over each side's sorted prices (deep real books have ~1,500 levels)."""
    if not bids or not asks:
        return None
    ref2 = 2 * reference if reference is not None else bids[0][0] + asks[0][0]
    bid_px = np.array([p for p, _, _ in reversed(bids)], dtype=np.int64)  # ascending
    bid_cum = np.concatenate(([0], np.cumsum([s for _, s, _ in reversed(bids)], dtype=np.int64)))
    ask_px = np.array([p for p, _, _ in asks], dtype=np.int64)  # ascending
    ask_cum = np.concatenate(([0], np.cumsum([s for _, s, _ in asks], dtype=np.int64)))
    prices = np.union1d(bid_px, ask_px)
    bv = bid_cum[-1] - bid_cum[np.searchsorted(bid_px, prices, side="left")]
    av = ask_cum[np.searchsorted(ask_px, prices, side="right")]
    vol = np.minimum(bv, av)
    ok = vol > 0
    if not ok.any():
        return None
    prices, bv, av, vol = prices[ok], bv[ok], av[ok], vol[ok]
    dist = np.abs(2 * prices - ref2)
    i = int(np.lexsort((prices, dist, np.abs(bv - av), -vol))[0])
    return (int(prices[i]), int(vol[i]), int(bv[i]), int(av[i]), int(bv[i] - av[i]))


def as_tuple(u: mbo_fast.Uncross | None) -> tuple[int, ...] | None:
    if u is None:
        return None
    assert u.volume == min(u.bid_volume, u.ask_volume) > 0
    assert u.imbalance == u.bid_volume - u.ask_volume
    return (u.price, u.volume, u.bid_volume, u.ask_volume, u.imbalance)


def check(
    book: mbo_fast.Book, reference: int | None, *, vectorised: bool = False
) -> tuple[int, ...] | None:
    got = as_tuple(book.indicative_uncross(reference))
    bids, asks = book.levels("B"), book.levels("A")
    want = (brute_force_np if vectorised else brute_force)(bids, asks, reference)
    assert got == want, (reference, bids, asks)
    if not vectorised:
        assert brute_force_np(bids, asks, reference) == want
    assert (got is not None) == book.crossed
    return got


def rec(action: str, side: str, order_id: int, price: int, size: int, flags: int = F_LAST) -> Rec:
    return Rec(0, 0, 7, 1, order_id, price, size, flags, action, side)


def market_of(records: list[Rec]) -> mbo_fast.Market:
    market = mbo_fast.Market()
    market.apply(build_dbn(records))
    return market


# ---- hand-computed ------------------------------------------------------------------------------


def px(k: int) -> int:
    return BASE + k * TICK


def test_simple_cross_and_repr():
    orders = [("B", 3, 5), ("B", 1, 10), ("B", -1, 7), ("A", 0, 4), ("A", 2, 6), ("A", 4, 3)]
    recs = [rec("A", s, i + 1, px(k), n) for i, (s, k, n) in enumerate(orders)]
    book = market_of(recs).book(7, 1)
    u = book.indicative_uncross()
    assert isinstance(u, mbo_fast.Uncross)
    # 5 lots at ticks 2 and 3 (|imbalance| 5 both); the mid (tick 1.5) is nearer tick 2.
    assert as_tuple(u) == (px(2), 5, 5, 10, -5)
    assert as_tuple(book.indicative_uncross(reference=px(3))) == (px(3), 5, 5, 10, -5)
    assert repr(u) == f"Uncross(price={px(2)}, volume=5, bid_volume=5, ask_volume=10, imbalance=-5)"
    assert u == book.indicative_uncross(None)
    with pytest.raises(AttributeError):
        u.price = 0  # type: ignore[misc]


def test_not_crossed_is_none():
    market = market_of([rec("A", "B", 1, px(0), 5), rec("A", "A", 2, px(1), 5)])
    assert market.book(7, 1).indicative_uncross() is None
    market.apply(build_dbn([rec("A", "B", 3, px(1), 2)]))  # now locked
    assert as_tuple(market.book(7, 1).indicative_uncross()) == (px(1), 2, 2, 5, -3)


def test_top_of_book_levels_count():
    recs = [rec("A", "B", 0, px(1), 20, F_LAST | F_TOB), rec("A", "A", 0, px(0), 7, F_LAST | F_TOB)]
    book = market_of(recs).book(7, 1)
    assert book.levels("B") == [(px(1), 20, 0)]
    assert as_tuple(book.indicative_uncross()) == (px(0), 7, 20, 7, 13)


# ---- random books -------------------------------------------------------------------------------

order_st = st.tuples(
    st.sampled_from("BA"), st.integers(0, 7), st.integers(1, 50), st.booleans(), st.booleans()
)


@given(
    orders=st.lists(order_st, max_size=25),
    tob=st.lists(st.tuples(st.sampled_from("BA"), st.integers(0, 7), st.integers(0, 30))),
    reference=st.one_of(st.none(), st.integers(-3, 10).map(px), st.integers(0, 10**12)),
)
def test_random_books_equal_brute_force(orders, tob, reference):
    """Adds, some cancelled (partly or fully); optional F_TOB sides (size 0 = empty side)."""
    recs = []
    for i, (side, k, size, cancel, partial) in enumerate(orders):
        recs.append(rec("A", side, i + 1, px(k), size))
        if cancel:
            recs.append(rec("C", side, i + 1, px(k), size // 2 if partial else size))
    for side, k, size in tob[:2]:
        price = px(k) if size else UNDEF_PRICE
        recs.append(rec("A", side, 0, price, size, F_LAST | F_TOB))
    if recs:  # about half of these books are crossed
        check(market_of(recs).book(7, 1), reference)


# ---- real files ---------------------------------------------------------------------------------

CROSSED = {"CLX5_mbo.dbn": 172, "esh4-glbx-mdp3-20231225.mbo.dbn.zst": 891}


def test_every_crossed_boundary_of_the_real_files(real_path):
    cols = mbo_fast.read_bbo(real_path)
    both = (cols.bid_px != UNDEF_PRICE) & (cols.ask_px != UNDEF_PRICE)
    rows = np.flatnonzero(both & (cols.bid_px >= cols.ask_px))
    assert len(rows) == CROSSED[real_path.name]
    replay = mbo_fast.Replay(real_path)
    volumes = []
    for row in rows.tolist():
        replay.seek(index=int(cols.index[row]))
        book = replay.book(int(cols.instrument_id[row]), int(cols.publisher_id[row]))
        got = check(book, None, vectorised=True)
        assert got is not None and got[1] > 0
        assert int(cols.ask_px[row]) <= got[0] <= int(cols.bid_px[row])
        volumes.append(got[1])
        # A reference at the best ask and one far above: still the brute force.
        check(book, int(cols.ask_px[row]), vectorised=True)
        check(book, int(cols.bid_px[row]) + 1000 * TICK, vectorised=True)
    assert min(volumes) > 0
