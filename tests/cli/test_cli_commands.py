"""Commands other packages add to `mbo-fast` (entry-point group `mbo_fast.commands`): the server's
`serve` comes from the server package, the library never imports the server, and a missing or
broken plugin leaves the other commands working and says what to do."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core import require_core

require_core()  # type: ignore[no-untyped-call]

from mbo_fast import cli  # noqa: E402 - after the skip-if-not-built guard

LIBRARY = Path(cli.__file__).resolve().parent


def _server_imports(path: Path) -> list[str]:
    """`file:line` of each import of mbo_fast_server in a Python file: import statements and
    calls of import_module/__import__ with a literal name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0]
            if called in ("import_module", "__import__") and isinstance(arg, ast.Constant):
                names = [str(arg.value)]
        if any(n == "mbo_fast_server" or n.startswith("mbo_fast_server.") for n in names):
            found.append(f"{path.name}:{node.lineno}")
    return found


def test_the_library_never_imports_the_server() -> None:
    sources = sorted(LIBRARY.rglob("*.py"))
    assert LIBRARY / "cli.py" in sources
    found = [hit for path in sources for hit in _server_imports(path)]
    assert found == [], f"python/mbo_fast imports mbo_fast_server at {found}"


def test_the_import_check_finds_an_import(tmp_path: Path) -> None:
    """The check above can fail: each form of import is found."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        textwrap.dedent(
            """
            import mbo_fast_server
            from mbo_fast_server.main import main
            import importlib
            importlib.import_module("mbo_fast_server.main")
            __import__("mbo_fast_server")
            from mbo_fast_serverless import x  # another package
            """
        )
    )
    assert _server_imports(probe) == [f"probe.py:{n}" for n in (2, 3, 5, 6)]


def test_serve_comes_from_the_server_package() -> None:
    from mbo_fast_server import cli as server_cli

    parser = cli.build_parser()
    args = parser.parse_args(["serve", "--port", "0", "--file", "a.dbn", "--file", "b.dbn"])
    assert args.func is server_cli.serve
    assert (args.port, args.files, args.host, args.config) == (0, ["a.dbn", "b.dbn"], None, None)
    assert "HTTP/SSE server over the books" in parser.format_help()


def test_the_cli_works_without_the_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not installed: `serve` is listed with how to get it; calling it says so (status 2)."""
    monkeypatch.setattr(cli, "_command_entry_points", list)  # no plugin installed
    for name in ("mbo_fast_server", "mbo_fast_server.cli", "mbo_fast_server.main"):
        monkeypatch.setitem(sys.modules, name, None)  # and none importable
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    listing = capsys.readouterr().out
    listed = " ".join(listing.split())
    assert "serve HTTP/SSE server over the books (not installed: pip install ./server)" in listed
    assert cli.main(["serve", "--port", "8080", "--file", "x.dbn"]) == 2
    err = capsys.readouterr().err
    assert err == "mbo-fast: error: the serve command is not installed: pip install ./server\n"
    with pytest.raises(SystemExit) as exc:
        cli.main(["info", "x.dbn", "--bogus"])  # other commands keep their strict parsing
    assert exc.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_a_broken_plugin_is_reported_not_fatal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The server's entry point is there but its package cannot be imported."""
    for name in ("mbo_fast_server", "mbo_fast_server.cli"):
        monkeypatch.setitem(sys.modules, name, None)
    assert "serve" in [e.name for e in cli._command_entry_points()]  # the real entry point
    out = tmp_path / "s.dbn"
    assert cli.main(["simulate", "--records", "100", "-o", str(out)]) == 0
    capsys.readouterr()
    assert cli.main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mbo-fast: error: the serve command of mbo_fast_server.cli:register ")
    assert "cannot be loaded (ModuleNotFoundError" in err and err.count("\n") == 1


def _install_plugin(root: Path, module: str, body: str, entry_points: str) -> None:
    """A distribution on `root` (a sys.path entry): `module`.py and its dist-info."""
    (root / f"{module}.py").write_text(textwrap.dedent(body))
    info = root / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


def test_plugins_are_discovered_through_their_entry_points(tmp_path: Path) -> None:
    """A real distribution on the path adds a command; one cannot replace a built-in command."""
    _install_plugin(
        tmp_path,
        "mbo_fast_hello",
        """
        def register(commands):
            p = commands.add_parser("hello", help="say hello")
            p.add_argument("--name", default="world")
            p.set_defaults(func=lambda args: print(f"hello {args.name}") or 0)

        def steal(commands):
            raise AssertionError("a built-in command's entry point is never loaded")
        """,
        """
        [mbo_fast.commands]
        hello = mbo_fast_hello:register
        info = mbo_fast_hello:steal
        """,
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    run = [sys.executable, "-m", "mbo_fast"]
    done = subprocess.run([*run, "hello", "--name", "book"], env=env, capture_output=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"hello book\n", b"")
    listing = subprocess.run([*run, "--help"], env=env, capture_output=True, check=True).stdout
    assert b"say hello" in listing and b"HTTP/SSE server" in listing
    info = subprocess.run([*run, "info", "--help"], env=env, capture_output=True, check=True)
    assert b"metadata, record counts" in info.stdout
