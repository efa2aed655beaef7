"""The OpenAPI document is complete and exact: every route of the app is in it, and schemathesis
drives a real `mbo-fast serve` (a simulated session: no sample data needed) with positive and
negative examples of every operation, checking each answer: no 5xx, a documented status, the
documented content type, headers and JSON Schema, and every schema-invalid request rejected.

Bounded: a few examples per operation (SCHEMA_EXAMPLES, default 12) and a small session, so the
whole run takes well under a minute; SSE answers are read for at most a few events."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from core import require_core

require_core()
schemathesis = pytest.importorskip("schemathesis")
from schemathesis import checks as st_checks  # noqa: E402

from mbo_fast_server import Config, create_app  # noqa: E402
from mbo_fast_server.config import load_config  # noqa: E402
from mbo_fast_server.docs import build  # noqa: E402

EXAMPLES = int(os.environ.get("SCHEMA_EXAMPLES", "12"))
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
    st_checks.response_headers_conformance,
    st_checks.negative_data_rejection,
    st_checks.unsupported_method,
    st_checks.missing_required_header,
    st_checks.allow_header_conformance,
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


# The server's settings: a 3,000-record simulated session, depth at most 20 (an export of the
# whole session stays small). The schema under test is the document for exactly this
# configuration, and the served one must equal it.
PORT = _free_port()
SERVER_ENV = {
    "MBO_HOST": "127.0.0.1",
    "MBO_PORT": str(PORT),
    "MBO_SIM_RECORDS": "3000",
    "MBO_MAX_DEPTH": "20",
    "MBO_LOG_LEVEL": "info",
    "MBO_FRAME_RATE": "100",
    "MBO_STATUS_EVERY_S": "0.05",  # SSE answers reach their few events at once
}
BASE = f"http://127.0.0.1:{PORT}"
schema = schemathesis.openapi.from_dict(
    build(load_config({}, env=SERVER_ENV)),
    config=schemathesis.Config.from_dict(
        {
            "base-url": BASE,
            "seed": 22,
            "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": True},
            "phases": {"stateful": {"enabled": False}},
            "max-stream-events": 3,
            "request-timeout": 10,
        }
    ),
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mbo-fast serve` with SERVER_ENV; its base URL. Its log must hold no traceback and no
    error line."""
    data = tmp_path_factory.mktemp("schema-data")
    exe = Path(sys.executable).with_name("mbo-fast")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "mbo_fast.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MBO_")}
    env.update(SERVER_ENV, MBO_DATA_DIR=str(data))
    log_path = data / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([*cmd, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        base = BASE
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"server exited {proc.returncode}: {log_path.read_text()}")
                try:
                    if _status(base + "/readyz") == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail("server not ready within 60 s")
                time.sleep(0.1)
            yield base
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    text = log_path.read_text()
    assert "Traceback" not in text and '"level": "error"' not in text, text[-4000:]


def test_the_served_document_is_the_one_tested(server: str) -> None:
    import json

    with urllib.request.urlopen(server + "/api/v1/openapi.json", timeout=5) as resp:
        served = json.loads(resp.read())
    assert served == json.loads(json.dumps(schema.raw_schema))


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_conforms(server: str, case: Any) -> None:
    _reach(case)
    response = case.call()
    if _refused_by_the_http_parser(response):
        return
    case.validate_response(response, checks=CHECKS)


HTTP_LINE_LIMIT = 8190  # aiohttp's limit on the request line and on each header line


def _refused_by_the_http_parser(response: Any) -> bool:
    """A request line or header over aiohttp's limit is refused before any route with a plain
    400 (no operation answers it, so no schema applies; the document's description says so):
    check exactly that, and that nothing else answers that way."""
    if "x-request-id" in {k.lower() for k in response.headers}:
        return False
    request = response.request
    target = request.path_url.encode()
    long_header = any(
        len(k) + len(str(v)) + 2 > HTTP_LINE_LIMIT for k, v in request.headers.items()
    )
    assert len(target) > HTTP_LINE_LIMIT - 20 or long_header, (response.status_code, target[:200])
    ctype = {k.lower(): v for k, v in response.headers.items()}["content-type"]
    assert response.status_code == 400 and "text/plain" in str(ctype)
    return True


# The ids that exist in the simulated session (instrument 1 of publisher 1, source 0, stored
# source 1, 3,000 records): schema-valid random ids are almost never these, so every other
# positive case gets them, to go past the lookups into the handlers' real work.
KNOWN = {"instrument_id": 1, "publisher_id": 1, "source": 1}
RECORDS = int(SERVER_ENV["MBO_SIM_RECORDS"])


def _reach(case: Any) -> None:
    meta = getattr(case, "_meta", None)
    if meta is None or "positive" not in str(meta.generation.mode).lower():
        return
    seed = zlib.crc32(repr((case.method, case.path, case.query, case.body)).encode())
    if seed % 2:
        return
    for container in (case.query, case.body if isinstance(case.body, dict) else None):
        if not container:
            continue
        for name, value in KNOWN.items():
            if name in container or name == "instrument_id":
                container[name] = value
        if "index" in container:
            container["index"] = seed % RECORDS


def test_every_route_is_documented(tmp_path: Path) -> None:
    """Each (method, path) the app serves is in the document, and nothing else is (HEAD comes
    with GET; the UI's static files are not API)."""
    cfg = Config(data_dir=str(tmp_path))
    app = create_app(cfg)
    served = {
        (r.method.lower(), r.resource.canonical)
        for r in app.router.routes()
        if r.method != "HEAD" and r.resource is not None
    }
    served.discard(("get", "/static/{path}"))
    doc = build(cfg)
    documented = {(m, p) for p, item in doc["paths"].items() for m in item}
    assert served == documented


def test_every_parameter_is_bounded_and_every_answer_has_a_schema() -> None:
    doc = build(Config())
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for p in op["parameters"]:
                s = p["schema"]
                if s.get("type") == "integer":
                    assert "minimum" in s and "maximum" in s, (path, p["name"])
            for status, resp in op["responses"].items():
                assert "X-Request-Id" in resp["headers"], (path, method, status)
                for media, body in resp["content"].items():
                    if media in ("application/json", "text/event-stream"):
                        assert body.get("schema"), (path, method, status, media)
            if method == "post":
                assert {"413", "415"} <= set(op["responses"]), path
