"""Settings: TOML plus GLIMPSE_* overrides, strict about keys and types."""

from __future__ import annotations

from pathlib import Path

import pytest

from glimpse import settings
from glimpse.app import build_stores
from glimpse.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the default data directory is ./data
    loaded = settings.load(None, {})
    assert loaded.server.port == 9292
    assert loaded.images.hash_algo == "sha512"
    assert loaded.registry_url.startswith("sqlite:///")
    # The file store's default directory comes from the deployment, not from settings.
    assert loaded.stores.drivers == {}
    assert str(build_stores(loaded).default.directory).endswith("/images")  # type: ignore[attr-defined]


def test_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "glimpse.toml"
    path.write_text(
        'data_dir = "/srv/glimpse"\n[server]\nport = 8000\nworkers = 4\n'
        '[stores.file]\ndirectory = "/srv/images"\n'
    )
    loaded = settings.load(
        path, {"GLIMPSE_SERVER__PORT": "9000", "GLIMPSE_IMAGES__HASH_ALGO": "sha256"}
    )
    assert loaded.server.port == 9000
    assert loaded.server.workers == 4
    assert loaded.images.hash_algo == "sha256"
    assert loaded.data_dir == "/srv/glimpse"
    assert loaded.stores.drivers["file"] == {"directory": "/srv/images"}


@pytest.mark.parametrize(
    ("text", "environ", "named"),
    [
        ("[server]\nprot = 1\n", {}, "server.prot"),
        ("[server]\nport = 'x'\n", {}, "server.port"),
        ("[server]\nport = true\n", {}, "server.port"),
        ("colour = 1\n", {}, "colour"),
        ("", {"GLIMPSE_SERVER__WORKERS": "many"}, "server.workers"),
        ("", {"GLIMPSE_NOPE": "1"}, "nope"),
        ("[images]\nimport_methods = 3\n", {}, "images.import_methods"),
        ("server = 3\n", {}, "server"),
    ],
)
def test_bad_settings_name_the_key(
    tmp_path: Path, text: str, environ: dict[str, str], named: str
) -> None:
    path = tmp_path / "glimpse.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        settings.load(path, environ)


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        settings.load(bad, {})
    with pytest.raises(ConfigError, match="cannot read"):
        settings.load(tmp_path / "missing.toml", {})


def test_sample_is_current_and_loads(tmp_path: Path) -> None:
    sample = settings.sample()
    assert (REPO / "etc" / "glimpse.sample.toml").read_text() == sample, (
        "etc/glimpse.sample.toml drifted: regenerate it with `glimpse config sample`"
    )
    path = tmp_path / "sample.toml"
    path.write_text(sample)
    assert settings.load(path, {}) == settings.load(None, {})
