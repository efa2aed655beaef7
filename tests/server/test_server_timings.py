"""Latency metrics fed from the Rust core's timing histograms (Replay.timings()) and the SSE
tick histogram: /metrics shows their buckets moving with real work."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server_helpers import CLX5_IID, client, make_client, read_events  # noqa: F401

mbo_fast = pytest.importorskip("mbo_fast")


def _value(text: str, prefix: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
    )


def _buckets(text: str, name: str, stage: str | None = None) -> dict[str, float]:
    """{le: cumulative count} of one histogram series."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith(f"{name}_bucket{{"):
            continue
        labels, value = line.rsplit(" ", 1)
        if stage is not None and f'stage="{stage}"' not in labels:
            continue
        le = labels.split('le="', 1)[1].split('"', 1)[0]
        out[le] = float(value)
    return out


def test_replay_timings_shape(clx5_path: Any) -> None:
    replay = mbo_fast.Replay(str(clx5_path))
    t = replay.timings()
    assert set(t) == {"apply_load", "apply_seek", "apply_stream", "advance", "frame"}
    load = t["apply_load"]
    assert load["count"] == len(replay) == sum(load["buckets"])
    assert len(load["buckets"]) == len(load["bounds_ns"]) + 1
    assert load["bounds_ns"][:5] == [64, 80, 96, 112, 128] and load["sum_ns"] > 0
    replay.seek(index=20_000)
    assert replay.timings()["apply_seek"]["count"] > 0
    player = replay.player(CLX5_IID, 1, 5)
    player.seek(index=0)
    player.advance(until_index=1_000)
    t = replay.timings()
    assert t["advance"]["count"] == t["frame"]["count"] == 1
    assert t["apply_stream"]["count"] == player.position - 1  # the seek applied record 0


@pytest.mark.asyncio
async def test_rust_latency_histograms_move(client: Any) -> None:
    before = await (await client.get("/metrics")).text()
    seek0 = _value(before, 'mbo_apply_record_seconds_count{stage="seek"}')
    stream0 = _value(before, 'mbo_apply_record_seconds_count{stage="stream"}')
    adv0 = _value(before, "mbo_playback_advance_seconds_count")
    ticks0 = _value(before, "mbo_sse_tick_seconds_count")

    await client.get(f"/api/v1/book?instrument_id={CLX5_IID}&index=30000")
    resp = await client.get(f"/api/v1/stream?instrument_id={CLX5_IID}&speed=max&depth=3")
    events = await read_events(resp, lambda e: e.get("event") == "end")
    resp.close()
    status = [json.loads(e["data"]) for e in events if e["event"] == "status"]
    assert status and all(isinstance(s["due_ns"], int) for s in status)

    after = await (await client.get("/metrics")).text()
    assert _value(after, 'mbo_apply_record_seconds_count{stage="seek"}') > seek0
    assert _value(after, 'mbo_apply_record_seconds_count{stage="stream"}') >= stream0 + 38_000
    stream = _buckets(after, "mbo_apply_record_seconds", "stream")
    assert stream["+Inf"] >= 38_000 and stream["1.024e-06"] > 0  # most: ~1 µs or less
    assert list(stream.values()) == sorted(stream.values())  # cumulative
    adv = _value(after, "mbo_playback_advance_seconds_count")
    assert adv > adv0
    assert _value(after, "mbo_playback_frame_build_seconds_count") == adv
    assert _buckets(after, "mbo_playback_advance_seconds")["+Inf"] == adv
    assert _value(after, "mbo_sse_tick_seconds_count") > ticks0
