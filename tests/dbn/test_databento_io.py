"""Databento adapters with the client replaced at its boundary (this machine cannot reach
Databento): `requests.post` inside the real `databento.Historical` client (so the real client
validates our arguments and writes the file), or `databento.Historical` itself."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest

import mbo_fast
from mbo_fast import cli, databento_io
from mbo_fast.databento_io import DatabentoError
from server_helpers import make_config

databento = pytest.importorskip("databento")
import databento.common.http as bento_http  # noqa: E402

from mbo_fast_server import create_app  # noqa: E402
from mbo_fast_server.config import ConfigError, load_config  # noqa: E402
from mbo_fast_server.logs import JsonFormatter  # noqa: E402
from mbo_fast_server.state import STATE  # noqa: E402

KEY = "db-TESTKEY0123456789abcdef"


@pytest.fixture(scope="module")
def dbn_zst() -> bytes:
    data = mbo_fast.simulate(seed=7, records=2_000, zstd=True)
    assert isinstance(data, bytes) and data[:4] == b"\x28\xb5\x2f\xfd"
    return data


class FakeResponse:
    """What `requests.post(..., stream=True)` gives the client: status, headers, body chunks."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}
        self.content = body

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def iter_content(self, chunk_size: int = 1) -> Any:
        for i in range(0, len(self.content), 4096):
            yield self.content[i : i + 4096]

    def json(self) -> Any:
        return json.loads(self.content)


class FakeNet:
    """Stands in for `requests.post` under the real client: records each request and answers
    with `reply` (status, body): by default the zstd DBN session."""

    def __init__(self, body: bytes) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reply = (200, body)

    def post(self, url: str, **kw: Any) -> FakeResponse:
        self.requests.append({"url": url, **kw})
        return FakeResponse(*self.reply)

    def fail_with(self, status: int, detail: str) -> None:
        self.reply = (status, json.dumps({"detail": detail}).encode())


@pytest.fixture
def http(monkeypatch: pytest.MonkeyPatch, dbn_zst: bytes) -> FakeNet:
    net = FakeNet(dbn_zst)
    monkeypatch.setattr(bento_http.requests, "post", net.post)
    return net


def test_fetch_through_the_real_client(
    http: FakeNet, tmp_path: Path, dbn_zst: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBN_KEY", KEY)
    out = databento_io.fetch(
        "GLBX.MDP3", "CLZ5, CLF6", "2025-10-01", "2025-10-02", tmp_path / "sub" / "o.dbn.zst"
    )
    assert out == tmp_path / "sub" / "o.dbn.zst"
    assert out.read_bytes() == dbn_zst
    assert [p.name for p in out.parent.iterdir()] == ["o.dbn.zst"]  # no partial file left
    (req,) = http.requests
    assert req["url"].endswith("/timeseries.get_range")
    assert req["auth"].username == KEY
    data = req["data"]
    assert data["dataset"] == "GLBX.MDP3" and data["schema"] == "mbo"
    assert data["symbols"] == "CLZ5,CLF6" and data["stype_in"] == "raw_symbol"
    assert data["start"].startswith("2025-10-01") and data["end"].startswith("2025-10-02")
    assert mbo_fast.info(out)["records"] == len(mbo_fast.Replay(out))  # readable as is


def test_symbology_follows_the_form_of_the_symbols() -> None:
    assert databento_io.stype_for("ESH4, CLZ5") == "raw_symbol"
    assert databento_io.stype_for(["ES.FUT", "CL.OPT"]) == "parent"
    assert databento_io.stype_for("ES.c.0,CL.n.1,NQ.v.12") == "continuous"
    assert databento_io.stype_for("42005347") == "instrument_id"
    assert databento_io.stype_for("ES.c") == "raw_symbol"  # not a rank: left to Databento
    with pytest.raises(DatabentoError, match="different kinds"):
        databento_io.stype_for("ES.FUT,ESH4")


def test_fetch_reads_parent_and_continuous_symbols_as_such(
    http: FakeNet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBN_KEY", KEY)
    databento_io.fetch("GLBX.MDP3", "ES.FUT", "2025-10-01", "2025-10-02", tmp_path / "p.dbn.zst")
    databento_io.fetch("GLBX.MDP3", "ES.c.0", "2025-10-01", "2025-10-02", tmp_path / "c.dbn.zst")
    kw = {"stype_in": "raw_symbol"}
    databento_io.fetch("GLBX.MDP3", "ES.FUT", "2025-10-01", "2025-10-02", tmp_path / "r.zst", **kw)
    sent = [(r["data"]["symbols"], r["data"]["stype_in"]) for r in http.requests]
    assert sent == [("ES.FUT", "parent"), ("ES.c.0", "continuous"), ("ES.FUT", "raw_symbol")]
    with pytest.raises(DatabentoError, match="different kinds"):
        databento_io.fetch("GLBX.MDP3", "ES.FUT ESH4", "2025-10-01", "2025-10-02", tmp_path / "x")
    assert len(http.requests) == 3  # refused before any request


def test_failed_fetch_names_no_key(http: FakeNet, tmp_path: Path) -> None:
    http.fail_with(401, f"bad API key {KEY}")
    with pytest.raises(DatabentoError) as err:
        databento_io.fetch("GLBX.MDP3", "CLZ5", "2025-10-01", "2025-10-02", tmp_path / "o", key=KEY)
    text = str(err.value)
    assert "401" in text and "BentoClientError" in text and KEY not in text and "***" in text
    assert list(tmp_path.iterdir()) == []


def test_no_key_and_no_client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in databento_io.KEY_ENV:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(DatabentoError, match="set DBN_KEY"):
        databento_io.fetch("GLBX.MDP3", "CLZ5", "2025-10-01", "2025-10-02", tmp_path / "o")
    monkeypatch.setitem(sys.modules, "databento", None)  # import databento -> ImportError
    with pytest.raises(DatabentoError, match="pip install databento"):
        databento_io.fetch("GLBX.MDP3", "CLZ5", "2025-10-01", "2025-10-02", tmp_path / "o", key=KEY)
    with pytest.raises(DatabentoError, match="no symbols"):
        databento_io.fetch("GLBX.MDP3", " , ", "2025-10-01", "2025-10-02", tmp_path / "o", key=KEY)
    assert issubclass(DatabentoError, mbo_fast.MboError)


def test_cache_downloads_once(http: FakeNet, tmp_path: Path) -> None:
    a = databento_io.fetch_cached(
        "GLBX.MDP3", "CLZ5,CLF6", "2025-10-01", "2025-10-02", tmp_path, key=KEY
    )
    b = databento_io.fetch_cached(
        "GLBX.MDP3", ["CLF6", "CLZ5"], "2025-10-01", "2025-10-02", tmp_path
    )
    assert a == b and a.parent == tmp_path and a.name.endswith(".dbn.zst")
    assert len(http.requests) == 1  # the second call needed neither the network nor a key
    other = databento_io.cache_path(tmp_path, "GLBX.MDP3", "CLZ5,CLF6", "2025-10-01", "2025-10-03")
    assert other != a


def test_cli_fetch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clx5_path: Path, capsys: Any
) -> None:
    """`mbo-fast fetch` with `databento.Historical` itself replaced: writes a real DBN file."""
    seen: list[dict[str, Any]] = []

    class Timeseries:
        def get_range(self, **kw: Any) -> None:
            seen.append(kw)
            Path(kw["path"]).write_bytes(clx5_path.read_bytes())

    class Historical:
        def __init__(self, key: str) -> None:
            seen.append({"key": key})
            self.timeseries = Timeseries()

    monkeypatch.setattr(databento, "Historical", Historical)
    monkeypatch.setenv("DBN_KEY", KEY)
    out = tmp_path / "clx5.dbn.zst"
    argv = ["fetch", "--dataset", "GLBX.MDP3", "--symbols", "CLX5", "--start", "2025-10-01"]
    assert cli.main([*argv, "--end", "2025-10-02", "-o", str(out)]) == 0
    assert out.read_bytes() == clx5_path.read_bytes()
    assert seen[0] == {"key": KEY}
    assert seen[1]["schema"] == "mbo" and seen[1]["symbols"] == ["CLX5"]
    assert seen[1]["stype_in"] == "raw_symbol"  # auto: CLX5 has the form of a raw symbol
    assert str(out) in capsys.readouterr().out
    monkeypatch.delenv("DBN_KEY")
    monkeypatch.delenv("DATABENTO_API_KEY", raising=False)
    assert cli.main([*argv, "--end", "2025-10-02", "-o", str(tmp_path / "x")]) == 2
    assert "set DBN_KEY" in capsys.readouterr().err


def test_config_forms(tmp_path: Path) -> None:
    want = ("GLBX.MDP3", "CLZ5,CLF6", "2025-10-01", "2025-10-02")
    env = {"MBO_DATABENTO": "GLBX.MDP3 CLZ5,CLF6 2025-10-01 2025-10-02"}
    assert load_config(env=env).databento == want
    assert load_config({"databento": list(want)}, env={}).databento == want
    toml = tmp_path / "s.toml"
    toml.write_text(
        '[server.databento]\ndataset = "GLBX.MDP3"\nsymbols = ["CLZ5", "CLF6"]\n'
        'start = "2025-10-01"\nend = "2025-10-02"\n'
    )
    assert load_config(env={}, config_file=str(toml)).databento == want
    assert load_config(env={}).databento == ()
    args = cli.build_parser().parse_args(["serve", "--databento", *want])
    assert load_config({"databento": args.databento}, env={}).databento == want
    for bad in ("GLBX.MDP3 CLZ5 2025-10-01", "a b c d e"):
        with pytest.raises(ConfigError, match="MBO_DATABENTO"):
            load_config(env={"MBO_DATABENTO": bad})
    live = "databento:GLBX.MDP3:ES.c.0,NQ.c.0"
    assert load_config({"live": live}, env={}).live == live
    with pytest.raises(ConfigError, match="of one kind"):  # one session, one symbology
        load_config({"live": "databento:GLBX.MDP3:ES.FUT,ESH4"}, env={})
    toml.write_text('[server.databento]\ndataset = "GLBX.MDP3"\nsymbol = "CLZ5"\n')
    with pytest.raises(ConfigError, match="missing: symbols, start, end"):
        load_config(env={}, config_file=str(toml))


@pytest.fixture
def server_log() -> Any:
    """Every line the server logs (info and up), formatted as in production (JSON)."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("mbo_fast_server")
    level = logger.level
    logger.setLevel(logging.INFO)  # setLevel, not the attribute: it clears the loggers' caches
    logger.addHandler(handler)
    yield buf
    logger.removeHandler(handler)
    logger.setLevel(level)


async def test_server_fetches_into_the_cache_once(
    http: FakeNet,
    aiohttp_client: Any,
    tmp_path: Path,
    clx5_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DBN_KEY", KEY)
    request = ("GLBX.MDP3", "SIM", "2025-10-01", "2025-10-02")
    for db in ("a.sqlite3", "b.sqlite3"):  # a restart with the same data_dir: no new download
        cfg = make_config(clx5_path, tmp_path / db, files=(), databento=request)
        client = await aiohttp_client(create_app(cfg))
        state = client.app[STATE]
        await asyncio.wait_for(state.loaded.wait(), 30)
        assert state.load_error is None, state.load_error
        (src,) = (await (await client.get("/api/v1/sources")).json())["sources"]
        assert src["name"].startswith("databento-GLBX.MDP3-SIM-") and src["records"] > 2_000
        assert (tmp_path / "databento" / src["name"]).is_file()
        await client.close()
    assert len(http.requests) == 1


async def test_failed_server_fetch_logs_no_key(
    http: FakeNet,
    server_log: io.StringIO,
    aiohttp_client: Any,
    tmp_path: Path,
    clx5_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DBN_KEY", KEY)
    http.fail_with(401, f"Authentication failed for key {KEY}")
    cfg = make_config(
        clx5_path,
        tmp_path / "db.sqlite3",
        files=(),
        databento=("GLBX.MDP3", "CLZ5", "2025-10-01", "2025-10-02"),
    )
    client = await aiohttp_client(create_app(cfg))
    state = client.app[STATE]
    await asyncio.wait_for(state.loaded.wait(), 30)
    ready = await client.get("/readyz")
    body = await ready.text()
    await client.close()
    logs = server_log.getvalue()
    assert state.load_error and "401" in state.load_error and KEY not in state.load_error
    assert ready.status == 503 and KEY not in body
    assert "loading failed" in logs and "DatabentoError" in logs and "fetching databento" in logs
    assert KEY not in logs
    logging.getLogger("mbo_fast_server").error("leak %s", KEY)  # the filter behind it all
    assert KEY not in server_log.getvalue() and "leak ***" in server_log.getvalue()
    assert not list((tmp_path / "databento").glob("*.dbn.zst"))
