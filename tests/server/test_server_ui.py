"""The web UI's static files: served at / and /static/..., nothing outside the directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server_helpers import make_client  # noqa: F401

pytest.importorskip("mbo_fast")
from mbo_fast_server.ui import STATIC_DIR, resolve_static


async def test_index_and_modules_are_served(make_client: Any) -> None:
    client = await make_client()
    resp = await client.get("/")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert '<script type="module" src="/static/js/main.js">' in await resp.text()
    for path, ctype in (
        ("/static/js/main.js", "text/javascript"),
        ("/static/js/lib/format.js", "text/javascript"),
        ("/static/app.css", "text/css"),
    ):
        resp = await client.get(path)
        assert resp.status == 200, path
        assert resp.headers["Content-Type"].startswith(ctype)
    assert (await client.get("/docs")).status == 200


@pytest.mark.parametrize(
    "path",
    [
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/js/%2e%2e/%2e%2e/app.py",
        "/static/..%2fapp.py",
        "/static/js/..%5c..%5capp.py",
        "/static/.hidden",
        "/static/js/",
        "/static/nope.js",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
    ],
)
async def test_no_path_traversal(make_client: Any, path: str) -> None:
    client = await make_client()
    resp = await client.get(path)
    assert resp.status == 404, path


def test_resolve_static(tmp_path: Path) -> None:
    root = tmp_path / "static"
    (root / "js").mkdir(parents=True)
    (root / "js" / "a.js").write_text("x")
    (root / "notes.txt").write_text("x")
    (tmp_path / "secret.js").write_text("x")
    (root / "js" / "link.js").symlink_to(tmp_path / "secret.js")
    assert resolve_static(root, "js/a.js") == (root / "js" / "a.js").resolve()
    for bad in (
        "../secret.js",
        "js/../../secret.js",
        "js/link.js",
        "notes.txt",
        "",
        "/js/a.js",
        "js\\a.js",
        "js/.a.js",
        "js//a.js",
        "js/a.js\x00",
    ):
        assert resolve_static(root, bad) is None, bad
    assert (STATIC_DIR / "index.html").is_file()
