"""Server configuration layers: flags > MBO_* environment > TOML file > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from mbo_fast_server.config import Config, ConfigError, load_config


def test_precedence(tmp_path: Path) -> None:
    toml = tmp_path / "server.toml"
    toml.write_text('[server]\nport = 9001\nhost = "0.0.0.0"\nfiles = ["a.dbn"]\nframe_rate = 5\n')
    env = {"MBO_PORT": "9002", "MBO_MAX_PAGE": "50", "MBO_DEFAULT_PAGE": "10"}
    cfg = load_config({"port": 9003, "host": None}, env=env, config_file=str(toml))
    assert cfg.port == 9003  # flag
    assert cfg.max_page == 50 and cfg.default_page == 10  # env
    assert cfg.host == "0.0.0.0" and cfg.frame_rate == 5.0  # file
    assert cfg.files == (str(tmp_path / "a.dbn"),)  # relative to the file
    assert cfg.heartbeat_s == Config().heartbeat_s  # default
    assert load_config(env={"MBO_PORT": "9002"}).port == 9002
    assert load_config(env={}).host == "127.0.0.1"


@pytest.mark.parametrize(
    ("flags", "env", "text"),
    [
        ({"port": "x"}, {}, "port"),
        ({}, {"MBO_PORT": "70000"}, "port"),
        ({}, {"MBO_FRAME_RATE": "0"}, "frame_rate"),
        ({}, {"MBO_LOG_JSON": "maybe"}, "log_json"),
        ({"nope": 1}, {}, "nope"),
    ],
)
def test_bad_values(flags: dict[str, object], env: dict[str, str], text: str) -> None:
    with pytest.raises(ConfigError, match=text):
        load_config(flags, env=env)


def test_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("unknown_key = 1\n")
    with pytest.raises(ConfigError, match="unknown_key"):
        load_config(env={}, config_file=str(bad))
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(env={"MBO_CONFIG": str(tmp_path / "missing.toml")})


def test_env_example_documents_every_key() -> None:
    """.env.example is the reference of MBO_* variables: every config key, and nothing else,
    appears in it, and its values load."""
    import dataclasses
    import re

    text = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    named = set(re.findall(r"^#?\s*MBO_([A-Z0-9_]+)=", text, flags=re.M)) - {"CONFIG"}
    keys = {f.name.upper() for f in dataclasses.fields(Config)}
    assert named == keys, (sorted(keys - named), sorted(named - keys))
    env = dict(re.findall(r"^(MBO_[A-Z0-9_]+)=(.+)$", text, flags=re.M))
    env.pop("MBO_DATA_DIR", None)  # "~" is expanded by the shell, not by us
    load_config({}, env)
