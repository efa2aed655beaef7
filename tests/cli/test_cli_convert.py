"""`mbo-fast convert FILE… --schema S [-o OUT]` (issue 19): DBN files databento reads, the
default output name, and bad input refused (exit status 2) with no file left behind."""

from __future__ import annotations

import os

import pytest

from core import require_core
from dbn_builder import build_dbn, mbp1_dbn
from reference_book import F_LAST, Rec

require_core()  # type: ignore[no-untyped-call]

from mbo_fast import cli  # noqa: E402 - after the skip-if-not-built guard

databento = pytest.importorskip("databento")


def small_stream() -> list[Rec]:
    ts = 1_700_000_000_000_000_000
    px = 100_000_000_000
    records = []
    for i in range(20):
        side = "B" if i % 3 else "A"
        price = px - (i % 5) * 250_000_000 if side == "B" else px + (1 + i % 4) * 250_000_000
        records.append(Rec(ts + i, ts + i, 7, 1, 100 + i, price, 1 + i % 3, F_LAST, "A", side, i))
        if i % 7 == 6:
            records.append(Rec(ts + i, ts + i, 7, 1, 0, price, 1, F_LAST, "T", "A", i))
    return records


def listing(directory) -> list[str]:
    return sorted(os.listdir(directory))


def test_cli_convert_writes_dbn_and_refuses_bad_input(tmp_path, capsys):
    src = tmp_path / "CLX5_mbo.dbn"
    src.write_bytes(build_dbn(small_stream()))
    assert cli.main(["--no-progress", "convert", str(src), "--schema", "mbp-10"]) == 0
    out = tmp_path / "CLX5.mbp-10.dbn"
    assert "wrote" in capsys.readouterr().out
    assert str(databento.DBNStore.from_file(out).schema) == "mbp-10"
    zst = tmp_path / "x.dbn.zst"
    args = ["--no-progress", "convert", str(src), str(src), "--schema", "tbbo", "-o", str(zst)]
    assert cli.main(args) == 0
    assert len(databento.DBNStore.from_file(zst).to_df()) > 0
    with pytest.raises(SystemExit) as exc:
        cli.main(["convert", str(src), "--schema", "mbp-2"])
    assert exc.value.code == 2
    bad = tmp_path / "trades.dbn"
    bad.write_bytes(mbp1_dbn())
    before = listing(tmp_path)
    assert cli.main(["--no-progress", "convert", str(bad), "--schema", "mbp-1"]) == 2
    assert "schema" in capsys.readouterr().err
    assert (
        cli.main(["--no-progress", "convert", str(src), "--schema", "mbp-1", "-o", str(src)]) == 2
    )
    assert listing(tmp_path) == before
