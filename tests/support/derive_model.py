"""A small, obviously-correct Python model of the derived schemas (issue 19), for comparing with
`mbo_fast.convert` record by record. It shares no code with the core: books are
`reference_book.RefBook`s, and what a record changed is read off the whole level lists before
and after it (the core finds it without comparing levels).

The rules, per book (instrument_id, publisher_id), in stream order:

- an event runs to its boundary: the record with F_LAST (a standalone N included), or every
  record when `per_record`;
- a record is *book-changing* when the book's level lists (price, size, count per level, both
  sides) differ after it; its *touch* on a side is the first index at which that side's list
  differs;
- at a boundary, an event with a book-changing record whose top N levels differ from those the
  book's last record showed is one record: the levels, finished; action, price, size, ts_event,
  ts_recv, ts_in_delta, sequence and flags (| F_LAST unless per record) of the last
  book-changing record; depth the smallest touch; side B/A for the side with it, N on a tie;
- a T ends the piece of the event before it (emitted by the rule above), then is its own record:
  its side, price, size, flags (| F_LAST unless per record), the levels as they stand, depth the
  number of passive-side levels strictly better than its price (0 for side N); F is dropped;
- TBBO: the trade records of MBP-1;
- CMBP-1: per instrument, each publisher's top is its last MBP-1 record's level; the
  consolidated top is, per side, the best price among them, the size summed over the publishers
  at that price and, as the publisher, the one with the most size there (the lowest id on a
  tie); empty: UNDEF_PRICE, 0, 0. After each MBP-1 record, a CMBP-1 record (that record's head
  fields) when the consolidated top differs from the last one written, or the record is a
  trade; TCBBO: its trade records; CBBO-1s/1m: CMBP-1 sampled like BBO, per instrument;
- BBO-1s/1m: per interval (end - P, end] of ts_recv, stamped end, every book with an MBP-1
  record in it gives one record (in (instrument_id, publisher_id) order): the top after its
  last MBP-1 record there, that record's flags and sequence, and the book's last trade so far
  (price, size, side, ts_event; UNDEF_PRICE, 0, N, UNDEF_TIMESTAMP before the first). A record
  whose interval ends before the one being filled joins the one being filled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reference_book import F_LAST, UNDEF_PRICE, Rec, RefBook

UNDEF_TIMESTAMP = 2**64 - 1
U32_MAX = 2**32 - 1

Level = tuple[int, int, int]  # (price, size, count)
EMPTY: Level = (UNDEF_PRICE, 0, 0)


@dataclass
class MbpRow:
    """One MBP-N record: the head fields and `levels`, N pairs of (bid level, ask level)."""

    index: int
    ts_event: int
    publisher_id: int
    instrument_id: int
    action: str
    side: str
    depth: int
    price: int
    size: int
    flags: int
    ts_recv: int
    ts_in_delta: int
    sequence: int
    levels: list[tuple[Level, Level]] = field(default_factory=list)


def _first_difference(before: list[Level], after: list[Level]) -> int | None:
    if before == after:
        return None
    for i, (a, b) in enumerate(zip(before, after)):
        if a != b:
            return i
    return min(len(before), len(after))


def _top(levels: tuple[list[Level], list[Level]], n: int) -> list[tuple[Level, Level]]:
    def pad(side: list[Level]) -> list[Level]:
        clipped = [(p, min(s, U32_MAX), c) for p, s, c in side[:n]]
        return clipped + [EMPTY] * (n - len(clipped))

    bids, asks = levels
    return list(zip(pad(bids), pad(asks)))


@dataclass
class _Event:
    touch: list[int | None] = field(default_factory=lambda: [None, None])  # bid, ask
    last: Rec | None = None


def _shallowest(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def derive_mbp(records: list[Rec], n: int, *, per_record: bool = False) -> list[MbpRow]:
    """The MBP-n records of `records` (see the module header)."""
    return derive_mbps(records, (n,), per_record=per_record)[n]


def derive_mbps(
    records: list[Rec], ns: tuple[int, ...], *, per_record: bool = False
) -> dict[int, list[MbpRow]]:
    """The MBP-n records of `records` for each n in `ns`, from one pass over the books."""
    books: dict[tuple[int, int], RefBook] = {}
    levels_now: dict[tuple[int, int], tuple[list[Level], list[Level]]] = {}
    events: dict[tuple[int, tuple[int, int]], _Event] = {}
    shown: dict[tuple[int, tuple[int, int]], list[tuple[Level, Level]]] = {}
    out: dict[int, list[MbpRow]] = {n: [] for n in ns}

    def flags_of(rec: Rec) -> int:
        return rec.flags if per_record else rec.flags | F_LAST

    def finish(n: int, key: tuple[int, int], index: int) -> None:
        event = events.pop((n, key), None)
        if event is None or event.last is None:
            return
        levels = _top(levels_now[key], n)
        if levels == shown[n, key]:
            return
        shown[n, key] = levels
        bid, ask = event.touch
        depth = _shallowest(bid, ask)
        assert depth is not None
        side = (
            "N" if bid == ask else ("B" if ask is None or (bid is not None and bid < ask) else "A")
        )
        last = event.last
        out[n].append(
            MbpRow(index, last.ts_event, last.publisher_id, last.instrument_id, last.action,
                   side, depth, last.price, last.size, flags_of(last), last.ts_recv,
                   last.ts_in_delta, last.sequence, levels)
        )  # fmt: skip

    for index, rec in enumerate(records):
        key = (rec.instrument_id, rec.publisher_id)
        if key not in books:
            books[key] = RefBook(key)
            levels_now[key] = ([], [])
            for n in ns:
                shown[n, key] = [(EMPTY, EMPTY)] * n
        book = books[key]
        if rec.action == "T":
            passive = {"B": "A", "A": "B"}.get(rec.side)
            depth = 0
            if passive is not None:
                sign = 1 if passive == "B" else -1  # bids better above, asks below
                prices = [p for p, _, _ in book.levels(passive)]
                depth = min(255, sum(1 for p in prices if sign * (p - rec.price) > 0))
            for n in ns:
                finish(n, key, index)
                out[n].append(
                    MbpRow(index, rec.ts_event, rec.publisher_id, rec.instrument_id, "T",
                           rec.side, depth, rec.price, rec.size, flags_of(rec), rec.ts_recv,
                           rec.ts_in_delta, rec.sequence, shown[n, key])
                )  # fmt: skip
            continue
        before = levels_now[key]
        if rec.action in ("A", "C", "M", "R"):
            # the sides a record can change: both for a clear; else its own and the one its
            # order rests on (the others' lists are kept, only to save time on deep books)
            resting = book.index.get(rec.order_id)
            sides = {"B", "A"} if rec.action == "R" else {rec.side, resting and resting[0]}
            book.apply(rec)
            levels_now[key] = (
                book.levels("B") if "B" in sides else before[0],
                book.levels("A") if "A" in sides else before[1],
            )
        else:
            book.apply(rec)
        touched = [_first_difference(b, a) for b, a in zip(before, levels_now[key])]
        for n in ns:
            if touched != [None, None]:
                event = events.setdefault((n, key), _Event())
                event.touch = [_shallowest(t, u) for t, u in zip(event.touch, touched)]
                event.last = rec
            if per_record or rec.flags & F_LAST:
                finish(n, key, index)
    return out


@dataclass
class BboRow:
    index: int
    ts_event: int
    publisher_id: int
    instrument_id: int
    price: int
    size: int
    side: str
    flags: int
    ts_recv: int
    sequence: int
    level: tuple[Level, Level]


Top = tuple[int, int, int, int, int, int]  # bid_px, bid_sz, bid_pb, ask_px, ask_sz, ask_pb
EMPTY_TOP: Top = (UNDEF_PRICE, 0, 0, UNDEF_PRICE, 0, 0)


def _consolidated_side(quotes: list[tuple[int, int, int]], bid: bool) -> tuple[int, int, int]:
    """(price, summed size, publisher) of one side from (publisher, price, size) quotes."""
    prices = [price for _, price, _ in quotes if price != UNDEF_PRICE]
    if not prices:
        return (UNDEF_PRICE, 0, 0)
    best = max(prices) if bid else min(prices)
    at_best = sorted((pub, size) for pub, price, size in quotes if price == best)
    largest = max(size for _, size in at_best)
    publisher = next(pub for pub, size in at_best if size == largest)
    return (best, min(U32_MAX, sum(size for _, size in at_best)), publisher)


def consolidate(mbp1: list[MbpRow]) -> list[tuple[MbpRow, Top]]:
    """CMBP-1: (the MBP-1 record it was written at, the consolidated top)."""
    tops: dict[int, dict[int, tuple[Level, Level]]] = {}
    shown: dict[int, Top] = {}
    out = []
    for row in mbp1:
        publishers = tops.setdefault(row.instrument_id, {})
        publishers[row.publisher_id] = row.levels[0]
        bids = [(pub, bid[0], bid[1]) for pub, (bid, _) in publishers.items()]
        asks = [(pub, ask[0], ask[1]) for pub, (_, ask) in publishers.items()]
        top = (*_consolidated_side(bids, True), *_consolidated_side(asks, False))
        if row.action == "T" or top != shown.get(row.instrument_id, EMPTY_TOP):
            shown[row.instrument_id] = top
            out.append((row, top))
    return out


def sample_cbbo(cmbp: list[tuple[MbpRow, Top]], interval: int) -> list[tuple[BboRow, Top]]:
    """CBBO-1s/1m: CMBP-1 on the BBO grid, per instrument (BboRow.level unused: the top)."""
    out: list[tuple[BboRow, Top]] = []
    trades: dict[int, MbpRow] = {}
    latest: dict[int, tuple[MbpRow, Top]] = {}
    end = 0

    def flush() -> None:
        for key in sorted(latest):
            row, top = latest[key]
            trade = trades.get(key)
            bbo = BboRow(
                row.index,
                trade.ts_event if trade else UNDEF_TIMESTAMP,
                row.publisher_id,
                row.instrument_id,
                trade.price if trade else UNDEF_PRICE,
                trade.size if trade else 0,
                trade.side if trade else "N",
                row.flags,
                end,
                0,
                (EMPTY, EMPTY),
            )
            out.append((bbo, top))
        latest.clear()

    for row, top in cmbp:
        row_end = -(-row.ts_recv // interval) * interval
        if row_end > end:
            flush()
            end = row_end
        latest[row.instrument_id] = (row, top)
        if row.action == "T":
            trades[row.instrument_id] = row
    flush()
    return out


def sample_bbo(mbp1: list[MbpRow], interval: int) -> list[BboRow]:
    """BBO-1s (interval 1e9) or BBO-1m (6e10) from MBP-1 rows (see the module header)."""
    out: list[BboRow] = []
    trades: dict[tuple[int, int], MbpRow] = {}
    latest: dict[tuple[int, int], MbpRow] = {}  # the open interval's last row per book
    end = 0

    def flush() -> None:
        for key in sorted(latest):
            row = latest[key]
            trade = trades.get(key)
            out.append(
                BboRow(
                    row.index,
                    trade.ts_event if trade else UNDEF_TIMESTAMP,
                    row.publisher_id,
                    row.instrument_id,
                    trade.price if trade else UNDEF_PRICE,
                    trade.size if trade else 0,
                    trade.side if trade else "N",
                    row.flags,
                    end,
                    row.sequence,
                    row.levels[0],
                )
            )
        latest.clear()

    for row in mbp1:
        row_end = -(-row.ts_recv // interval) * interval  # ts_recv rounded up
        if row_end > end:
            flush()
            end = row_end
        key = (row.instrument_id, row.publisher_id)
        latest[key] = row
        if row.action == "T":
            trades[key] = row
    flush()
    return out


# --- comparing with the core's columns --------------------------------------------------------


def _lists(cols: Any) -> dict[str, list[Any]]:
    return {name: column.tolist() for name, column in cols.items()}


def mbp_columns_rows(cols: Any, n: int) -> list[MbpRow]:
    """`mbo_fast.convert(..., schema="mbp-N")` columns as MbpRows."""
    c = _lists(cols)
    rows = []
    for i in range(len(c["index"])):
        levels = [
            ((c[f"bid_px_{j:02d}"][i], c[f"bid_sz_{j:02d}"][i], c[f"bid_ct_{j:02d}"][i]),
             (c[f"ask_px_{j:02d}"][i], c[f"ask_sz_{j:02d}"][i], c[f"ask_ct_{j:02d}"][i]))
            for j in range(n)
        ]  # fmt: skip
        rows.append(
            MbpRow(c["index"][i], c["ts_event"][i], c["publisher_id"][i], c["instrument_id"][i],
                   chr(c["action"][i]), chr(c["side"][i]), c["depth"][i], c["price"][i],
                   c["size"][i], c["flags"][i], c["ts_recv"][i], c["ts_in_delta"][i],
                   c["sequence"][i], levels)
        )  # fmt: skip
    return rows


def bbo_columns_rows(cols: Any) -> list[BboRow]:
    c = _lists(cols)
    return [
        BboRow(
            c["index"][i], c["ts_event"][i], c["publisher_id"][i], c["instrument_id"][i],
            c["price"][i], c["size"][i], chr(c["side"][i]), c["flags"][i], c["ts_recv"][i],
            c["sequence"][i],
            ((c["bid_px_00"][i], c["bid_sz_00"][i], c["bid_ct_00"][i]),
             (c["ask_px_00"][i], c["ask_sz_00"][i], c["ask_ct_00"][i])),
        )
        for i in range(len(c["index"]))
    ]  # fmt: skip


def _top_of(c: dict[str, list[Any]], i: int) -> Top:
    return (c["bid_px_00"][i], c["bid_sz_00"][i], c["bid_pb_00"][i],
            c["ask_px_00"][i], c["ask_sz_00"][i], c["ask_pb_00"][i])  # fmt: skip


def cmbp_columns_rows(cols: Any) -> list[tuple[Any, ...]]:
    """CMBP-1 / TCBBO columns as comparable tuples (see `cmbp_model_rows`)."""
    c = _lists(cols)
    return [
        (c["index"][i], c["ts_event"][i], c["publisher_id"][i], c["instrument_id"][i],
         chr(c["action"][i]), chr(c["side"][i]), c["price"][i], c["size"][i], c["flags"][i],
         c["ts_recv"][i], c["ts_in_delta"][i], _top_of(c, i))
        for i in range(len(c["index"]))
    ]  # fmt: skip


def cmbp_model_rows(cmbp: list[tuple[MbpRow, Top]]) -> list[tuple[Any, ...]]:
    return [
        (r.index, r.ts_event, r.publisher_id, r.instrument_id, r.action, r.side, r.price, r.size,
         r.flags, r.ts_recv, r.ts_in_delta, top)
        for r, top in cmbp
    ]  # fmt: skip


def cbbo_columns_rows(cols: Any) -> list[tuple[Any, ...]]:
    c = _lists(cols)
    return [
        (c["index"][i], c["ts_event"][i], c["publisher_id"][i], c["instrument_id"][i],
         c["price"][i], c["size"][i], chr(c["side"][i]), c["flags"][i], c["ts_recv"][i],
         _top_of(c, i))
        for i in range(len(c["index"]))
    ]  # fmt: skip


def cbbo_model_rows(cbbo: list[tuple[BboRow, Top]]) -> list[tuple[Any, ...]]:
    return [
        (b.index, b.ts_event, b.publisher_id, b.instrument_id, b.price, b.size, b.side, b.flags,
         b.ts_recv, top)
        for b, top in cbbo
    ]  # fmt: skip


# --- books on a time grid (read_snapshots) ----------------------------------------------------


def ref_snapshots(
    records: list[Rec], depth: int, every: int, only_changed: bool
) -> list[tuple[Any, ...]]:
    """`read_snapshots` rows as (ts, index, instrument_id, publisher_id, bids, asks): at each
    multiple `t` of `every` from the first record's ts_recv to the last one's, every book after
    its last F_LAST record with ts_recv <= t (records in ts_recv order), by (instrument_id,
    publisher_id); with `only_changed`, a book's row only when its levels differ from its last
    row. (Only grid times right after a record can change anything, so with `only_changed` only
    those are visited.)"""
    if not records:
        return []
    first, last = records[0].ts_recv, records[-1].ts_recv

    def ceil(ts: int) -> int:
        return -(-ts // every) * every

    if only_changed:
        grid = sorted({ceil(r.ts_recv) for r in records if ceil(r.ts_recv) <= last})
    else:
        grid = list(range(ceil(first), last + 1, every))
    books: dict[tuple[int, int], RefBook] = {}
    state: dict[tuple[int, int], tuple[int, list[Level], list[Level]]] = {}
    shown: dict[tuple[int, int], tuple[list[Level], list[Level]]] = {}
    out = []
    position = 0
    for t in grid:
        while position < len(records) and records[position].ts_recv <= t:
            rec = records[position]
            key = (rec.instrument_id, rec.publisher_id)
            book = books.setdefault(key, RefBook(key))
            book.apply(rec)
            if rec.flags & F_LAST:
                pad = [EMPTY] * depth
                bids = (book.levels("B", depth) + pad)[:depth]
                asks = (book.levels("A", depth) + pad)[:depth]
                state[key] = (position, bids, asks)
            position += 1
        for key in sorted(state):
            index, bids, asks = state[key]
            if only_changed and shown.get(key) == (bids, asks):
                continue
            shown[key] = (bids, asks)
            out.append((t, index, *key, bids, asks))
    return out


def snapshot_columns_rows(cols: Any) -> list[tuple[Any, ...]]:
    c = {name: column.tolist() for name, column in cols.items()}

    def side(name: str, i: int) -> list[Level]:
        return [
            tuple(level)
            for level in zip(c[f"{name}_px"][i], c[f"{name}_sz"][i], c[f"{name}_ct"][i])
        ]  # type: ignore[misc]

    return [
        (c["ts"][i], c["index"][i], c["instrument_id"][i], c["publisher_id"][i],
         side("bid", i), side("ask", i))
        for i in range(len(c["ts"]))
    ]  # fmt: skip
