"""Server configuration: CLI flags > environment (`MBO_…`) > a TOML file > defaults.

Every field of `Config` can be set in the TOML file (same name, top level or under `[server]`)
and in the environment as `MBO_<NAME>` upper-cased (`MBO_PORT=9000`, `MBO_FILES=a.dbn:b.dbn`,
separated by the platform's path separator). The TOML file is named by `--config` or
`MBO_CONFIG`. Unknown keys and values of the wrong type are errors (`ConfigError`).
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mbo_fast import databento_io
from mbo_fast.store import store_label

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

ENV_PREFIX = "MBO_"


class ConfigError(ValueError):
    """A bad configuration value: names its origin (flag, variable or file) and the key."""


def _default_data_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "mbo-fast")


@dataclasses.dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    # Host names (besides localhost, IP addresses and `host` itself) that requests may carry in
    # their Host header; ".example.com" also allows its subdomains, "*" any name. Others: 421.
    # Guards a server against DNS rebinding; add the names clients use when `host` is not
    # loopback (your DNS name, a Kubernetes Service, an Ingress host). Env: comma-separated.
    allowed_hosts: tuple[str, ...] = ()
    # DBN MBO files to serve; empty: the simulator's default session (cached in data_dir).
    files: tuple[str, ...] = ()
    # Databento history to fetch into <data_dir>/databento first (needs DBN_KEY), then serve
    # like a file: (DATASET, SYMBOLS, START, END), SYMBOLS comma-separated; empty: none.
    databento: tuple[str, ...] = ()
    # SQLite database; empty: <data_dir>/mbo-fast.sqlite3.
    db: str = ""
    data_dir: str = dataclasses.field(default_factory=_default_data_dir)
    sim_seed: int = 1
    sim_records: int = 200_000
    log_level: str = "info"
    log_json: bool = True
    # SSE playback
    frame_rate: float = 20.0
    max_speed: float = 10_000.0
    max_records_per_frame: int = 20_000
    heartbeat_s: float = 15.0
    status_every_s: float = 1.0
    queue_ticks: int = 64  # per client: ticks of frames queued before a resync
    max_streams: int = 200  # playback streams; as many live streams again
    # a client that takes no bytes of a write (SSE frame, heartbeat, export chunk) for this long
    # is dropped (its connection aborted, its slot freed)
    send_timeout_s: float = 15.0
    # live ingest: "tcp://HOST:PORT" of a DBN feed (`mbo-fast feed`); empty: none
    live: str = ""
    # a per-channel sequence jump above this is a gap; 0 (default): forward jumps are not gaps,
    # since symbol-filtered feeds skip sequence numbers legitimately (reconnects still mark stale)
    live_max_seq_jump: int = 0
    live_persist: bool = True  # store live records as blocks in the block store, off the loop
    live_persist_every_s: float = 0.5
    # blocks held while the block store is unavailable (retried every live_persist_every_s);
    # beyond this the session stops being stored and the loss is counted and logged
    live_persist_max_pending_mb: int = 256
    # a live feed that sends nothing for this long is dropped and reconnected (Databento sends
    # a heartbeat every 30 s); 0: never
    live_idle_timeout_s: float = 60.0
    # REST limits
    max_depth: int = 1_000
    default_page: int = 1_000
    max_page: int = 10_000
    max_request_bytes: int = 64 * 1024
    max_exports: int = 4  # /api/v1/export responses at once; more get 503 + Retry-After
    export_chunk_bytes: int = 256 * 1024  # an export is made and sent this much at a time
    # connections: open at once (idle ones are closed to make room for new ones), time to send
    # a request's headers or stay idle between requests, time to send a request's body
    max_connections: int = 1_000
    idle_timeout_s: float = 15.0
    body_timeout_s: float = 10.0
    # the block store: decoded blocks kept in memory (one budget for the process), and the
    # records between checkpoints of every book in newly imported data (a random seek applies at
    # most that many records; more often costs more room)
    cache_mb: int = 256
    checkpoint_every: int = 32_768
    shutdown_timeout_s: float = 1.0

    @property
    def db_path(self) -> str:
        return self.db or os.path.join(self.data_dir, "mbo-fast.sqlite3")

    def public(self) -> dict[str, Any]:
        """The configuration as JSON-able data (for logs); no secrets live here."""
        out = dataclasses.asdict(self)
        out["files"] = list(self.files)
        out["databento"] = list(self.databento)
        out["allowed_hosts"] = list(self.allowed_hosts)
        out["db"] = store_label(self.db_path)
        return out


_FIELDS = {f.name: f for f in dataclasses.fields(Config)}
_TYPES: dict[str, type] = {
    name: {"str": str, "int": int, "float": float, "bool": bool}.get(str(f.type), tuple)
    for name, f in _FIELDS.items()
}


_DATABENTO_KEYS = ("dataset", "symbols", "start", "end")
_HOST_NAME = re.compile(r"\*|\.?[a-z0-9-]+(\.[a-z0-9-]+)*")


def _allowed_hosts(value: Any, where: str) -> tuple[str, ...]:
    """Names separated by commas or spaces (env, flag) or a list (TOML) -> lower-case names."""
    if isinstance(value, str):
        items: list[Any] = [v for v in re.split(r"[\s,]+", value) if v]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ConfigError(f"{where}: expected host names, got {value!r}")
    out: list[str] = []
    for item in items:
        name = item.strip().lower().rstrip(".") if isinstance(item, str) else None
        if not name or not _HOST_NAME.fullmatch(name):
            raise ConfigError(
                f"{where}: {item!r} is not a host name (e.g. example.com, .example.com or *)"
            )
        out.append(name)
    return tuple(out)


def _databento(value: Any, where: str) -> tuple[str, ...]:
    """`DATASET SYMBOLS START END` (env), a 4-item list (flag) or a TOML table with keys
    dataset, symbols (a string or a list), start, end -> (dataset, "S1,S2", start, end)."""
    if isinstance(value, str):
        items: list[Any] = value.split()
    elif isinstance(value, dict):
        unknown = sorted(set(value) - set(_DATABENTO_KEYS))
        missing = [k for k in _DATABENTO_KEYS if k not in value]
        if unknown or missing:
            raise ConfigError(
                f"{where}: needs exactly the keys {', '.join(_DATABENTO_KEYS)}"
                + (f" (unknown: {', '.join(unknown)})" if unknown else "")
                + (f" (missing: {', '.join(missing)})" if missing else "")
            )
        items = [value[k] for k in _DATABENTO_KEYS]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ConfigError(f"{where}: expected DATASET SYMBOLS START END, got {value!r}")
    if not items:
        return ()
    if len(items) == 4 and isinstance(items[1], (list, tuple)):
        items[1] = ",".join(str(s) for s in items[1])
    if len(items) != 4 or not all(isinstance(v, str) and v.strip() for v in items):
        raise ConfigError(f"{where}: expected DATASET SYMBOLS START END, got {value!r}")
    return tuple(v.strip() for v in items)


def _convert(name: str, value: Any, origin: str) -> Any:
    kind = _TYPES[name]
    where = f"{origin}: {name}"
    if name == "databento":
        return _databento(value, where)
    if name == "allowed_hosts":
        return _allowed_hosts(value, where)
    if kind is tuple:
        if isinstance(value, str):
            items = (
                [v for v in value.split(os.pathsep) if v] if origin.startswith("env") else [value]
            )
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            raise ConfigError(f"{where}: expected a list of paths, got {value!r}")
        if not all(isinstance(v, str) and v for v in items):
            raise ConfigError(f"{where}: expected a list of paths, got {value!r}")
        return tuple(items)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in (
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        ):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    if kind is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _live_ok(url: str) -> bool:
    host, _, port = url.removeprefix("tcp://").rpartition(":")
    return url.startswith("tcp://") and bool(host) and port.isdigit() and 0 < int(port) < 65536


def _databento_ok(url: str) -> bool:
    parts = url.split(":", 2)
    if not (len(parts) == 3 and parts[0] == "databento" and all(p.strip() for p in parts[1:])):
        return False
    try:  # one session subscribes in one symbology
        databento_io.stype_for(parts[2])
    except databento_io.DatabentoError:
        return False
    return True


def _validate(cfg: Config) -> Config:
    checks = [
        ("port", 0 <= cfg.port <= 65535, "must be in 0..65535"),
        ("frame_rate", 0 < cfg.frame_rate <= 1000, "must be in (0, 1000]"),
        ("max_speed", cfg.max_speed >= 1, "must be >= 1"),
        ("max_records_per_frame", cfg.max_records_per_frame >= 1, "must be >= 1"),
        ("heartbeat_s", cfg.heartbeat_s > 0, "must be > 0"),
        ("status_every_s", cfg.status_every_s > 0, "must be > 0"),
        ("queue_ticks", cfg.queue_ticks >= 2, "must be >= 2"),
        ("max_streams", cfg.max_streams >= 1, "must be >= 1"),
        ("send_timeout_s", 0 < cfg.send_timeout_s <= 3600, "must be in (0, 3600]"),
        ("max_exports", cfg.max_exports >= 1, "must be >= 1"),
        (
            "export_chunk_bytes",
            4096 <= cfg.export_chunk_bytes <= 64 << 20,
            "must be in 4096..67108864",
        ),
        ("max_connections", cfg.max_connections >= 8, "must be >= 8"),
        ("idle_timeout_s", 0 < cfg.idle_timeout_s <= 3600, "must be in (0, 3600]"),
        ("body_timeout_s", 0 < cfg.body_timeout_s <= 3600, "must be in (0, 3600]"),
        ("live_idle_timeout_s", 0 <= cfg.live_idle_timeout_s <= 3600, "must be in 0..3600"),
        (
            "live",
            cfg.live == "" or _live_ok(cfg.live) or _databento_ok(cfg.live),
            "must be tcp://HOST:PORT, databento:DATASET:SYMBOLS (of one kind) or empty",
        ),
        ("live_persist_every_s", 0 < cfg.live_persist_every_s <= 60, "must be in (0, 60]"),
        (
            "live_persist_max_pending_mb",
            1 <= cfg.live_persist_max_pending_mb <= 65_536,
            "must be in [1, 65536]",
        ),
        ("live_max_seq_jump", cfg.live_max_seq_jump >= 0, "must be >= 0"),
        ("max_depth", cfg.max_depth >= 1, "must be >= 1"),
        ("default_page", 1 <= cfg.default_page <= cfg.max_page, "must be in 1..max_page"),
        ("max_request_bytes", cfg.max_request_bytes >= 1024, "must be >= 1024"),
        ("sim_records", cfg.sim_records >= 1, "must be >= 1"),
        ("sim_seed", cfg.sim_seed >= 0, "must be >= 0"),
        ("cache_mb", 16 <= cfg.cache_mb <= 1 << 20, "must be in 16..1048576"),
        ("checkpoint_every", 4096 <= cfg.checkpoint_every <= 1 << 24, "must be in 4096..16777216"),
        ("shutdown_timeout_s", 0 <= cfg.shutdown_timeout_s <= 10, "must be in 0..10"),
        (
            "log_level",
            cfg.log_level.lower() in ("debug", "info", "warning", "error"),
            "must be debug, info, warning or error",
        ),
    ]
    for name, ok, why in checks:
        if not ok:
            raise ConfigError(f"{name}: {why} (got {getattr(cfg, name)!r})")
    return cfg


def read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    section = data.get("server", data)
    if not isinstance(section, dict):
        raise ConfigError(f"config file {path}: [server] must be a table")
    return section


def load_config(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_file: str | None = None,
) -> Config:
    """Merge the layers: `flags` (None values are 'not given') > `env` > TOML file > defaults."""
    env = os.environ if env is None else env
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    path = config_file or env.get(ENV_PREFIX + "CONFIG") or None
    values: dict[str, Any] = {}
    if path:
        for key, value in read_toml(path).items():
            if key not in _FIELDS:
                raise ConfigError(f"config file {path}: unknown key {key!r}")
            values[key] = _convert(key, value, f"config file {path}")
        if "files" in values:  # relative paths in the file are relative to the file
            base = Path(path).resolve().parent
            values["files"] = tuple(str(base / f) for f in values["files"])
    for name in _FIELDS:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _convert(name, raw, f"env {ENV_PREFIX}{name.upper()}")
    for key, value in flags.items():
        if key not in _FIELDS:
            raise ConfigError(f"unknown option {key!r}")
        values[key] = _convert(key, value, "flag")
    for key in ("db", "data_dir"):
        if isinstance(values.get(key), str):
            values[key] = os.path.expanduser(values[key])
    if "files" in values:
        values["files"] = tuple(os.path.expanduser(f) for f in values["files"])
    return _validate(Config(**values))
