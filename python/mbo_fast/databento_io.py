"""Fetch MBO history from Databento with the `databento` client (optional dependency).

>>> from mbo_fast.databento_io import fetch
>>> fetch("GLBX.MDP3", "CLZ5", "2025-10-01", "2025-10-02", "clz5.dbn.zst")   # needs DBN_KEY

The API key comes from `key=` or the environment (`DBN_KEY`, else the client's own
`DATABENTO_API_KEY`); it is never put in an error message or a log line. Databento sends
zstd-compressed DBN, which every mbo_fast reader accepts as is. `fetch_cached` keeps one file per
(dataset, symbols, start, end, stype_in) in a cache directory so repeated calls download once.

Symbols are read in the symbology their form names (`stype_for`): `ES.FUT` a parent, `ES.c.0`
a continuous contract, digits an instrument id, anything else a raw symbol such as `ESH4`.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import re
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import MboError

__all__ = [
    "KEY_ENV",
    "DatabentoError",
    "cache_path",
    "fetch",
    "fetch_cached",
    "parse_symbols",
    "resolve_key",
    "stype_for",
]

KEY_ENV = ("DBN_KEY", "DATABENTO_API_KEY")
SCHEMA = "mbo"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Databento symbology by form: ROOT.FUT / ROOT.OPT / ROOT.SPOT, ROOT.{c,n,v}.RANK, an integer.
_PARENT = re.compile(r"^[^.\s]+\.(FUT|OPT|SPOT)$")
_CONTINUOUS = re.compile(r"^[^.\s]+\.[cnv]\.[0-9]+$")
AUTO = "auto"

log = logging.getLogger("mbo_fast.databento")


class DatabentoError(MboError):
    """Databento could not be used: the client is not installed, no API key is set, or the
    request failed. The message says what to do and never contains the key."""


def resolve_key(key: str | None = None) -> str:
    """`key`, else $DBN_KEY, else $DATABENTO_API_KEY; DatabentoError when none is set."""
    for value in (key, *(os.environ.get(name) for name in KEY_ENV)):
        if value is not None and value.strip():
            return value.strip()
    raise DatabentoError(
        "no Databento API key: set DBN_KEY in the environment (or DATABENTO_API_KEY)"
    )


def _client() -> Any:
    try:
        return importlib.import_module("databento")
    except ImportError:
        raise DatabentoError(
            "the databento package is not installed: pip install databento"
        ) from None


def parse_symbols(symbols: str | Iterable[str]) -> list[str]:
    """'CLZ5,CLF6' (commas and/or spaces) or a list -> ['CLZ5', 'CLF6']; at least one."""
    items = symbols.replace(",", " ").split() if isinstance(symbols, str) else list(symbols)
    out = [str(s).strip() for s in items if str(s).strip()]
    if not out:
        raise DatabentoError("no symbols given")
    return out


def stype_for(symbols: str | Iterable[str]) -> str:
    """The `stype_in` Databento reads `symbols` in, from their form: "parent" (`ES.FUT`),
    "continuous" (`ES.c.0`, `CL.n.1`), "instrument_id" (`42005347`) or "raw_symbol" (`ESH4`).
    One request has one symbology: mixed forms raise DatabentoError."""
    kinds = {_stype_of(s) for s in parse_symbols(symbols)}
    if len(kinds) > 1:
        raise DatabentoError(
            f"symbols of different kinds ({', '.join(sorted(kinds))}) cannot share a request: "
            "fetch them separately or name --stype-in"
        )
    return kinds.pop()


def _stype_of(symbol: str) -> str:
    if _PARENT.match(symbol):
        return "parent"
    if _CONTINUOUS.match(symbol):
        return "continuous"
    if symbol.isdigit():
        return "instrument_id"
    return "raw_symbol"


def _stype(symbols: str | Iterable[str], stype_in: str) -> str:
    return stype_for(symbols) if stype_in == AUTO else stype_in


def _scrub(text: str, key: str) -> str:
    return " ".join(text.replace(key, "***").split()) if key else " ".join(text.split())


def fetch(
    dataset: str,
    symbols: str | Iterable[str],
    start: str,
    end: str,
    path: str | os.PathLike[str],
    *,
    key: str | None = None,
    stype_in: str = AUTO,
) -> Path:
    """Download MBO records of `symbols` in [start, end) to `path` (DBN, zstd) and return it.
    `stype_in` "auto" reads the symbols in the symbology their form names (`stype_for`).

    Uses `databento.Historical(key).timeseries.get_range(schema="mbo", …)`. The file appears
    atomically (written beside `path`, then renamed): a failed download leaves nothing at `path`.
    An existing `path` is replaced. Raises DatabentoError (an MboError) on any failure.
    """
    symbol_list = parse_symbols(symbols)
    stype_in = _stype(symbol_list, stype_in)
    api_key = resolve_key(key)
    db = _client()
    out = Path(os.fspath(path))
    out.parent.mkdir(parents=True, exist_ok=True)
    # get_range refuses an existing file, so the partial file's name must not exist yet.
    part = out.with_name(f".{out.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
    log.info(
        "fetching from Databento",
        extra={"dataset": dataset, "symbols": symbol_list, "start": start, "end": end},
    )
    try:
        client = db.Historical(api_key)
        client.timeseries.get_range(
            dataset=dataset,
            symbols=symbol_list,
            schema=SCHEMA,
            start=start,
            end=end,
            stype_in=stype_in,
            path=str(part),
        )
        if not part.is_file():
            raise DatabentoError("Databento returned no data file")
        os.replace(part, out)
    except DatabentoError:
        raise
    except Exception as exc:  # the client's BentoError, ValueError, OSError, requests errors …
        detail = _scrub(str(exc), api_key) or "no detail"
        raise DatabentoError(
            f"Databento request for {dataset} {','.join(symbol_list)} {start}..{end} failed: "
            f"{type(exc).__name__}: {detail}"
        ) from None
    finally:
        part.unlink(missing_ok=True)
    return out


def cache_path(
    cache_dir: str | os.PathLike[str],
    dataset: str,
    symbols: str | Iterable[str],
    start: str,
    end: str,
    *,
    stype_in: str = AUTO,
) -> Path:
    """The cache file for a request: `databento-<dataset>-<symbols>-<hash>.dbn.zst`, the hash
    over (dataset, sorted symbols, start, end, stype_in, schema)."""
    symbol_list = sorted(set(parse_symbols(symbols)))
    stype_in = _stype(symbol_list, stype_in)
    ident = json.dumps([dataset.strip(), symbol_list, start.strip(), end.strip(), stype_in, SCHEMA])
    digest = hashlib.sha256(ident.encode("utf-8")).hexdigest()[:16]
    label = _SAFE.sub("_", f"{dataset.strip()}-{'_'.join(symbol_list)}")[:60]
    return Path(os.fspath(cache_dir)) / f"databento-{label}-{digest}.dbn.zst"


def fetch_cached(
    dataset: str,
    symbols: str | Iterable[str],
    start: str,
    end: str,
    cache_dir: str | os.PathLike[str],
    *,
    key: str | None = None,
    stype_in: str = AUTO,
) -> Path:
    """`fetch` into `cache_dir`, unless that request's file is already there (no key needed
    then)."""
    out = cache_path(cache_dir, dataset, symbols, start, end, stype_in=stype_in)
    if out.is_file() and out.stat().st_size > 0:
        log.info("Databento data already cached", extra={"path": str(out)})
        return out
    return fetch(dataset, symbols, start, end, out, key=key, stype_in=stype_in)
