"""Player: per-client playback frames built in Rust (the server's SSE streams stand on it)."""

from __future__ import annotations

import json
import random

import pytest

from core import require_core

require_core()

import mbo_fast  # noqa: E402

CLX5_BOOK = (432669, 1)


@pytest.fixture(scope="module")
def replay(clx5_path):  # type: ignore[no-untyped-def]
    return mbo_fast.Replay(clx5_path)


def trades_of(path, key, first, last):  # type: ignore[no-untyped-def]
    cols = mbo_fast.read_records(path)
    mask = (
        (cols["action"] == ord("T"))
        & (cols["instrument_id"] == key[0])
        & (cols["publisher_id"] == key[1])
        & (cols["index"] >= first)
        & (cols["index"] <= last)
    )
    return cols["index"][mask].tolist()


def play(player, steps):  # type: ignore[no-untyped-def]
    frames = []
    for target in steps:
        frames.extend(player.advance(until_index=target))
    return frames


def test_frames_are_consistent_states_in_order(replay, clx5_path):  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    steps = sorted(rng.sample(range(len(replay)), 300))
    player = replay.player(*CLX5_BOOK, depth=5)
    first_index, snapshot = player.snapshot()
    assert first_index == -1 and json.loads(snapshot)["bids"] == []
    frames = play(player, steps)
    ids = [index for _, index, _ in frames]
    assert ids == sorted(ids)
    check = mbo_fast.Replay(clx5_path)
    for event, index, data in frames:
        body = json.loads(data)
        assert body["index"] == index
        if event == "book":
            check.seek(index=index)
            book = check.book(*CLX5_BOOK)
            assert book.consistent
            assert [tuple(level) for level in body["bids"]] == book.levels("B", 5)
            assert [tuple(level) for level in body["asks"]] == book.levels("A", 5)
            assert body["crossed"] == book.crossed
            assert (body["uncross"] is None) == (book.indicative_uncross() is None)
    trade_ids = [index for event, index, _ in frames if event == "trade"]
    assert trade_ids == trades_of(clx5_path, CLX5_BOOK, 0, player.index)


def test_resume_from_any_id_has_no_gap_and_no_duplicate(replay):  # type: ignore[no-untyped-def]
    rng = random.Random(11)
    steps = sorted(rng.sample(range(len(replay)), 200))
    whole = play(replay.player(*CLX5_BOOK, depth=3), steps)
    cut = rng.randrange(len(whole))
    resumed_id = whole[cut][1]
    player = replay.player(*CLX5_BOOK, depth=3)
    head = player.seek(index=resumed_id)
    assert player.index >= resumed_id
    rest = head + play(player, [s for s in steps if s > resumed_id])
    expected = [f for f in whole if f[1] > resumed_id and f[0] == "trade"]
    assert [f for f in rest if f[0] == "trade"] == expected
    # The book frames after a resume show the same states the uninterrupted stream showed.
    last_book = [f for f in whole if f[0] == "book"][-1]
    assert [f for f in rest if f[0] == "book"][-1] == last_book


def test_bad_arguments(replay):  # type: ignore[no-untyped-def]
    with pytest.raises(KeyError):
        replay.player(1, 1)
    player = replay.player(*CLX5_BOOK)
    with pytest.raises(IndexError):
        player.seek(index=len(replay))
    with pytest.raises(ValueError, match="exactly one"):
        player.advance()
