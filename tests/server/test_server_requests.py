"""Request parsing: one strict syntax for integers (ASCII digits, a '-' only where negative
values exist) in query parameters, Last-Event-ID, `from` and times in ns; empty values are 400s;
JSON bodies nested beyond the decoder's depth are a 400, not a 500 with a traceback.

Runs on a small simulated session (instrument 1, publisher 1, 3,000 records): no sample data."""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import require_core

require_core()

from mbo_fast_server import Config, create_app  # noqa: E402
from mbo_fast_server.routes import ParamError, parse_int  # noqa: E402
from server_helpers import ready  # noqa: E402

BOOK = "/api/v1/book?instrument_id=1"
STREAM = "/api/v1/stream?instrument_id=1&speed=max&depth=1"


@pytest.fixture
async def sim_client(aiohttp_client: Any, tmp_path: Path) -> Any:
    cfg = Config(data_dir=str(tmp_path), sim_records=3000, port=0, frame_rate=100.0)
    app = create_app(cfg)
    client = await aiohttp_client(app)
    await ready(app)
    return client


async def answer(client: Any, url: str, status: int, **kw: Any) -> dict[str, Any]:
    resp = await client.get(url, **kw)
    if resp.status != status:  # (an SSE stream's body never ends: do not read it)
        resp.close()
        pytest.fail(f"{url}: {resp.status}, expected {status}")
    body: dict[str, Any] = await asyncio.wait_for(resp.json(), 30)
    return body


# Each form Python's int() (or float()) takes and the server must not.
NOT_DIGITS = [
    "\u0663",  # ARABIC-INDIC DIGIT THREE: int() -> 3
    "\uff11\uff10",  # FULLWIDTH 1 0: int() -> 10
    "\u0967\u0968",  # DEVANAGARI 1 2
    "+5",
    "1_000",
    " 5",
    "5 ",
    "0x10",
    "1e3",
    "5.0",
]


@pytest.mark.parametrize("raw", NOT_DIGITS)
@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        (BOOK + "&index={}", "index"),
        (BOOK + "&depth={}", "depth"),
        (BOOK + "&ts={}", "ts"),
        ("/api/v1/book?instrument_id={}", "instrument_id"),
        ("/api/v1/trades?instrument_id=1&limit={}", "limit"),
        ("/api/v1/records?after={}", "after"),
        ("/api/v1/sim/orders?index={}", "index"),
        ("/api/v1/consolidated?instrument_id=1&index={}", "index"),
        (STREAM + "&from={}", "from"),
    ],
)
async def test_only_ascii_digits_are_integers(
    sim_client: Any, url: str, parameter: str, raw: str
) -> None:
    from urllib.parse import quote

    body = await answer(sim_client, url.format(quote(raw)), 400)
    assert body["parameter"] == parameter


# (blanks around a header value are not part of it: HTTP strips them)
@pytest.mark.parametrize("raw", [*NOT_DIGITS[:5], "0x10", "1e3", "-5", "5-", "--1", "\u0663\u0663"])
async def test_last_event_id_is_a_plain_integer(sim_client: Any, raw: str) -> None:
    body = await answer(sim_client, STREAM, 400, headers={"Last-Event-ID": raw})
    assert body["parameter"] == "Last-Event-ID"


async def test_well_formed_values_still_work(sim_client: Any) -> None:
    assert (await answer(sim_client, BOOK + "&index=0012&depth=3", 200))["index"] == 12
    page = await answer(sim_client, "/api/v1/records?after=-1&limit=2", 200)
    assert [r["index"] for r in page["items"]] == [0, 1]
    assert (await answer(sim_client, "/api/v1/records?after=-0&limit=1", 200))["items"]
    resp = await sim_client.get(STREAM, headers={"Last-Event-ID": "-1"})
    assert resp.status == 200
    resp.close()
    resp = await sim_client.get(STREAM + "&from=10")
    assert resp.status == 200
    resp.close()
    resp = await sim_client.get("/api/v1/stream?instrument_id=1&speed=0.5")
    assert resp.status == 200
    resp.close()


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        (BOOK + "&index=-1", "index"),
        (BOOK + "&index=-0", "index"),
        ("/api/v1/records?after=-2", "after"),
        ("/api/v1/records?after=99999999999999999999999", "after"),
        (BOOK + "&index=" + "9" * 5000, "index"),
        (STREAM + "&speed=\u0661", "speed"),
        (STREAM + "&speed=1_0", "speed"),
        (STREAM + "&speed=nan", "speed"),
        (STREAM + "&speed=MAX", "speed"),
        (BOOK + "&ts=2024-01-01T00:00:0%D9%A3", "ts"),
        (BOOK + "&orders=True", "orders"),
        (BOOK + "&orders=1", "orders"),
    ],
)
async def test_out_of_range_and_near_misses(sim_client: Any, url: str, parameter: str) -> None:
    assert (await answer(sim_client, url, 400))["parameter"] == parameter


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        (BOOK + "&index=", "index"),
        (BOOK + "&depth=", "depth"),
        (BOOK + "&ts=", "ts"),
        (BOOK + "&orders=", "orders"),
        ("/api/v1/book?instrument_id=", "instrument_id"),
        ("/api/v1/bbo?instrument_id=1&start=", "start"),
        ("/api/v1/bbo?instrument_id=1&after=", "after"),
        ("/api/v1/sim/orders?index=", "index"),
        ("/api/v1/export?source=", "source"),
        ("/api/v1/consolidated?instrument_id=1&depth=", "depth"),
        (STREAM + "&from=", "from"),
        ("/api/v1/stream?instrument_id=1&speed=", "speed"),
    ],
)
async def test_an_empty_value_is_a_400_not_a_default(
    sim_client: Any, url: str, parameter: str
) -> None:
    body = await answer(sim_client, url, 400)
    assert body["parameter"] == parameter and "empty value" in body["error"]


async def test_an_empty_last_event_id_is_a_400(sim_client: Any) -> None:
    body = await answer(sim_client, STREAM, 400, headers={"Last-Event-ID": ""})
    assert body["parameter"] == "Last-Event-ID"


@given(st.text(max_size=30))
def test_parse_int_takes_exactly_ascii_digits(raw: str) -> None:
    try:
        value = parse_int("x", raw, lo=-1, hi=10**30)
    except ParamError:
        assert not re.fullmatch(r"-?[0-9]{1,20}", raw, re.ASCII) or int(raw) < -1
        return
    assert re.fullmatch(r"-?[0-9]+", raw, re.ASCII) and value == int(raw)


def test_every_unicode_digit_but_ascii_is_refused() -> None:
    others = [c for c in map(chr, range(0x110000)) if unicodedata.decimal(c, None) is not None]
    others = [c for c in others if not "0" <= c <= "9"]
    assert len(others) > 600  # every script's digits: int() takes them all
    for c in others:
        with pytest.raises(ParamError):
            parse_int("x", c * 2)


# --------------------------------------------------------------------------------------------
# JSON bodies


def _post(client: Any, data: bytes | str) -> Any:
    return client.post(
        "/api/v1/sim/orders", data=data, headers={"Content-Type": "application/json"}
    )


@pytest.mark.parametrize(
    "body",
    ["[" * 30_000, '{"a":' * 12_000, "[" * 30_000 + "]" * 30_000],
    ids=["arrays", "objects", "closed"],
)
async def test_deeply_nested_json_is_a_400_without_a_traceback(
    sim_client: Any, body: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        resp = await _post(sim_client, body)
        doc = await resp.json()
    assert resp.status == 400 and "nests too deeply" in doc["error"], doc
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert (await answer(sim_client, "/api/v1/sim/orders", 200))["orders"] == []


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b"{", "not JSON"),
        (b"", "not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"x"', "must be a JSON object"),
        (b'{"instrument_id": 1e400}', "instrument_id"),
    ],
)
async def test_bad_bodies_are_400s(sim_client: Any, data: bytes, why: str) -> None:
    resp = await _post(sim_client, data)
    doc = await resp.json()
    assert resp.status == 400 and (why in doc["error"] or doc["parameter"] == why), doc


async def test_a_body_over_max_request_bytes_is_a_413(sim_client: Any) -> None:
    resp = await _post(sim_client, b"[" + b"1," * 40_000 + b"1]")
    assert resp.status == 413 and "max_request_bytes" in (await resp.json())["error"]


# --------------------------------------------------------------------------------------------
# what the HTTP parser refuses


def test_a_malformed_request_is_not_an_error_traceback() -> None:
    """aiohttp logs a request its parser refuses as an error with a traceback (any client could
    fill the log that way): it becomes one debug line, shown only at debug level."""
    from aiohttp.http_exceptions import BadStatusLine, LineTooLong

    from mbo_fast_server.logs import ClientHttpErrors, setup_logging

    def record(exc: BaseException) -> logging.LogRecord:
        return logging.LogRecord(
            "aiohttp.server",
            logging.ERROR,
            __file__,
            1,
            "Error handling request from %s",
            ("127.0.0.1",),
            (type(exc), exc, None),
        )

    server_logger = logging.getLogger("aiohttp.server")
    ours_logger = logging.getLogger("mbo_fast_server")
    saved = (server_logger.handlers[:], server_logger.filters[:], server_logger.propagate)
    saved_ours = (ours_logger.handlers[:], ours_logger.level, ours_logger.propagate)
    try:
        setup_logging("info")
        assert any(isinstance(f, ClientHttpErrors) for f in server_logger.filters)
        too_long = record(LineTooLong("x" * 9000, "8190"))
        assert server_logger.filter(too_long) is False  # dropped at info level
        setup_logging("debug")
        line = record(BadStatusLine("GARBAGE"))
        assert server_logger.filter(line) and line.levelno == logging.DEBUG
        assert line.exc_info is None and "malformed" in line.getMessage()
        ours = record(RuntimeError("a bug of ours"))
        assert server_logger.filter(ours) and ours.levelno == logging.ERROR and ours.exc_info
    finally:
        server_logger.handlers[:], server_logger.filters[:], server_logger.propagate = saved
        ours_logger.handlers[:], ours_logger.level, ours_logger.propagate = saved_ours
