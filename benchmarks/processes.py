"""`mbo-fast serve` and `mbo-fast feed` as child processes on loopback, and what the load
benchmarks (sse_load, sim_load, live_bench, ui_frames) read from them: free ports, HTTP GETs,
a process's CPU time.

`serve(...)` starts the server on a free port with its own temporary data directory and database
and MBO_* settings from nothing but its arguments (the caller's MBO_* variables are not passed
on), waits for /readyz, and stops it with SIGTERM (then SIGKILL) on the way out; its log is kept
and shown if it exits early. `feed(...)` does the same for a paced DBN feed.

asv imports this module as `benchmarks.processes`, scripts run as files import it as `processes`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

MBO_FAST = [sys.executable, "-m", "mbo_fast"]
STOP_SECONDS = 10.0  # SIGTERM, then SIGKILL after this long


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, timeout: float = 10.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        data: bytes = resp.read()
        return data


def get_json(url: str, timeout: float = 10.0) -> Any:
    return json.loads(get(url, timeout))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux: /proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if it has not exited within STOP_SECONDS."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclasses.dataclass(frozen=True)
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    base: str  # http://127.0.0.1:PORT
    data_dir: Path


@contextlib.contextmanager
def serve(
    *flags: str, settings: Mapping[str, str] | None = None, ready_timeout: float = 120.0
) -> Iterator[Server]:
    """`mbo-fast serve FLAGS` until the block ends; `settings`: MBO_* variables (they override
    the defaults here: MBO_LOG_LEVEL=warning, the port, data directory and database)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="mbo-fast-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MBO_")}
        env.update(
            MBO_HOST="127.0.0.1",
            MBO_PORT=str(port),
            MBO_DATA_DIR=tmp,
            MBO_DB=os.path.join(tmp, "bench.sqlite3"),
            MBO_LOG_LEVEL="warning",
        )
        env.update(settings or {})
        log_path = Path(tmp) / "server.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [*MBO_FAST, "serve", *flags], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        server = Server(proc, port, f"http://127.0.0.1:{port}", Path(tmp))
        try:
            _wait_ready(server, log_path, ready_timeout)
            yield server
        finally:
            stop(proc)


def _wait_ready(server: Server, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise SystemExit(f"the server exited (status {server.proc.returncode}):\n{tail}")
        try:
            if get_json(server.base + "/readyz", timeout=2).get("ready"):
                return
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the server was not ready after {timeout:.0f} s")
        time.sleep(0.05)  # fine enough to time a restart (scale_bench)


@contextlib.contextmanager
def feed(files: Sequence[str], *flags: str) -> Iterator[int]:
    """`mbo-fast feed FILES FLAGS` on a free port (yielded) until the block ends."""
    port = free_port()
    proc = subprocess.Popen(
        [*MBO_FAST, "feed", *files, "--port", str(port), *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield port
    finally:
        stop(proc)
