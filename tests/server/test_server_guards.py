"""Browser-facing guards (server/mbo_fast_server/guards.py): the Host allow-list against DNS
rebinding, JSON-only POST bodies against cross-site forms, and `Server: mbo-fast`.

Runs on a small simulated session (instrument 1): no sample data needed."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from core import require_core

require_core()

from mbo_fast_server import Config, create_app  # noqa: E402
from mbo_fast_server.config import ConfigError, load_config  # noqa: E402
from mbo_fast_server.guards import HostPolicy  # noqa: E402
from server_helpers import ready  # noqa: E402

ORDER = {"instrument_id": 1, "side": "B", "price": 64_800_000_000, "size": 1, "index": 100}


@pytest.fixture
async def make_sim_client(aiohttp_client: Any, tmp_path: Path) -> Any:
    async def make(**over: Any) -> Any:
        fields: dict[str, Any] = {"data_dir": str(tmp_path), "sim_records": 3000, "port": 0}
        app = create_app(Config(**{**fields, **over}))
        client = await aiohttp_client(app)
        await ready(app)
        return client

    return make


# --------------------------------------------------------------------------------------------
# Host


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:8080",
        "LOCALHOST:1",
        "localhost.",
        "127.0.0.1",
        "127.0.0.1:8080",
        "[::1]",
        "[::1]:8080",
        "10.1.2.3:8080",  # a pod IP: what Kubernetes probes send
        "[fe80::1]:80",
    ],
)
def test_loopback_names_and_addresses_are_served(host: str) -> None:
    assert HostPolicy(Config()).allows(host)
    assert HostPolicy(Config(host="0.0.0.0")).allows(host)


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:8080",
        "localhost.evil.example",
        "127.0.0.1.nip.io",
        "evil.localhost.example",
        "::1",  # IPv6 without brackets is not a valid Host
        "[::1",
        "",
        "a b",
        "localhost:80:80",
        "localhost:",
        "loc\u0430lhost",  # a Cyrillic 'a'
    ],
)
def test_other_names_are_refused(host: str) -> None:
    assert not HostPolicy(Config()).allows(host)


def test_allowed_hosts_names_suffixes_and_star() -> None:
    policy = HostPolicy(Config(host="0.0.0.0", allowed_hosts=("mbo.example.com", ".corp.test")))
    assert policy.allows("mbo.example.com:443") and policy.allows("MBO.example.com")
    assert policy.allows("corp.test") and policy.allows("a.b.corp.test:8080")
    assert not policy.allows("xcorp.test") and not policy.allows("example.com")
    assert HostPolicy(Config(allowed_hosts=("*",))).allows("anything.example")
    assert HostPolicy(Config(host="box.lan")).allows("box.lan:8080")  # the bound name


async def test_a_foreign_host_gets_421_everywhere(make_sim_client: Any) -> None:
    client = await make_sim_client()
    for path in ("/healthz", "/api/v1/book?instrument_id=1", "/", "/api/v1/openapi.json"):
        resp = await client.get(path, headers={"Host": "evil.example"})
        body = await resp.json()
        assert resp.status == 421 and body["parameter"] == "Host", (path, body)
        assert "allowed_hosts" in body["error"] and resp.headers["X-Request-Id"]
    resp = await client.post("/api/v1/sim/orders", json=ORDER, headers={"Host": "evil.example"})
    assert resp.status == 421
    resp = await client.get("/api/v1/sim/orders")
    assert (await resp.json())["orders"] == []  # the refused POST did nothing
    for host in ("localhost:9", "127.0.0.1", "[::1]:8080"):
        resp = await client.get("/healthz", headers={"Host": host})
        assert resp.status == 200, host
    metrics = await (await client.get("/metrics")).text()
    assert 'mbo_errors_total{kind="http_421"} 5.0' in metrics


async def test_allowed_hosts_lets_configured_names_in(make_sim_client: Any) -> None:
    client = await make_sim_client(host="0.0.0.0", allowed_hosts=("mbo.example.com",))
    resp = await client.get("/healthz", headers={"Host": "mbo.example.com:8080"})
    assert resp.status == 200
    resp = await client.get("/healthz", headers={"Host": "other.example.com"})
    assert resp.status == 421


def test_allowed_hosts_setting_parses_and_rejects_junk(tmp_path: Path) -> None:
    cfg = load_config({}, env={"MBO_ALLOWED_HOSTS": "mbo.example.com, .Corp.Test  app"})
    assert cfg.allowed_hosts == ("mbo.example.com", ".corp.test", "app")
    assert load_config({}, env={"MBO_ALLOWED_HOSTS": "*"}).allowed_hosts == ("*",)
    assert load_config({}, env={}).allowed_hosts == ()
    toml = tmp_path / "server.toml"
    toml.write_text('allowed_hosts = ["a.example", "b.example"]\n')
    from_file = load_config({}, env={}, config_file=str(toml))
    assert from_file.allowed_hosts == ("a.example", "b.example")
    for bad in ("http://x.example", "x.example/path", "a b!", "x.example:80", "*.example"):
        with pytest.raises(ConfigError, match="allowed_hosts"):
            load_config({}, env={"MBO_ALLOWED_HOSTS": bad})


# --------------------------------------------------------------------------------------------
# JSON bodies only


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "application/jsonx",
        None,
    ],
)
async def test_a_post_that_is_not_json_is_a_415_and_does_nothing(
    make_sim_client: Any, content_type: str | None
) -> None:
    import json

    client = await make_sim_client()
    headers = {} if content_type is None else {"Content-Type": content_type}
    resp = await client.post("/api/v1/sim/orders", data=json.dumps(ORDER).encode(), headers=headers)
    body = await resp.json()
    assert resp.status == 415 and body["parameter"] == "Content-Type", body
    assert (await (await client.get("/api/v1/sim/orders")).json())["orders"] == []


async def test_json_posts_still_work(make_sim_client: Any) -> None:
    client = await make_sim_client()
    for content_type in ("application/json", "application/json; charset=utf-8", "Application/JSON"):
        resp = await client.post(
            "/api/v1/sim/orders", json=ORDER, headers={"Content-Type": content_type}
        )
        assert resp.status == 201, (content_type, await resp.text())
    resp = await client.post("/api/v1/book", data=b"x", headers={"Content-Type": "text/plain"})
    assert resp.status == 405  # no POST there: the method is what is wrong


# --------------------------------------------------------------------------------------------
# Server header


async def test_the_server_header_names_no_versions(make_sim_client: Any) -> None:
    client = await make_sim_client()
    for path in ("/healthz", "/", "/static/app.css", "/api/v1/nope", "/metrics", "/docs"):
        resp = await client.get(path)
        assert resp.headers["Server"] == "mbo-fast", path
    resp = await client.get("/api/v1/stream?instrument_id=1&speed=max&depth=1")
    assert resp.status == 200 and resp.headers["Server"] == "mbo-fast"
    resp.close()
    # a request the HTTP parser refuses before any route
    host, port = client.server.host, client.server.port
    reader, writer = await asyncio.open_connection(host, port, family=socket.AF_INET)
    writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n")
    await writer.drain()
    head = (await asyncio.wait_for(reader.read(4096), 10)).decode()
    writer.close()
    assert head.startswith("HTTP/1.") and " 400 " in head.split("\r\n")[0]
    assert "\r\nServer: mbo-fast\r\n" in head and "aiohttp" not in head and "Python" not in head
