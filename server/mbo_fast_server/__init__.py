"""mbo-fast server: an aiohttp service over `mbo_fast` (REST book snapshots and history, SSE
playback, SQLite persistence, Prometheus metrics). Start it with `mbo-fast serve` (cli.py).

The public names are imported on first use (PEP 562), so that importing a submodule (the
`mbo-fast` command line loads `mbo_fast_server.cli` for every command) does not load aiohttp
and the rest of the server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .config import Config, ConfigError, load_config
    from .main import run

__all__ = ["Config", "ConfigError", "create_app", "load_config", "run"]
_MODULE_OF = {
    "Config": "config",
    "ConfigError": "config",
    "create_app": "app",
    "load_config": "config",
    "run": "main",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
