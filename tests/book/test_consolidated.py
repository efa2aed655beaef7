"""Consolidated depth in the core (`Market.consolidated`, `Replay.consolidated`): one
instrument's levels summed per price over its publishers, against a brute force over every
publisher's every level."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core import require_core

require_core()

import mbo_fast  # noqa: E402


def brute_force(books: list[mbo_fast.Book], side: str, depth: int) -> list[tuple[Any, ...]]:
    acc: dict[int, list[Any]] = {}
    for book in sorted(books, key=lambda b: b.publisher_id):
        for price, size, count in book.levels(side):  # type: ignore[arg-type]
            at = acc.setdefault(price, [0, 0, []])
            at[0] += size
            at[1] += count
            at[2].append(book.publisher_id)
    prices = sorted(acc, reverse=side == "B")[:depth]
    return [(p, acc[p][0], acc[p][1], acc[p][2]) for p in prices]


def test_sums_every_publisher_per_price(tmp_path: Path) -> None:
    paths = []
    for publisher in (2, 3, 7):
        path = tmp_path / f"p{publisher}.dbn"
        mbo_fast.simulate(
            seed=publisher, records=3_000, instruments=2, path=path, publisher_id=publisher
        )
        paths.append(path)
    whole = b"".join(p.read_bytes() for p in paths[:1]) + b"".join(
        p.read_bytes()[8 + int.from_bytes(p.read_bytes()[4:8], "little") :] for p in paths[1:]
    )
    replay = mbo_fast.Replay(whole)
    shared = 0
    for index in range(0, len(replay), 251):
        replay.seek(index=index)
        for iid in (1, 2, 9):
            books = [b for b in replay.books() if b.instrument_id == iid]
            for depth in (1, 4, 50):
                got = replay.consolidated(iid, depth)
                want_bids = brute_force(books, "B", depth)
                want_asks = brute_force(books, "A", depth)
                assert got.bids == want_bids and got.asks == want_asks, (index, iid, depth)
                shared += sum(len(level[3]) > 1 for level in got.bids + got.asks)
                doc = json.loads(got.to_json())
                assert doc["bids"] == [
                    {"price": p, "size": s, "count": c} for p, s, c, _ in want_bids
                ]
                assert doc["crossed"] == got.crossed
            bbo = replay.consolidated_bbo(iid)
            top = replay.consolidated(iid, 1)
            assert bbo.bid_px == (top.bids[0][0] if top.bids else None)
    assert shared, "some prices are quoted by several publishers"
