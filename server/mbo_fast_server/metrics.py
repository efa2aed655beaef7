"""Prometheus metrics in a private registry per application (tests run several apps)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_TICK_BUCKETS = (0.0001, 0.00025, *_LATENCY_BUCKETS)


class RustTimings(Collector):
    """Histograms kept by the Rust core (`mbo_fast.Replay.timings()`: log-linear ns buckets,
    relaxed atomics, read without the GIL), summed over the loaded sources at every scrape."""

    _FAMILIES = (
        (
            "mbo_apply_record_seconds",
            "Per-record apply latency measured in Rust (batch means weighted by record count) "
            "by stage: load (an in-memory Replay's opening), seek (book queries and pages), "
            "stream (SSE playback), live",
            {
                "apply_load": "load",
                "apply_seek": "seek",
                "apply_stream": "stream",
                "live_apply": "live",
            },
        ),
        (
            "mbo_playback_advance_seconds",
            "One Player.advance in Rust (an SSE tick's apply plus frame build)",
            {"advance": ""},
        ),
        (
            "mbo_playback_frame_build_seconds",
            "Frame building (top levels, JSON) of one Player.advance in Rust",
            {"frame": ""},
        ),
        (
            "mbo_live_latency_seconds",
            "Live ingest, measured in Rust: from a record's receipt (its bytes fed to the core) "
            "until it is applied (per record), or per published frame batch from the receipt of "
            "the newest record it accounts for until it is in the clients' queues",
            {"live_receipt_to_applied": "applied", "live_receipt_to_published": "published"},
        ),
        (
            "mbo_live_tick_seconds",
            "One live tick's frame building for every subscribed book, in Rust",
            {"live_tick": ""},
        ),
    )

    def __init__(self) -> None:
        # the served sources' recordings (objects with .timings()), asked at every scrape
        self.recordings: Callable[[], list[Any]] = list
        self.live: list[Any] = []  # live markets (mbo_fast._core.LiveMarket)

    def describe(self) -> Iterable[Metric]:
        return [self._family(name, doc, stages) for name, doc, stages in self._FAMILIES]

    @staticmethod
    def _family(name: str, doc: str, stages: dict[str, str]) -> HistogramMetricFamily:
        labelled = any(stages.values())
        return HistogramMetricFamily(name, doc, labels=["stage"] if labelled else None)

    def collect(self) -> Iterator[Metric]:
        sources = [*self.recordings(), *self.live]
        snapshots = [r.timings() for r in sources if hasattr(r, "timings")]
        for name, doc, stages in self._FAMILIES:
            family = self._family(name, doc, stages)
            for key, stage in stages.items():
                hists = [s[key] for s in snapshots if key in s]
                if not hists:
                    continue
                bounds = hists[0]["bounds_ns"]
                counts = [sum(h["buckets"][i] for h in hists) for i in range(len(bounds) + 1)]
                running = 0
                buckets: list[tuple[str, float]] = []
                for i, count in enumerate(counts):
                    running += count
                    le = repr(bounds[i] / 1e9) if i < len(bounds) else "+Inf"
                    buckets.append((le, running))
                total = sum(h["sum_ns"] for h in hists) / 1e9
                family.add_metric([stage] if stage else [], buckets, total)
            yield family


class BlockCache(Collector):
    """The process's cache of decoded blocks (`mbo_fast._core.block_cache_stats`), read at every
    scrape: bytes held against the budget, hits, misses, evictions."""

    def describe(self) -> Iterable[Metric]:
        return list(self.collect())

    def collect(self) -> Iterator[Metric]:
        from mbo_fast import _core

        stats = _core.block_cache_stats()
        held = GaugeMetricFamily(
            "mbo_block_cache_bytes", "Decoded blocks held by the block cache (bytes)"
        )
        held.add_metric([], stats["bytes"])
        budget = GaugeMetricFamily(
            "mbo_block_cache_budget_bytes", "The block cache's budget (cache_mb, bytes)"
        )
        budget.add_metric([], stats["budget"])
        yield held
        yield budget
        for name in ("hits", "misses", "evictions"):
            family = CounterMetricFamily(
                f"mbo_block_cache_{name}", f"Block cache {name} (blocks and checkpoints)"
            )
            family.add_metric([], stats[name])
            yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.records_processed = Counter(
            "mbo_records_processed",
            "MBO records processed, by stage: import (stored in the block store), stream "
            "(replayed to playback clients), live (applied from the feed)",
            ["stage"],
            registry=r,
        )
        self.sources_loaded = Gauge("mbo_sources_loaded", "Data sources loaded", registry=r)
        self.http_duration = Histogram(
            "mbo_http_request_duration_seconds",
            "HTTP request duration by route and status (streams: until the stream ends)",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.book_seconds = Histogram(
            "mbo_book_query_seconds",
            "Time to seek a replay cursor and read one book (off the event loop)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.sse_clients = Gauge("mbo_sse_clients", "Connected SSE playback clients", registry=r)
        self.frames_sent = Counter(
            "mbo_sse_frames_sent", "SSE frames written to clients", ["event"], registry=r
        )
        self.frames_dropped = Counter(
            "mbo_sse_frames_dropped",
            "SSE frames dropped from a slow client's backlog (replaced by a fresh snapshot)",
            registry=r,
        )
        self.resyncs = Counter(
            "mbo_sse_resyncs",
            "Backlogs replaced by a fresh snapshot because a client fell behind",
            registry=r,
        )
        self.storage_seconds = Histogram(
            "mbo_storage_write_seconds",
            "Block store writes: a whole file's import, or one live flush (its blocks and books "
            "in one transaction), by table (import, live)",
            ["table"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.storage_rows = Counter(
            "mbo_storage_rows_written",
            "Blocks written to the block store, by table (import, live)",
            ["table"],
            registry=r,
        )
        self.errors = Counter("mbo_errors", "Errors by kind", ["kind"], registry=r)
        self.sse_tick_seconds = Histogram(
            "mbo_sse_tick_seconds",
            "One SSE tick seen from the event loop: the cursor's advance (apply and frame "
            "build, off the loop) until its frames are queued for the client",
            buckets=_TICK_BUCKETS,
            registry=r,
        )
        self.live_connected = Gauge(
            "mbo_live_connected", "1 while the live feed connection is up", registry=r
        )
        self.live_reconnects = Counter(
            "mbo_live_reconnects", "Live feed connections re-established", registry=r
        )
        self.live_errors = Counter(
            "mbo_live_connection_errors",
            "Live feed connections dropped or refused, by reason",
            ["reason"],
            registry=r,
        )
        self.live_gaps = Counter(
            "mbo_live_sequence_gaps", "Sequence gaps detected in the live feed", registry=r
        )
        self.live_stale_books = Gauge(
            "mbo_live_stale_books", "Books stale after a gap or reconnect", registry=r
        )
        self.live_rate = Gauge(
            "mbo_live_ingest_records_per_second", "Live records applied per second", registry=r
        )
        self.live_clients = Gauge("mbo_live_clients", "Connected live SSE clients", registry=r)
        self.live_dropped_clients = Counter(
            "mbo_live_dropped_subscribers",
            "Live SSE clients disconnected because they could not take frames",
            registry=r,
        )
        self.clients_dropped = Counter(
            "mbo_clients_dropped",
            "Clients disconnected because they took no bytes of a write for send_timeout_s, "
            "by kind: playback, live, export",
            ["kind"],
            registry=r,
        )
        self.exports = Gauge("mbo_exports", "Exports being streamed", registry=r)
        self.connections = Gauge("mbo_connections", "Open client connections", registry=r)
        self.connections_closed = Counter(
            "mbo_connections_closed",
            "Connections closed by the server's limits, by reason: idle (no complete request "
            "within idle_timeout_s), body_timeout, evicted (idle, to make room under "
            "max_connections), refused (max_connections busy)",
            ["reason"],
            registry=r,
        )
        self.accept_errors = Counter(
            "mbo_accept_errors",
            "Connections the listening socket could not accept (out of file descriptors or "
            "memory); logged at most once a minute",
            registry=r,
        )
        self.rust_timings = RustTimings()
        r.register(self.rust_timings)
        r.register(BlockCache())

    def render(self) -> bytes:
        return generate_latest(self.registry)
