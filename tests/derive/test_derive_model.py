"""`mbo_fast.convert` and `mbo_fast.read_snapshots` (issue 19) against the Python model of the
derived schemas (tests/support/derive_model.py), record by record: on hypothesis streams
(several books, both F_LAST forms, trades splitting events, fills, snapshots, clears, TOB adds,
deep-only changes, changes undone within an event) and on the real files.
"""

from __future__ import annotations

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from core import require_core
from dbn_builder import build_dbn, mbp1_dbn, metadata_bytes, pack_records
from derive_model import (
    bbo_columns_rows,
    cbbo_columns_rows,
    cbbo_model_rows,
    cmbp_columns_rows,
    cmbp_model_rows,
    consolidate,
    derive_mbp,
    derive_mbps,
    mbp_columns_rows,
    ref_snapshots,
    sample_bbo,
    sample_cbbo,
    snapshot_columns_rows,
)
from reference_book import F_LAST, F_SNAPSHOT, F_TOB, UNDEF_PRICE, Rec

mbo_fast = require_core()

BOOKS = [(5, 1), (5, 2), (6, 1)]  # (instrument_id, publisher_id): two publishers of one instrument
TICK = 250_000_000
BID_PRICES = [100_000_000_000 - k * TICK for k in range(12)]  # 12 levels: deeper than MBP-10
ASK_PRICES = [100_000_000_000 + (k + 1) * TICK for k in range(12)]
ORDER_IDS = list(range(1, 30))
# ts_recv steps: same event time, small steps, and steps across 1 s and 1 min boundaries
TS_STEPS = [0, 0, 1, 1000, 300_000_000, 1_000_000_000, 61_000_000_000]
T0 = 1_700_000_000_000_000_000


@st.composite
def book_record(draw, book, ts, sequence):
    """One A/C/M/T/F/R (rarely an unknown action, a side N or a TOB add) in `book`."""
    instrument_id, publisher_id = book
    action = draw(st.sampled_from("AAAAACCCMMMTTFR" + "x"))
    side = draw(st.sampled_from("BBBAAAN" if action in "TF" else "BBBBAAAAN"))
    prices = BID_PRICES if side == "B" else ASK_PRICES
    # mostly near the top, sometimes deep (below MBP-10) or through the other side
    price = draw(st.sampled_from(prices[:3] * 4 + prices + BID_PRICES[:2] + ASK_PRICES[:2]))
    flags = 0
    if action == "A" and draw(st.integers(0, 30)) == 0:
        flags |= F_TOB
        price = draw(st.sampled_from([*prices[:2], UNDEF_PRICE]))
    if action == "R" and draw(st.integers(0, 5)) != 0:
        action = "C"  # clears are rare
    return Rec(
        ts_recv=ts,
        ts_event=ts - draw(st.sampled_from([0, 7])),
        instrument_id=instrument_id,
        publisher_id=publisher_id,
        order_id=draw(st.sampled_from(ORDER_IDS)),
        price=price,
        size=draw(st.sampled_from([0, 1, 1, 2, 3, 5])),
        flags=flags,
        action=action,
        side=side,
        sequence=sequence,
        ts_in_delta=draw(st.integers(-5, 5)),
    )


@st.composite
def streams(draw, max_events=25):
    """Events of random books, each ended by F_LAST on its last record or by a standalone N
    record with F_LAST (the two forms); some events are snapshots (R, then adds flagged
    F_SNAPSHOT); rarely an event has no boundary before the next book's records (interleaved)."""
    records: list[Rec] = []
    ts = T0
    for _ in range(draw(st.integers(0, max_events))):
        book = draw(st.sampled_from(BOOKS))
        ts += draw(st.sampled_from(TS_STEPS))
        kind = draw(st.sampled_from(["event"] * 8 + ["snapshot"]))
        event: list[Rec] = []
        if kind == "snapshot":
            clear = Rec(ts, ts, *book, 0, UNDEF_PRICE, 0, F_SNAPSHOT, "R", "N", len(records))
            event.append(clear)
            for _ in range(draw(st.integers(0, 6))):
                rec = draw(book_record(book, ts, len(records) + len(event)))
                side = rec.side if rec.side in ("B", "A") else "B"
                event.append(rec._replace(action="A", flags=F_SNAPSHOT, side=side))
        else:
            for _ in range(draw(st.integers(1, 6))):
                event.append(draw(book_record(book, ts, len(records) + len(event))))
        form = draw(st.sampled_from(["flag", "flag", "n", "none"]))
        if form == "flag":
            event[-1] = event[-1]._replace(flags=event[-1].flags | F_LAST)
        elif form == "n":
            event.append(
                Rec(ts, ts, *book, 0, UNDEF_PRICE, 0, F_LAST, "N", "N", len(records) + len(event))
            )
        records.extend(event)
    return records


def _encode(records, **kw):
    note(f"records = {records!r}")
    return build_dbn(records, **kw)


def _assert_same(got, want):
    assert len(got) == len(want), (len(got), len(want), got[:3], want[:3])
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, (i, g, w)


@given(streams(), st.sampled_from(["mbp-10", "mbp-1", "tbbo"]), st.booleans())
def test_mbp_schemas_match_the_model(records, schema, zstd):
    cols = mbo_fast.convert(_encode(records, zstd=zstd), schema)
    n = 10 if schema == "mbp-10" else 1
    want = derive_mbp(records, n)
    if schema == "tbbo":
        want = [row for row in want if row.action == "T"]
    _assert_same(mbp_columns_rows(cols, n), want)


@given(streams(), st.sampled_from(["bbo-1s", "bbo-1m"]))
def test_bbo_schemas_match_the_model(records, schema):
    cols = mbo_fast.convert(_encode(records), schema)
    interval = 1_000_000_000 if schema == "bbo-1s" else 60_000_000_000
    want = sample_bbo(derive_mbp(records, 1), interval)
    _assert_same(bbo_columns_rows(cols), want)


@given(streams(), st.sampled_from(["cmbp-1", "tcbbo", "cbbo-1s", "cbbo-1m"]))
def test_consolidated_schemas_match_the_model(records, schema):
    """Instrument 5 has two publishers: their tops merge (best price, summed size, the
    publisher with the most size)."""
    cols = mbo_fast.convert(_encode(records), schema)
    cmbp = consolidate(derive_mbp(records, 1))
    if schema in ("cmbp-1", "tcbbo"):
        if schema == "tcbbo":
            cmbp = [(row, top) for row, top in cmbp if row.action == "T"]
        _assert_same(cmbp_columns_rows(cols), cmbp_model_rows(cmbp))
    else:
        interval = 1_000_000_000 if schema == "cbbo-1s" else 60_000_000_000
        _assert_same(cbbo_columns_rows(cols), cbbo_model_rows(sample_cbbo(cmbp, interval)))


@given(streams(max_events=12), st.sampled_from(["mbp-10", "mbp-1"]))
def test_per_record_boundaries_match_the_model(records, schema):
    """Asked for, or from an ITCH dataset's metadata: every record is its own event."""
    n = 10 if schema == "mbp-10" else 1
    want = derive_mbp(records, n, per_record=True)
    asked = mbo_fast.convert(_encode(records), schema, boundary="record")
    _assert_same(mbp_columns_rows(asked, n), want)
    itch = metadata_bytes(dataset="XNAS.ITCH") + pack_records(records)
    _assert_same(mbp_columns_rows(mbo_fast.convert(itch, schema), n), want)


def test_rules_by_hand():
    """The issue's rules on a stream small enough to check by eye (both F_LAST forms)."""
    px = 100_000_000_000
    b = (5, 1)
    records = [
        Rec(1, 1, *b, 1, px, 5, 0, "A", "B", 0),
        Rec(1, 1, *b, 2, px + TICK, 4, F_LAST, "A", "A", 1),  # one event: two sides -> N
        Rec(2, 2, *b, 3, px - 11 * TICK, 1, F_LAST, "A", "B", 2),  # level 1: MBP-1 skips it
        Rec(3, 3, *b, 0, px + TICK, 2, 0, "T", "B", 3),  # a buy lifts the ask: its own record
        Rec(3, 3, *b, 2, px + TICK, 2, 0, "F", "A", 4),  # dropped
        Rec(3, 3, *b, 2, px + TICK, 2, 0, "C", "A", 5),
        Rec(3, 3, *b, 0, UNDEF_PRICE, 0, F_LAST, "N", "N", 6),  # the standalone-N form
    ]
    cols = mbo_fast.convert(build_dbn(records), "mbp-1")
    got = [(int(i), chr(a), chr(s), int(d)) for i, a, s, d in
           zip(cols["index"], cols["action"], cols["side"], cols["depth"])]  # fmt: skip
    assert got == [(1, "A", "N", 0), (3, "T", "B", 0), (6, "C", "A", 0)]
    assert list(cols["ask_sz_00"]) == [4, 4, 2]  # the trade record shows the book before its fill
    assert list(cols["flags"]) == [F_LAST] * 3
    assert list(cols["sequence"]) == [1, 3, 5]  # the event's last book-changing record's
    mbp10 = mbo_fast.convert(build_dbn(records), "mbp-10")
    assert len(mbp10["index"]) == 4 and int(mbp10["depth"][1]) == 1
    assert mbp10["bid_px_01"][1] == px - 11 * TICK and mbp10["bid_px_02"][1] == UNDEF_PRICE
    assert (mbp10["bid_sz_02"][1], mbp10["bid_ct_02"][1]) == (0, 0)
    tbbo = mbo_fast.convert(build_dbn(records), "tbbo")
    assert list(tbbo["index"]) == [3] and list(tbbo["ask_sz_00"]) == [4]


def test_real_files_match_the_model(real_path):
    from dbn_builder import load_records

    records = load_records(real_path)
    model = derive_mbps(records, (1, 10))
    mbp1, mbp10 = model[1], model[10]
    _assert_same(mbp_columns_rows(mbo_fast.convert(real_path, "mbp-10"), 10), mbp10)
    _assert_same(mbp_columns_rows(mbo_fast.convert(real_path, "mbp-1"), 1), mbp1)
    tbbo = mbp_columns_rows(mbo_fast.convert(real_path, "tbbo"), 1)
    _assert_same(tbbo, [row for row in mbp1 if row.action == "T"])
    assert tbbo, "the sample files hold trades"
    for schema, interval in (("bbo-1s", 1_000_000_000), ("bbo-1m", 60_000_000_000)):
        got = bbo_columns_rows(mbo_fast.convert(real_path, schema))
        _assert_same(got, sample_bbo(mbp1, interval))


# --- read_snapshots: books on a time grid -------------------------------------------------------


@given(
    streams(),
    st.sampled_from([1, 3]),
    st.sampled_from([1, 1000, 700_000_000, "1s", "1m"]),
    st.booleans(),
)
def test_snapshots_match_the_model(records, depth, every, only_changed):
    if not only_changed and every in (1, 1000):
        every = "700ms"  # every book at every grid time: keep the grid small
    interval = mbo_fast.parse_interval(every)
    cols = mbo_fast.read_snapshots(_encode(records), depth, every, only_changed=only_changed)
    want = ref_snapshots(records, depth, interval, only_changed)
    _assert_same(snapshot_columns_rows(cols), want)


def test_snapshot_arguments_are_checked():
    data = build_dbn([Rec(1, 1, 5, 1, 1, 100, 1, F_LAST, "A", "B", 0)])
    for bad in ["", "1 fortnight", "-1s", "0ms", 0, 2**64, True, 1.5]:
        with pytest.raises(ValueError, match="interval"):
            mbo_fast.read_snapshots(data, 1, bad)
    with pytest.raises(ValueError, match="depth"):
        mbo_fast.read_snapshots(data, 0, "1s")
    assert mbo_fast.parse_interval("100ms") == 100_000_000
    assert mbo_fast.parse_interval("5min") == mbo_fast.parse_interval("5m") == 300 * 10**9
    assert len(mbo_fast.read_snapshots(data, 1, "1s")["ts"]) == 0  # no grid time in [1, 1]
    assert list(mbo_fast.read_snapshots(data, 1, 1)["ts"]) == [1]
    with pytest.raises(mbo_fast.SchemaError):
        mbo_fast.read_snapshots(mbp1_dbn(), 1, "1s")
    spread = build_dbn(
        [Rec(0, 0, 5, 1, 1, 100, 1, F_LAST, "A", "B", 0),
         Rec(10**9, 10**9, 5, 1, 2, 100, 1, F_LAST, "A", "B", 1)]
    )  # fmt: skip
    with pytest.raises(ValueError, match="grid"):
        mbo_fast.read_snapshots(spread, 1, 1, only_changed=False)  # 1e9 grid times


def test_real_file_snapshots_match_the_model(clx5_path):
    from dbn_builder import load_records

    records = load_records(clx5_path)
    for every, only_changed in (("100ms", True), ("1s", False)):
        cols = mbo_fast.read_snapshots(clx5_path, 5, every, only_changed=only_changed)
        want = ref_snapshots(records, 5, mbo_fast.parse_interval(every), only_changed)
        assert len(want) > 100
        _assert_same(snapshot_columns_rows(cols), want)
