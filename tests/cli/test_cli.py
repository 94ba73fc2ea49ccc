"""The `glimpse` command: settings errors, database commands, the sample file."""

from __future__ import annotations

from pathlib import Path

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
