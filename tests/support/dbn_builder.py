"""Build DBN MBO byte streams from record tuples, and load the real sample files as tuples.

The metadata header comes from `databento_dbn.Metadata(...)`; the 56-byte MBO records are
packed through the core's record layout, `mbo_fast.records.MBO_DTYPE` (the same in DBN v1, v2 and
v3), with the 8-byte ts_out appended when asked. Packing by hand lets tests write action/side
bytes that `databento_dbn.MBOMsg` refuses (unknown actions, odd sides).
`tests/test_reference_model.py` checks that re-packing a real file reproduces its bytes.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

import databento_dbn as dbn
import numpy as np

from reference_book import Rec


@functools.cache
def record_dtype(ts_out: bool = False) -> np.dtype:
    """The MBO record as the core lays it out; with `ts_out`, the 8-byte send time appended (64
    bytes). Imported on first use: conftest imports this module before the guard that skips the
    tests when the core is not built."""
    from mbo_fast.records import MBO_DTYPE

    if not ts_out:
        return MBO_DTYPE
    names = list(MBO_DTYPE.names)
    return np.dtype(
        {
            "names": [*names, "ts_out"],
            "formats": [MBO_DTYPE.fields[n][0] for n in names] + ["<u8"],
            "offsets": [MBO_DTYPE.fields[n][1] for n in names] + [MBO_DTYPE.itemsize],
            "itemsize": MBO_DTYPE.itemsize + 8,
        }
    )


def metadata_bytes(
    version: int = 3,
    schema: dbn.Schema = dbn.Schema.MBO,
    *,
    dataset: str = "GLBX.MDP3",
    start: int = 0,
    ts_out: bool = False,
) -> bytes:
    """An encoded DBN metadata header (`DBN` + version + u32 length + metadata)."""
    meta = dbn.Metadata(
        dataset=dataset,
        start=start,
        stype_in=dbn.SType.RAW_SYMBOL,
        stype_out=dbn.SType.INSTRUMENT_ID,
        schema=schema,
        symbols=[],
        ts_out=ts_out,
        version=version,
    )
    return bytes(meta)


def _code(v: str | bytes | int) -> int:
    """An action/side field: a 1-character str (latin-1), a single byte, or its value."""
    if isinstance(v, int):
        return v
    raw = v.encode("latin-1") if isinstance(v, str) else bytes(v)
    if len(raw) != 1:
        raise ValueError(f"an action or side is one byte, got {v!r}")
    return raw[0]


def pack_records(records: Sequence[Rec], ts_out: Sequence[int] | None = None) -> bytes:
    """MBO records (56 bytes each, or 64 with each one's trailing `ts_out`)."""
    from mbo_fast.records import MBO_RTYPE

    dtype = record_dtype(ts_out is not None)
    out = np.zeros(len(records), dtype=dtype)
    out["length"] = dtype.itemsize // 4  # DBN record lengths count 4-byte words
    out["rtype"] = MBO_RTYPE
    for name, column in zip(Rec._fields, zip(*records)):
        out[name] = [_code(v) for v in column] if name in ("action", "side") else column
    if ts_out is not None:
        out["ts_out"] = ts_out
    return out.tobytes()


def pack_record(rec: Rec, *, ts_out: int | None = None) -> bytes:
    """One MBO record (56 bytes, or 64 with a trailing ts_out)."""
    return pack_records([rec], None if ts_out is None else [ts_out])


def build_dbn(
    records: Iterable[Rec], *, version: int = 3, ts_out: bool = False, zstd: bool = False
) -> bytes:
    """DBN bytes (metadata + records) for `records`; optionally zstd-compressed."""
    rows = list(records)
    stamps = [rec.ts_recv for rec in rows] if ts_out else None
    data = metadata_bytes(version, ts_out=ts_out) + pack_records(rows, stamps)
    if zstd:
        data = zstd_compress(data)
    return data


def zstd_compress(data: bytes) -> bytes:
    """zstd frame of `data` (via the `zstandard` package that `databento` depends on)."""
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


def mbp1_dbn(count: int = 3, *, version: int = 3) -> bytes:
    """A valid DBN stream of another schema (MBP-1) for schema-rejection tests."""
    parts = [metadata_bytes(version, dbn.Schema.MBP_1)]
    for i in range(count):
        msg = dbn.MBP1Msg(
            publisher_id=1,
            instrument_id=7,
            ts_event=1_000 + i,
            price=100_000_000_000,
            size=1,
            action=dbn.Action.TRADE,
            side=dbn.Side.BID,
            depth=0,
            ts_recv=2_000 + i,
            flags=0x80,
            sequence=i,
        )
        parts.append(bytes(msg)[: msg.record_size()])
    return b"".join(parts)


def trades_dbn(count: int = 3, *, version: int = 3) -> bytes:
    """A valid DBN stream of the trades schema."""
    parts = [metadata_bytes(version, dbn.Schema.TRADES)]
    for i in range(count):
        msg = dbn.TradeMsg(
            publisher_id=1,
            instrument_id=7,
            ts_event=1_000 + i,
            price=100_000_000_000,
            size=1,
            action=dbn.Action.TRADE,
            side=dbn.Side.ASK,
            depth=0,
            ts_recv=2_000 + i,
            flags=0x80,
            sequence=i,
        )
        parts.append(bytes(msg)[: msg.record_size()])
    return b"".join(parts)


def load_records(path: str | Path) -> list[Rec]:
    """Every MBO record of a DBN file (plain or zstd) as `Rec`s (action/side as 1-char str)."""
    import databento

    arr = databento.DBNStore.from_file(str(path)).to_ndarray()
    actions = [a.decode("latin-1") for a in arr["action"].tolist()]
    sides = [s.decode("latin-1") for s in arr["side"].tolist()]
    return [
        Rec(*row)
        for row in zip(
            arr["ts_recv"].tolist(),
            arr["ts_event"].tolist(),
            arr["instrument_id"].tolist(),
            arr["publisher_id"].tolist(),
            arr["order_id"].tolist(),
            arr["price"].tolist(),
            arr["size"].tolist(),
            arr["flags"].tolist(),
            actions,
            sides,
            arr["sequence"].tolist(),
            arr["channel_id"].tolist(),
            arr["ts_in_delta"].tolist(),
        )
    ]


def records_body_offset(data: bytes) -> int:
    """Byte offset of the first record in plain (uncompressed) DBN bytes."""
    if data[:3] != b"DBN":
        raise ValueError("not plain DBN")
    (meta_len,) = struct.unpack_from("<I", data, 4)
    return 8 + meta_len


def _char(value) -> str:
    """databento_dbn gives Action/Side enums for known bytes and plain str for others."""
    return value if isinstance(value, str) else value.value


def decode_records(data: bytes) -> list[Rec]:
    """Decode DBN MBO bytes (plain or zstd) with `databento_dbn.DBNDecoder` (checks the builder)."""
    if data[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        data = zstandard.ZstdDecompressor().stream_reader(data).read()
    decoder = dbn.DBNDecoder()
    decoder.write(data)
    out = []
    for msg in decoder.decode()[1:]:  # [0] is the Metadata
        out.append(
            Rec(
                msg.ts_recv,
                msg.ts_event,
                msg.instrument_id,
                msg.publisher_id,
                msg.order_id,
                msg.price,
                msg.size,
                int(msg.flags),
                _char(msg.action),
                _char(msg.side),
                msg.sequence,
                msg.channel_id,
                msg.ts_in_delta,
            )
        )
    return out


def zstd_bomb(head: bytes, zeros: int) -> bytes:
    """A zstd frame decompressing to `head` then `zeros` zero bytes, built from RLE blocks (4
    bytes per 128 KiB): gigabytes of output in a few hundred KiB, with no compression to run."""
    block = 128 << 10

    def header(last: bool, kind: int, size: int) -> bytes:
        return (int(last) | kind << 1 | size << 3).to_bytes(3, "little")

    # magic; frame header: no content size, window 2^17 (128 KiB), no checksum
    out = [b"\x28\xb5\x2f\xfd\x00" + bytes([7 << 3]), header(zeros == 0, 0, len(head)), head]
    full, rest = divmod(zeros, block)
    sizes = [block] * full + ([rest] if rest else [])
    for i, n in enumerate(sizes):
        out.append(header(i == len(sizes) - 1, 1, n) + b"\x00")  # an RLE block of n zeros
    return b"".join(out)
