"""`mbo-fast feed`: a TCP server that sends a DBN stream (metadata, then records, as a DBN file
carries them) to every subscriber, paced at a fixed record rate or at recorded time × speed.

Pacing runs on a ~1 ms slot: each slot sends, as one write per subscriber, every record due by
the clock (target = elapsed × rate, or the records with ts_recv ≤ first + elapsed × speed), so
the achieved rate follows the clock however coarse the sleeps are. Playback starts when the
first subscriber connects; later subscribers get the metadata, then join at the current record.
A subscriber whose transport buffer exceeds `max_buffer` bytes cannot keep up: it is
disconnected with a logged reason, never slowing the others.

The records are the files' MBO records exactly as the core frames them (`_core.MboChunks`: a
zstd file decompressed, records of other types left out), behind the first file's metadata as
that file holds it. Their length is the files' (56 bytes, 64 with `ts_out`), and must be one for
all of them. `resequence` rewrites each channel's sequence numbers to be contiguous (a file
filtered to a few instruments has jumps everywhere, which a live consumer would take for gaps).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _core
from ._source import to_raw_source
from .records import MBO_DTYPE, MBO_RTYPE

log = logging.getLogger("mbo_fast.feed")

MBO_LEN = MBO_DTYPE.itemsize
SLOT_S = 0.001
F_LAST = 0x80
UNDEF_PRICE = 2**63 - 1


@dataclass
class FeedData:
    """A DBN stream cut into its metadata and MBO records of one length."""

    metadata: bytes
    records: memoryview  # n × record_len bytes
    ts_recv: np.ndarray  # uint64, one per record
    record_len: int = MBO_LEN

    def __len__(self) -> int:
        return len(self.ts_recv)

    def chunk(self, start: int, stop: int) -> memoryview:
        return self.records[start * self.record_len : stop * self.record_len]


def _record_dtype(record_len: int) -> np.dtype[Any]:
    """The MBO record layout for records `record_len` bytes apart (56, or 64 with ts_out)."""
    fields = MBO_DTYPE.fields
    assert fields is not None
    return np.dtype(
        {
            "names": list(fields),
            "formats": [fields[name][0] for name in fields],
            "offsets": [fields[name][1] for name in fields],
            "itemsize": record_len,
        }
    )


def clear_records(data: FeedData) -> bytes:
    """One clear (`R`, side `N`, `F_LAST`) per book of `data`, in the order the books first
    appear, on that book's first channel, stamped with the data's first record's times."""
    if not len(data):
        return b""
    view = np.frombuffer(data.records, dtype=_record_dtype(data.record_len))
    keys = view["instrument_id"].astype(np.uint64) << np.uint64(16) | view["publisher_id"]
    _, first = np.unique(keys, return_index=True)
    first.sort()
    out = np.zeros(len(first), dtype=_record_dtype(data.record_len))
    out["length"] = data.record_len // 4
    out["rtype"] = MBO_RTYPE
    for name in ("instrument_id", "publisher_id", "channel_id"):
        out[name] = view[name][first]
    out["ts_event"] = view["ts_event"][0]
    out["ts_recv"] = view["ts_recv"][0]
    out["price"] = UNDEF_PRICE
    out["flags"] = F_LAST
    out["action"] = ord("R")
    out["side"] = ord("N")
    return out.tobytes()


def load(files: Sequence[str], resequence: bool = False) -> FeedData:
    """The MBO records of `files`, in order, behind the first file's metadata. ValueError when
    the files' records are not all of one length."""
    metadata = b""
    parts: list[bytes] = []
    lengths: set[int] = set()
    for path in files:
        chunks = _core.MboChunks(to_raw_source(path))
        if not metadata:
            metadata = chunks.metadata
        for chunk, record_len in chunks:
            parts.append(chunk)
            lengths.add(record_len)
    if len(lengths) > 1:
        raise ValueError(f"records of different lengths ({sorted(lengths)} bytes) cannot be fed")
    record_len = lengths.pop() if lengths else MBO_LEN
    body = bytearray(b"".join(parts))
    view = np.frombuffer(body, dtype=_record_dtype(record_len))
    ts_recv = view["ts_recv"].copy()
    if resequence and len(view):
        seq = view["sequence"].copy()
        chan = view["channel_id"]
        new = np.empty_like(seq)
        for c in np.unique(chan):
            mask = chan == c
            # records sharing a sequence keep sharing it; distinct ones become contiguous
            changed = np.concatenate(([1], (np.diff(seq[mask].astype(np.int64)) != 0)))
            new[mask] = np.cumsum(changed).astype(np.uint32)
        view["sequence"] = new
    return FeedData(metadata, memoryview(bytes(body)), ts_recv, record_len)


@dataclass(eq=False)
class _Subscriber:
    writer: asyncio.StreamWriter
    peer: str
    sent: int = 0


@dataclass
class FeedStats:
    sent_records: int = 0
    clears: int = 0  # clear records sent at the start of looped passes
    loops: int = 0
    subscribers: int = 0
    connected: int = 0
    dropped: int = 0
    started: float | None = None
    finished: float | None = None
    drop_reasons: list[str] = field(default_factory=list)


class Feed:
    """The publisher. `await start()`, then it runs until `close()`."""

    def __init__(
        self,
        data: FeedData,
        *,
        rate: float | None = None,
        speed: float | None = None,
        loop: bool = False,
        max_buffer: int = 8 << 20,
        max_batch: int = 1 << 16,
    ) -> None:
        if (rate is None) == (speed is None):
            raise ValueError("give exactly one of rate or speed")
        if (rate is not None and rate <= 0) or (speed is not None and speed <= 0):
            raise ValueError("rate and speed must be > 0")
        self.data = data
        self.rate = rate
        self.speed = speed
        self.loop = loop
        self.max_buffer = max_buffer
        self.max_batch = max_batch
        self.subs: set[_Subscriber] = set()
        self.stats = FeedStats()
        self.first_subscriber = asyncio.Event()
        self.done = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._clears = clear_records(data) if loop else b""

    async def start(self, host: str = "127.0.0.1", port: int = 9000) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._on_connect, host, port)
        self._task = asyncio.create_task(self._pace())
        sock = self._server.sockets[0].getsockname()
        return str(sock[0]), int(sock[1])

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._server is not None:
            self._server.close()
        for sub in list(self.subs):
            sub.writer.transport.abort()
        self.subs.clear()
        if self._server is not None:
            await self._server.wait_closed()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = str(writer.get_extra_info("peername"))
        sub = _Subscriber(writer, peer)
        writer.write(self.data.metadata)
        self.subs.add(sub)
        self.stats.connected += 1
        self.stats.subscribers = len(self.subs)
        log.info("subscriber connected: %s", peer)
        self.first_subscriber.set()
        try:
            await reader.read()  # until the peer closes (subscribers send nothing)
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            if sub in self.subs:
                self.subs.discard(sub)
                log.info("subscriber left: %s", peer)
            self.stats.subscribers = len(self.subs)
            writer.transport.abort()

    def _drop(self, sub: _Subscriber, reason: str) -> None:
        self.subs.discard(sub)
        self.stats.dropped += 1
        self.stats.subscribers = len(self.subs)
        self.stats.drop_reasons.append(f"{sub.peer}: {reason}")
        log.warning("subscriber dropped: %s: %s", sub.peer, reason)
        sub.writer.transport.abort()

    def _send(self, chunk: memoryview | bytes, n: int, counted: bool = True) -> None:
        data = bytes(chunk)
        for sub in list(self.subs):
            transport = sub.writer.transport
            if transport.is_closing():
                self.subs.discard(sub)
                continue
            buffered = transport.get_write_buffer_size()
            if buffered > self.max_buffer:
                self._drop(
                    sub, f"cannot keep up: {buffered} bytes unsent (limit {self.max_buffer})"
                )
                continue
            transport.write(data)
            sub.sent += n
        if counted:
            self.stats.sent_records += n
        else:
            self.stats.clears += n

    def _pass_seconds(self) -> float:
        """How long one pass over the data lasts on the pacing schedule."""
        if self.rate is not None:
            return len(self.data) / self.rate
        assert self.speed is not None
        ts = self.data.ts_recv
        return float(int(ts[-1]) - int(ts[0])) / 1e9 / self.speed if len(ts) else 0.0

    def _target(self, elapsed: float, start: int) -> int:
        n = len(self.data)
        if self.rate is not None:
            return min(n, start + int(elapsed * self.rate))
        assert self.speed is not None
        ts = self.data.ts_recv
        until = int(ts[start]) + int(elapsed * self.speed * 1e9)
        return int(np.searchsorted(ts, until, "right"))

    async def _pace(self) -> None:
        await self.first_subscriber.wait()
        n = len(self.data)
        self.stats.started = time.perf_counter()
        t0 = self.stats.started
        while True:
            pos = 0
            if self._clears:  # every looped pass starts from empty books
                self._send(self._clears, len(self._clears) // self.data.record_len, counted=False)
            while pos < n:
                target = self._target(time.perf_counter() - t0, 0)
                while pos < target:
                    stop = min(target, pos + self.max_batch)
                    self._send(self.data.chunk(pos, stop), stop - pos)
                    pos = stop
                if pos < n:
                    await asyncio.sleep(SLOT_S)
            self.stats.loops += 1
            if not self.loop:
                break
            # The next pass starts where this one's schedule ended, not when its last slot ran:
            # restarting the clock lost up to a slot (plus the sleep's overshoot) per pass, 2 %
            # of the rate when CLX5 loops at 1 M/s (a 38 ms pass).
            t0 += self._pass_seconds()
        self.stats.finished = time.perf_counter()
        self.done.set()

    def achieved_rate(self) -> float:
        s = self.stats
        if s.started is None:
            return 0.0
        end = s.finished or time.perf_counter()
        return s.sent_records / max(end - s.started, 1e-9)


async def run(
    files: Sequence[str],
    host: str,
    port: int,
    *,
    rate: float | None,
    speed: float | None,
    loop: bool,
    resequence: bool,
    max_buffer: int,
) -> None:
    data = load(files, resequence=resequence)
    feed = Feed(data, rate=rate, speed=speed, loop=loop, max_buffer=max_buffer)
    bound = await feed.start(host, port)
    pace = f"{rate:g} records/s" if rate is not None else f"recorded time x {speed:g}"
    print(
        f"mbo-fast feed: {len(data):,} records on tcp://{bound[0]}:{bound[1]} ({pace}"
        f"{', looping' if loop else ''}); starts with the first subscriber",
        flush=True,
    )
    try:
        await feed.done.wait()
        print(
            f"mbo-fast feed: sent {feed.stats.sent_records:,} records at "
            f"{feed.achieved_rate():,.0f}/s; {feed.stats.dropped} subscriber(s) dropped",
            flush=True,
        )
        await asyncio.Event().wait()  # keep the connections open until interrupted
    finally:
        await feed.close()
