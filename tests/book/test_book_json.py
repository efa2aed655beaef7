"""The JSON shapes of books, built in the core: a book's state in the `/api/v1/book` document
(`Book.state_json`, `Market.book_state_json`) against the same state read through the Book's
own accessors, across a replay of the sample files."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core import require_core

require_core()

import mbo_fast  # noqa: E402


def expected_state(book: mbo_fast.Book | None, depth: int, orders: bool) -> dict[str, Any]:
    """The state as the server described it before the core wrote it (an absent book: empty)."""

    def side(name: str) -> list[dict[str, Any]]:
        out = []
        for price, size, count in book.levels(name, depth) if book is not None else []:  # type: ignore[arg-type]
            level: dict[str, Any] = {"price": price, "size": size, "count": count}
            if orders:
                level["orders"] = [list(o) for o in book.orders(name, price)]  # type: ignore[arg-type, union-attr]
            out.append(level)
        return out

    uncross = book.indicative_uncross() if book is not None and book.crossed else None
    return {
        "bids": side("B"),
        "asks": side("A"),
        "order_count": book.order_count if book is not None else 0,
        "crossed": book.crossed if book is not None else False,
        "consistent": book.consistent if book is not None else False,
        "maybe_bad": book.maybe_bad if book is not None else False,
        "uncross": None
        if uncross is None
        else {
            "price": uncross.price,
            "volume": uncross.volume,
            "bid_volume": uncross.bid_volume,
            "ask_volume": uncross.ask_volume,
            "imbalance": uncross.imbalance,
        },
    }


def test_book_state_matches_the_books_accessors(real_path) -> None:  # type: ignore[no-untyped-def]
    replay = mbo_fast.Replay(real_path)
    crossed = 0
    # every 1/40 of the file, and densely over its first 10,000 records (where books cross)
    indexes = sorted({*range(0, len(replay), len(replay) // 40), *range(0, 10_000, 97)})
    for index in indexes:
        replay.seek(index=index)
        for book in replay.books():
            crossed += book.crossed
            for depth, orders in ((1, False), (5, True), (10_000, True)):
                got = json.loads(book.state_json(depth, orders))
                assert got == expected_state(book, depth, orders), (index, depth, orders)
            assert json.loads(book.state_json()) == expected_state(book, 10**9, False)
    assert crossed, "the states seen include crossed books (an uncross object)"


def test_an_absent_book_is_an_empty_state() -> None:
    market = mbo_fast.Market()
    state = json.loads(market.book_state_json(1, 1, 10, True))
    assert state == expected_state(None, 10, True)
    with pytest.raises(KeyError):
        market.book(1, 1)
