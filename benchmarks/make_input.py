"""Build the benchmark input: N distinct copies of an MBO file in one valid DBN file.

    .venv/bin/python benchmarks/make_input.py

writes bench-data/CLX5_x50.dbn (50 x ../shared/data/CLX5_mbo.dbn) and CLX5_x50.dbn.zst (the same,
zstd-compressed, for readers of zstd only).

Copy k (0-based) has every timestamp (ts_recv, ts_event) shifted by k * span, where span is the
source's metadata time range (so copies follow each other in time), and every non-zero order_id
shifted by k * 10**digits (so no order of one copy is seen in another). Before each copy there is
one clear record (action R, side N, flags 0: not an event boundary) for every
(instrument_id, publisher_id) book of the source, so every copy starts from empty books and
rebuilds exactly the books of the original. The metadata's end and symbology intervals are widened
to cover the new time range. MBO records are 56 bytes (64 with ts_out), the same in DBN v1-v3; their
layout is the core's (`mbo_fast.records.MBO_DTYPE`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import struct
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from mbo_fast import UNDEF_PRICE
from mbo_fast.records import MBO_DTYPE, MBO_LENGTH, MBO_RTYPE, empty

if __package__:
    from . import inputs
else:  # run as a file: benchmarks/ is sys.path[0]
    import inputs

DEFAULT_SRC = inputs.CLX5
DEFAULT_OUT_DIR = inputs.BENCH_DATA
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def read_plain(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:4] == ZSTD_MAGIC:
        import zstandard

        data = zstandard.ZstdDecompressor().stream_reader(data).read()
    if data[:3] != b"DBN":
        raise SystemExit(f"{path}: not a DBN stream")
    return data


def split(data: bytes) -> tuple[bytes, np.ndarray]:
    """(metadata bytes incl. the 8-byte prefix, records as a structured array)."""
    (meta_len,) = struct.unpack_from("<I", data, 4)
    body = 8 + meta_len
    if (len(data) - body) % MBO_DTYPE.itemsize:
        raise SystemExit("record bytes are not a whole number of 56-byte MBO records (ts_out?)")
    recs = np.frombuffer(data, dtype=MBO_DTYPE, offset=body)
    if not (np.all(recs["length"] == MBO_LENGTH) and np.all(recs["rtype"] == MBO_RTYPE)):
        raise SystemExit("the source holds records other than 56-byte MBO records")
    return data[:body], recs


def widened_metadata(meta_bytes: bytes, new_end: int) -> bytes:
    """The source metadata with `end` = new_end and symbology intervals reaching past it."""
    import databento_dbn

    meta = databento_dbn.Metadata.decode(meta_bytes)
    end_date = dt.datetime.fromtimestamp(new_end / 1e9, tz=dt.timezone.utc).date()
    end_date += dt.timedelta(days=1)
    old_last = max((iv["end_date"] for ivs in meta.mappings.values() for iv in ivs), default=None)
    mappings = [
        SimpleNamespace(
            raw_symbol=raw,
            intervals=[
                SimpleNamespace(
                    start_date=iv["start_date"],
                    end_date=end_date if iv["end_date"] == old_last else iv["end_date"],
                    symbol=iv["symbol"],
                )
                for iv in ivs
            ],
        )
        for raw, ivs in meta.mappings.items()
    ]
    out = databento_dbn.Metadata(
        dataset=meta.dataset,
        start=meta.start,
        stype_in=meta.stype_in,
        stype_out=meta.stype_out,
        schema=meta.schema,
        symbols=list(meta.symbols),
        partial=list(meta.partial),
        not_found=list(meta.not_found),
        mappings=mappings,
        end=new_end,
        limit=meta.limit,
        ts_out=meta.ts_out,
        version=meta.version,
    )
    encoded: bytes = out.encode()
    return encoded


def clear_records(first: np.ndarray, recs: np.ndarray) -> np.ndarray:
    """One R record per (instrument_id, publisher_id) book, in order of first appearance, stamped
    with the copy's first timestamps and each book's first channel_id/sequence."""
    keys = recs["instrument_id"].astype(np.uint64) << np.uint64(16) | recs["publisher_id"]
    _, idx = np.unique(keys, return_index=True)
    idx.sort()
    out = empty(len(idx))
    out["publisher_id"] = recs["publisher_id"][idx]
    out["instrument_id"] = recs["instrument_id"][idx]
    out["ts_event"] = first["ts_event"]
    out["ts_recv"] = first["ts_recv"]
    out["price"] = UNDEF_PRICE
    out["action"] = ord("R")
    out["side"] = ord("N")
    out["channel_id"] = recs["channel_id"][idx]
    out["sequence"] = recs["sequence"][idx]
    return out


def build(src: Path, copies: int) -> tuple[bytes, int]:
    import databento_dbn

    meta_bytes, recs = split(read_plain(src))
    meta = databento_dbn.Metadata.decode(meta_bytes)
    t_lo = int(min(recs["ts_recv"].min(), recs["ts_event"].min()))
    t_hi = int(max(recs["ts_recv"].max(), recs["ts_event"].max()))
    span = max(int(meta.end or 0) - int(meta.start), t_hi - t_lo + 1)
    oid_step = 10 ** len(str(int(recs["order_id"].max())))
    if (copies - 1) * oid_step + int(recs["order_id"].max()) >= 2**64:
        raise SystemExit("order ids would overflow u64")
    clears = clear_records(recs[0], recs)
    per_copy = len(clears) + len(recs)
    out = np.empty(copies * per_copy, dtype=MBO_DTYPE)
    nonzero = recs["order_id"] != 0
    for k in range(copies):
        block = out[k * per_copy : (k + 1) * per_copy]
        block[: len(clears)] = clears
        body = block[len(clears) :]
        body[:] = recs
        shift = np.uint64(k * span)
        for field in ("ts_recv", "ts_event"):
            block[field] += shift
        body["order_id"][nonzero] += np.uint64(k * oid_step)
    new_end = int(meta.start) + copies * span
    return widened_metadata(meta_bytes, new_end) + out.tobytes(), len(out)


def verify(path: Path, expected: int) -> None:
    import databento

    arr = databento.DBNStore.from_file(str(path)).to_ndarray()
    if len(arr) != expected:
        raise SystemExit(f"{path}: databento reads {len(arr)} records, expected {expected}")
    if np.any(np.diff(arr["ts_recv"].astype(np.int64)) < 0):
        raise SystemExit(f"{path}: ts_recv is not monotonic")


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, default=DEFAULT_SRC)
    ap.add_argument("--copies", type=int, default=50)
    ap.add_argument("--out", type=Path, help="default: bench-data/<stem>_x<copies>.dbn")
    ap.add_argument("--no-zstd", action="store_true", help="skip the .dbn.zst copy")
    ap.add_argument("--no-verify", action="store_true", help="skip reading back with databento")
    ap.add_argument("--force", action="store_true", help="rebuild even if the output exists")
    args = ap.parse_args(argv)

    stem = args.src.name.split(".")[0].removesuffix("_mbo")
    out = args.out or DEFAULT_OUT_DIR / f"{stem}_x{args.copies}.dbn"
    zst = out.with_name(out.name + ".zst")
    if out.exists() and (args.no_zstd or zst.exists()) and not args.force:
        print(f"{out} exists (use --force to rebuild)")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data, n = build(args.src, args.copies)
    write_atomic(out, data)
    print(f"wrote {out}: {n:,} records, {len(data):,} bytes ({time.perf_counter() - t0:.1f} s)")
    if not args.no_zstd:
        import zstandard

        write_atomic(zst, zstandard.ZstdCompressor(level=3, threads=-1).compress(data))
        print(f"wrote {zst}: {zst.stat().st_size:,} bytes")
    if not args.no_verify:
        verify(out, n)
        if not args.no_zstd:
            verify(zst, n)
        print("verified with databento.DBNStore.from_file: record count, ts_recv order")
    return 0


if __name__ == "__main__":
    sys.exit(main())
