"""mbo-fast server: an aiohttp service over `mbo_fast` (REST book snapshots and history, SSE
playback, SQLite persistence, Prometheus metrics). Start it with `mbo-fast serve`."""

from .app import create_app
from .config import Config, ConfigError, load_config
from .main import run

__all__ = ["Config", "ConfigError", "create_app", "load_config", "run"]
