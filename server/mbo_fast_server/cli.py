"""`mbo-fast serve`: the server's command and its flags, added to the `mbo-fast` command line
through the entry point `serve` of the group `mbo_fast.commands` (server/pyproject.toml), so that
the library (python/mbo_fast) never imports the server.

The `mbo-fast` parser loads this module whenever it is built, for every command: it imports
nothing of the server until `serve` runs. Flags left out are None; `main.main` gives them the
environment's (`MBO_…`), then the TOML file's, then the defaults (config.py).
"""

from __future__ import annotations

import argparse

from mbo_fast.cli import non_negative_int

HELP = "HTTP/SSE server over the books (package mbo_fast_server, in server/)"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `serve` and its flags to the `mbo-fast` subcommands (the entry point)."""
    p = commands.add_parser("serve", help=HELP, description=HELP)
    p.add_argument(
        "--file",
        dest="files",
        action="append",
        metavar="PATH",
        help="DBN MBO file to serve (repeatable; default: a simulated session)",
    )
    p.add_argument(
        "--databento",
        nargs=4,
        metavar=("DATASET", "SYMBOLS", "START", "END"),
        help="fetch MBO history with the databento client (DBN_KEY) into the cache, then serve it",
    )
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=non_negative_int, help="port (default 8080; 0 picks a free one)")
    p.add_argument(
        "--live",
        metavar="URL",
        help="ingest a live DBN feed: tcp://HOST:PORT (mbo-fast feed), "
        "databento:DATASET:SYMBOLS (databento Live client, DBN_KEY), or be a replica of an "
        "ingest: nats://HOST:PORT/NAME",
    )
    p.add_argument(
        "--publish",
        metavar="NATS_URL",
        help="publish the --live feed for replicas: nats://HOST:PORT/NAME (JetStream)",
    )
    p.add_argument(
        "--db",
        metavar="PATH|URL",
        help="the block store: a SQLite file (default in --data-dir) or postgresql://USER@HOST/DB "
        "(password from PGPASSWORD)",
    )
    p.add_argument("--data-dir", metavar="DIR", help="cache for generated data and the database")
    p.add_argument("--config", metavar="TOML", help="configuration file (flags > MBO_* env > it)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=serve)


def serve(args: argparse.Namespace) -> int:
    """Run the server with the parsed flags until SIGTERM/SIGINT; the exit status."""
    from .main import main

    flags = {
        "files": args.files,
        "databento": args.databento,
        "live": args.live,
        "live_publish": args.publish,
        "host": args.host,
        "port": args.port,
        "db": args.db,
        "data_dir": args.data_dir,
        "log_level": args.log_level,
    }
    return main(flags, config_file=args.config)


INGEST_HELP = (
    "one live feed for many servers: apply it, store it (--db) and publish it to NATS "
    "JetStream for `serve --live nats://…` replicas"
)


def register_ingest(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `ingest` (the entry point of that name): `serve` in the ingest role, with its
    health, readiness and metrics endpoints, and no default data of its own."""
    p = commands.add_parser("ingest", help=INGEST_HELP, description=INGEST_HELP)
    p.add_argument(
        "--live",
        metavar="URL",
        required=True,
        help="the feed: tcp://HOST:PORT (mbo-fast feed) or databento:DATASET:SYMBOLS (DBN_KEY)",
    )
    p.add_argument(
        "--nats",
        metavar="URL",
        required=True,
        help="nats://HOST:PORT/NAME: the replicas read it with serve --live nats://HOST:PORT/NAME",
    )
    p.add_argument("--db", metavar="PATH|URL", help="the block store the session is stored in")
    p.add_argument("--host", help="bind address of its HTTP endpoints (default 127.0.0.1)")
    p.add_argument("--port", type=non_negative_int, help="port (default 8080; 0 picks a free one)")
    p.add_argument("--data-dir", metavar="DIR", help="cache directory (and the SQLite default)")
    p.add_argument("--config", metavar="TOML", help="configuration file (flags > MBO_* env > it)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=ingest)


def ingest(args: argparse.Namespace) -> int:
    from .main import main

    flags = {
        "files": None,
        "live": args.live,
        "live_publish": args.nats,
        "host": args.host,
        "port": args.port,
        "db": args.db,
        "data_dir": args.data_dir,
        "log_level": args.log_level,
    }
    return main(flags, config_file=args.config)
