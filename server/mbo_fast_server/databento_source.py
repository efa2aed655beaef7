"""`--databento DATASET SYMBOLS START END`: MBO history fetched with the `databento` client into
`<data_dir>/databento/` (one file per request; a later start with the same request reuses it),
then served like `--file`. The key comes from DBN_KEY and is never logged."""

from __future__ import annotations

import logging
import os
import time

from mbo_fast import databento_io

from .config import Config

log = logging.getLogger("mbo_fast_server.databento")


def cache_dir(config: Config) -> str:
    return os.path.join(config.data_dir, "databento")


def databento_path(config: Config) -> str:
    """The configured request's DBN file, downloaded first when not cached (blocking: call it in
    an executor). Raises databento_io.DatabentoError (message without the key) on failure."""
    dataset, symbols, start, end = config.databento
    cached = databento_io.cache_path(cache_dir(config), dataset, symbols, start, end)
    where = {"dataset": dataset, "symbols": symbols, "start": start, "end": end}
    if cached.is_file() and cached.stat().st_size > 0:
        log.info("databento data cached", extra={**where, "file": cached.name})
        return str(cached)
    log.info("fetching databento data", extra=where)
    t0 = time.perf_counter()
    path = databento_io.fetch_cached(dataset, symbols, start, end, cache_dir(config))
    log.info(
        "databento data fetched",
        extra={
            **where,
            "file": path.name,
            "bytes": path.stat().st_size,
            "seconds": round(time.perf_counter() - t0, 3),
        },
    )
    return str(path)
