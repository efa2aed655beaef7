"""The pure-Python reference model alone: the spec's rules, the file facts, the builder."""

from __future__ import annotations

import datetime as dt

import pytest

from dbn_builder import build_dbn, decode_records, pack_record, records_body_offset
from reference_book import (
    ANOMALY_NAMES,
    F_LAST,
    F_MAYBE_BAD_BOOK,
    F_SNAPSHOT,
    F_TOB,
    UNDEF_PRICE,
    Rec,
    RefMarket,
    ref_read_bbo,
    ref_read_depth,
)

KEY = (7, 1)


def rec(action, side="B", price=100, size=1, order_id=1, flags=F_LAST, iid=7, pid=1, ts=0):
    return Rec(ts, ts, iid, pid, order_id, price, size, flags, action, side)


def run(*records):
    market = RefMarket()
    for r in records:
        market.apply(r)
    for book in market.books.values():
        book.check_invariants()
    return market


# ---- the rules, one by one ---------------------------------------------------------------------


def test_add_appends_fifo_and_sizes_sum():
    m = run(
        rec("A", order_id=1, size=2), rec("A", order_id=2, size=3), rec("A", order_id=3, price=99)
    )
    assert m.orders(KEY, "B", 100) == [(1, 2), (2, 3)]
    assert m.levels(KEY, "B") == [(100, 5, 2), (99, 1, 1)]
    assert m.levels(KEY, "bid", 1) == [(100, 5, 2)]
    assert m.bbo(KEY) == (100, 5, 2, None, 0, 0)
    assert m.book(KEY).order(2) == ("B", 100, 3, 1)


def test_add_size_zero_rests_nothing_but_creates_book():
    m = run(rec("A", size=0))
    assert m.levels(KEY, "B") == [] and m.book(KEY).order_count == 0


def test_book_created_by_any_action():
    m = run(rec("T", side="N"), rec("Z", iid=8))
    assert m.sorted_keys() == [(7, 1), (8, 1)]
    assert m.anomalies((8, 1))["unknown_action"] == 1


def test_add_duplicate_removes_then_appends_at_back_either_side():
    m = run(
        rec("A", order_id=1),
        rec("A", order_id=2),
        rec("A", order_id=1, side="A", price=101, size=4),
    )
    assert m.anomalies(KEY)["add_duplicate"] == 1
    assert m.orders(KEY, "B", 100) == [(2, 1)]
    assert m.orders(KEY, "A", 101) == [(1, 4)]
    m = run(rec("A", order_id=1), rec("A", order_id=2), rec("A", order_id=1))
    assert m.orders(KEY, "B", 100) == [(2, 1), (1, 1)]
    m = run(rec("A", order_id=1), rec("A", order_id=1, size=0))  # duplicate with size 0: removed
    assert m.anomalies(KEY)["add_duplicate"] == 1 and m.levels(KEY, "B") == []


def test_tob_add_replaces_side_with_one_orderless_level():
    m = run(
        rec("A", order_id=1),
        rec("A", order_id=2, side="A", price=101),
        rec("A", order_id=0, price=98, size=7, flags=F_LAST | F_TOB),
    )
    assert m.levels(KEY, "B") == [(98, 7, 0)]
    assert m.orders(KEY, "B", 98) == [] and m.book(KEY).order(1) is None
    assert m.levels(KEY, "A") == [(101, 1, 1)]
    assert m.bbo(KEY) == (98, 7, 0, 101, 1, 1)
    # TOB with undefined price or size 0 empties the side; no duplicate check for TOB adds
    m2 = run(rec("A", order_id=1), rec("A", order_id=1, price=UNDEF_PRICE, size=5, flags=F_TOB))
    assert m2.levels(KEY, "B") == [] and m2.anomalies(KEY)["add_duplicate"] == 0
    m3 = run(rec("A", order_id=1), rec("A", order_id=1, price=100, size=0, flags=F_TOB))
    assert m3.levels(KEY, "B") == []


def test_tob_level_and_later_orders_share_a_level():
    # Not spelled out by the spec: the model merges a TOB level with orders at its price.
    m = run(
        rec("A", order_id=0, size=7, flags=F_TOB),
        rec("A", order_id=5, size=2),
        rec("A", order_id=6, price=99, size=1),
    )
    assert m.levels(KEY, "B") == [(100, 9, 1), (99, 1, 1)]
    m.apply(rec("C", order_id=5, size=2))
    assert m.levels(KEY, "B") == [(100, 7, 0), (99, 1, 1)]


def test_cancel_rules():
    m = run(
        rec("A", order_id=1, size=5),
        rec("A", order_id=2, size=1),
        rec("C", order_id=1, size=2, side="A", price=555),
    )  # record side/price ignored
    assert m.orders(KEY, "B", 100) == [(1, 3), (2, 1)]
    m.apply(rec("C", order_id=1, size=3))
    assert m.orders(KEY, "B", 100) == [(2, 1)]
    m.apply(rec("C", order_id=2, size=9))
    assert m.levels(KEY, "B") == [] and m.anomalies(KEY)["cancel_oversize"] == 1
    m.apply(rec("C", order_id=2, size=1))
    assert m.anomalies(KEY)["cancel_unknown"] == 1


def test_modify_rules():
    m = run(rec("A", order_id=1, size=5), rec("A", order_id=2, size=1))
    m.apply(rec("M", order_id=1, size=4))  # smaller: keeps position
    assert m.orders(KEY, "B", 100) == [(1, 4), (2, 1)]
    m.apply(rec("M", order_id=1, size=4))  # equal: keeps position
    assert m.orders(KEY, "B", 100) == [(1, 4), (2, 1)]
    m.apply(rec("M", order_id=1, size=6))  # larger: back of the level
    assert m.orders(KEY, "B", 100) == [(2, 1), (1, 6)]
    m.apply(rec("M", order_id=2, price=99, size=1))  # new price: back of the new level
    assert m.levels(KEY, "B") == [(100, 6, 1), (99, 1, 1)]
    m.apply(rec("M", order_id=2, side="A", price=101, size=3))
    assert m.anomalies(KEY)["modify_side_change"] == 1
    assert m.levels(KEY, "A") == [(101, 3, 1)]
    m.apply(rec("M", order_id=2, side="A", size=0))
    assert m.anomalies(KEY)["modify_to_zero"] == 1 and m.levels(KEY, "A") == []
    m.apply(rec("M", order_id=3, side="A", size=0))
    m.apply(rec("M", order_id=4, side="A", price=102, size=2))
    assert m.anomalies(KEY)["modify_unknown_as_add"] == 2
    assert m.levels(KEY, "A") == [(102, 2, 1)]


def test_side_n_book_actions_do_nothing_else():
    m = run(
        rec("A", order_id=1),
        rec("A", side="N", order_id=2),
        rec("C", side="N", order_id=1),
        rec("M", side="X", order_id=1, size=9),
        rec("T", side="N"),
        rec("F", side="N"),
    )
    assert m.anomalies(KEY)["side_n_book_action"] == 3
    assert m.orders(KEY, "B", 100) == [(1, 1)]


def test_trade_fill_none_never_change_the_book():
    m = run(
        rec("A", order_id=1),
        rec("T", order_id=1, size=1),
        rec("F", order_id=1, size=1),
        rec("F", order_id=99),
        rec("N"),
        rec("T", order_id=99),
    )
    assert m.orders(KEY, "B", 100) == [(1, 1)]
    assert m.anomalies(KEY)["fill_unknown"] == 1


def test_clear_keeps_counters_resets_maybe_bad():
    m = run(
        rec("A", order_id=1), rec("C", order_id=9), rec("A", order_id=2, flags=F_MAYBE_BAD_BOOK)
    )
    book = m.book(KEY)
    assert book.maybe_bad and not book.consistent
    m.apply(rec("R", side="N"))
    assert not book.maybe_bad and book.consistent and book.order_count == 0
    assert book.levels("B") == [] and book.anomalies["cancel_unknown"] == 1
    m.apply(rec("R", side="N", flags=F_MAYBE_BAD_BOOK))  # the flag is applied after the clear
    assert book.maybe_bad


def test_unknown_action_and_anomaly_names():
    m = run(rec("X"), rec("\x00"))
    assert list(m.anomalies(KEY)) == list(ANOMALY_NAMES)
    assert m.anomalies(KEY)["unknown_action"] == 2


def test_crossed_includes_locked():
    m = run(rec("A", order_id=1, price=100), rec("A", order_id=2, side="A", price=100))
    assert m.crossed(KEY) and not m.book(KEY).crossed_with(strict=True)
    m.apply(rec("M", order_id=2, side="A", price=101))
    assert not m.crossed(KEY)
    m.apply(rec("M", order_id=2, side="A", price=99))
    assert m.crossed(KEY) and m.book(KEY).crossed_with(strict=True)


def test_books_are_per_instrument_and_publisher_and_consolidated():
    m = run(
        rec("A", order_id=1, size=2, pid=1),
        rec("A", order_id=1, size=3, pid=2),
        rec("A", order_id=2, price=99, pid=3),
        rec("A", order_id=3, side="A", price=105, pid=3),
        rec("A", order_id=1, price=150, iid=8),
    )
    assert m.anomalies((7, 2))["add_duplicate"] == 0
    assert m.consolidated_bbo(7) == (100, 5, 2, 105, 1, 1)
    assert m.consolidated_bbo(9) == (None, 0, 0, None, 0, 0)


def test_ref_read_bbo_and_depth_rows():
    records = [
        rec("A", order_id=1, flags=0),
        rec("A", order_id=2, side="A", price=101),
        rec("T", side="N", iid=8),
        rec("A", order_id=3, price=99, iid=8, flags=0),
    ]
    cols = ref_read_bbo(records)
    assert cols["index"].tolist() == [1, 2]
    assert cols["bid_px"].tolist() == [100, UNDEF_PRICE]
    assert cols["ask_ct"].tolist() == [1, 0]
    assert ref_read_bbo(records, instrument_id=8)["index"].tolist() == [2]
    assert len(ref_read_bbo(records, publisher_id=2)["index"]) == 0
    depth = ref_read_depth(records, 2)
    assert depth["bid_px"].tolist() == [[100, UNDEF_PRICE], [UNDEF_PRICE, UNDEF_PRICE]]
    assert depth["ask_sz"].shape == (2, 2)


# ---- the builder ----------------------------------------------------------------------------


def test_builder_repacks_the_real_files_exactly(clx5_path, clx5_records, esh4_path, esh4_records):
    import zstandard

    raw = clx5_path.read_bytes()
    assert b"".join(map(pack_record, clx5_records)) == raw[records_body_offset(raw) :]
    raw = zstandard.ZstdDecompressor().stream_reader(esh4_path.read_bytes()).read()
    assert raw[:4] == b"DBN\x01"
    assert b"".join(map(pack_record, esh4_records)) == raw[records_body_offset(raw) :]


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize("ts_out", [False, True])
@pytest.mark.parametrize("zstd", [False, True])
def test_builder_round_trips(version, ts_out, zstd):
    """databento_dbn's decoder reads back what the builder wrote."""
    records = [
        rec("A", order_id=2**64 - 1, price=-5, size=2**32 - 1, flags=0xFF),
        rec("R", side="N", ts=2**64 - 1),
        rec("N", side="A", iid=2**32 - 1, pid=2**16 - 1),
    ]
    data = build_dbn(records, version=version, ts_out=ts_out, zstd=zstd)
    assert decode_records(data) == records


def test_builder_writes_any_action_and_side_byte():
    """Unknown action/side bytes land in their fields (older databento_dbn cannot decode them,
    so this reads the packed bytes directly)."""
    data = pack_record(rec("X", side="\xff", order_id=7))
    assert len(data) == 56
    assert data[38:40] == b"X\xff"
    assert data[16:24] == (7).to_bytes(8, "little")


# ---- facts of the sample files ------------------------------------------------------------------


def boundary_stats(records):
    """(F_LAST count, trades at F_LAST, crossed (>=), crossed strictly (>), crossed ts_recv)."""
    market = RefMarket()
    n_last = trades = crossed = strict = 0
    crossed_ts = []
    for r in records:
        book = market.apply(r)
        if r.flags & F_LAST:
            n_last += 1
            trades += r.action == "T"
            if book.crossed_with(strict=False):
                crossed += 1
                crossed_ts.append(r.ts_recv)
            strict += book.crossed_with(strict=True)
    return market, n_last, trades, crossed, strict, crossed_ts


def test_clx5_facts(clx5_records):
    assert len(clx5_records) == 38_212
    market, n_last, trades, crossed, strict, crossed_ts = boundary_stats(clx5_records)
    assert n_last == 32_053
    assert trades == 22
    assert crossed == 172
    # No boundary of this file is locked (bid == ask): >= and > give the same count.
    assert strict == 172
    utc = [dt.datetime.fromtimestamp(t / 1e9, dt.timezone.utc) for t in crossed_ts]
    assert all(t.strftime("%H:%M") >= "21:47" and t.strftime("%H:%M") < "22:00" for t in utc)
    assert market.sorted_keys() == [(432669, 1)]
    anomalies = market.anomalies((432669, 1))
    assert anomalies["cancel_unknown"] == 1_224
    assert anomalies["modify_unknown_as_add"] == 216


def test_esh4_facts(esh4_records):
    assert len(esh4_records) == 68_792
    market, n_last, _trades, crossed, strict, _ = boundary_stats(esh4_records)
    assert n_last == 47_022
    assert crossed == 891
    assert strict == 891  # again no locked boundary
    snapshot = [i for i, r in enumerate(esh4_records) if r.flags & F_SNAPSHOT]
    assert len(snapshot) == 8_725
    assert snapshot == list(range(8_725))  # a leading, contiguous snapshot
    assert esh4_records[0].action != "R"  # ... with no leading clear
    assert all(r.action == "A" for r in esh4_records[:8_725])
    assert not esh4_records[8_724].flags & F_LAST  # ... and no F_LAST on its last record
    assert market.sorted_keys() == [(17077, 1)]


def test_invariants_at_every_boundary(real_records):
    """At every F_LAST: the best levels have size > 0, size = sum of the orders, count = orders;
    the full structure is checked at every boundary of small books and periodically otherwise."""
    market = RefMarket()
    boundaries = 0
    for r in real_records:
        book = market.apply(r)
        if not r.flags & F_LAST:
            continue
        boundaries += 1
        for side in ("B", "A"):
            best = book.best(side)
            if best is None:
                continue
            px, size, count = best
            queue = book.orders(side, px)
            assert size > 0 and all(s > 0 for _, s in queue)
            assert count == len(queue)
            tob = book.tob[side]
            assert size == sum(s for _, s in queue) + (tob[1] if tob and tob[0] == px else 0)
        if book.order_count < 500 or boundaries % 2_000 == 0:
            book.check_invariants()
    for book in market.books.values():
        book.check_invariants()
        for side in ("B", "A"):
            for px, size, count in book.levels(side):
                queue = book.orders(side, px)
                assert size == sum(s for _, s in queue) and count == len(queue) > 0


def test_ref_read_bbo_matches_boundaries(real_records):
    cols = ref_read_bbo(real_records)
    n_last = sum(1 for r in real_records if r.flags & F_LAST)
    assert all(len(c) == n_last for c in cols.values())
    both = (cols["bid_px"] != UNDEF_PRICE) & (cols["ask_px"] != UNDEF_PRICE)
    crossed = int((both & (cols["bid_px"] >= cols["ask_px"])).sum())
    assert crossed == {38_212: 172, 68_792: 891}[len(real_records)]
    empty_bid = cols["bid_px"] == UNDEF_PRICE
    assert (cols["bid_sz"][empty_bid] == 0).all() and (cols["bid_ct"][empty_bid] == 0).all()
    assert (cols["bid_sz"][~empty_bid] > 0).all()
