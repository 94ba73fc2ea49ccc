"""The `glimpse` command: settings errors, database commands, the sample file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from glimpse.registry import db
from glimpse.settings import sample
from helpers import run_glimpse as glimpse


def test_config_sample_matches_the_code() -> None:
    done = glimpse("config", "sample")
    assert done.returncode == 0
    assert done.stdout == sample()


def test_db_upgrade_and_current(tmp_path: Path) -> None:
    env = {"GLIMPSE_DATA_DIR": str(tmp_path)}
    done = glimpse("db", "current", env=env)
    assert done.returncode == 0
    assert done.stdout.strip() == "None"
    done = glimpse("db", "upgrade", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == db.HEAD
    assert (tmp_path / "glimpse.db").exists()


def test_unknown_setting_stops_with_its_name(tmp_path: Path) -> None:
    config = tmp_path / "glimpse.toml"
    config.write_text("[server]\nworkerz = 2\n")
    done = glimpse("--config", str(config), "serve")
    assert done.returncode == 2
    assert "unknown setting server.workerz" in done.stderr


def test_wrong_type_in_environment_stops_with_its_name() -> None:
    done = glimpse("serve", env={"GLIMPSE_SERVER__PORT": '"high"'})
    assert done.returncode == 2
    assert "server.port" in done.stderr


def test_unknown_store_driver_names_the_installed_ones(tmp_path: Path) -> None:
    done = glimpse(
        "serve",
        "--port",
        "1",
        env={"GLIMPSE_DATA_DIR": str(tmp_path), "GLIMPSE_STORES__DEFAULT": "nowhere"},
    )
    assert done.returncode != 0
    assert "no glimpse.stores plugin 'nowhere'" in done.stderr


def _token(
    tmp_path: Path, *args: str, config_after: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {"GLIMPSE_DATA_DIR": str(tmp_path / "data")}
    base = ["token", "create", "--project", "p", "--user", "u", *args]
    if config_after:
        config = tmp_path / "glimpse.toml"
        config.write_text('[identity]\nmode = "tokens"\n')
        return glimpse(*base, "--config", str(config), env=env)
    return glimpse(*base, env=env)


def test_token_roles_must_be_known(tmp_path: Path) -> None:
    done = _token(tmp_path, "--roles", "admn")
    assert done.returncode == 1
    assert "unknown role admn" in done.stderr


@pytest.mark.parametrize("expires", ["2001-01-01T00:00:00Z", "0d"])
def test_token_expiry_must_be_in_the_future(tmp_path: Path, expires: str) -> None:
    done = _token(tmp_path, "--expires", expires)
    assert done.returncode == 1
    assert "not in the future" in done.stderr


@pytest.mark.parametrize("expires", ["1y", "2w", "90m"])
def test_token_durations(tmp_path: Path, expires: str) -> None:
    done = _token(tmp_path, "--expires", expires)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["expires_at"] > "2026"


def test_config_after_the_subcommand_and_the_mode_hint(tmp_path: Path) -> None:
    hinted = _token(tmp_path)
    assert hinted.returncode == 0, hinted.stderr
    assert "identity mode is 'none'" in hinted.stderr
    quiet = _token(tmp_path, config_after=True)
    assert quiet.returncode == 0, quiet.stderr
    assert "identity mode" not in quiet.stderr
