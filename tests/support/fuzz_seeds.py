"""Seed inputs for fuzzing the decoders, generated at run time (never stored): the heads of the
sample files and simulated sessions, as plain DBN. Used by tests/test_fuzz.py (hypothesis) and
rust/fuzz/seed_corpus.py (the cargo-fuzz corpus)."""

from __future__ import annotations

from pathlib import Path

import mbo_fast
from dbn_builder import metadata_bytes, records_body_offset, zstd_compress

SEED_RECORDS = 300  # records kept from each seed: small inputs, many runs


def head(plain: bytes, records: int = SEED_RECORDS, record_len: int = 56) -> bytes:
    """Metadata and the first `records` records of a plain DBN stream."""
    return plain[: records_body_offset(plain) + records * record_len]


def with_ts_out(plain: bytes) -> bytes:
    """The same records as a ts_out stream: 64-byte records (an 8-byte send time appended)."""
    body = plain[records_body_offset(plain) :]
    out = [metadata_bytes(3, ts_out=True)]
    for i in range(0, len(body), 56):
        out.append(bytes([64 // 4]) + body[i + 1 : i + 56] + (1_000 + i).to_bytes(8, "little"))
    return b"".join(out)


def simulated() -> bytes:
    """A simulated session's head: DBN v3, two instruments, pre-open, auction and trading."""
    data = mbo_fast.simulate(seed=1, records=2_000, instruments=2)
    assert isinstance(data, bytes)
    return head(data)


def clx5_head(path: Path) -> bytes:
    """DBN v3 as Databento writes it (starts mid-session)."""
    return head(path.read_bytes())


def esh4_head(path: Path) -> bytes:
    """DBN v1 (zstd on disk) with symbol mappings in its metadata; starts with a snapshot."""
    import zstandard

    data = b""
    with path.open("rb") as fh, zstandard.ZstdDecompressor().stream_reader(fh) as reader:
        while len(data) < 1 << 16 and (more := reader.read(1 << 16)):
            data += more
    return head(data)


def all_seeds(data_dir: Path) -> dict[str, bytes]:
    """Every seed whose source is at hand, plain and zstd-compressed."""
    seeds = {"simulated": simulated()}
    seeds["simulated-ts-out"] = with_ts_out(seeds["simulated"])
    for name, fn, file in (
        ("clx5", clx5_head, "CLX5_mbo.dbn"),
        ("esh4", esh4_head, "esh4-glbx-mdp3-20231225.mbo.dbn.zst"),
    ):
        if (data_dir / file).is_file():
            seeds[name] = fn(data_dir / file)
    for name in list(seeds):
        seeds[f"{name}.zst"] = zstd_compress(seeds[name])
    return seeds
