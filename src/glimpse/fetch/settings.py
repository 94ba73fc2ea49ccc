"""The fetch settings: a TOML file's ``[fetch]`` table, ``GLIMPSE_FETCH_*`` variables, options.

```toml
[fetch]
handlers = ["file", "swift", "s3", "http", "api"]
cache_dir = "/var/cache/glimpse"
cache_size = "50GiB"

[fetch.file]
mounts = ["/srv/glimpse/images=/mnt/glimpse-images"]
```

The file is ``--fetch-config``, else ``$GLIMPSE_FETCH_CONFIG``, else
``$XDG_CONFIG_HOME/glimpse/fetch.toml`` when it exists. Later sources win: the file,
then the variables (``GLIMPSE_FETCH_HANDLERS=file,api``, ``..._CACHE_DIR``,
``..._CACHE_SIZE``, ``..._STATE_FILE``, ``..._PARALLEL``), then command-line options.
A ``[fetch.<handler>]`` table holds that handler's options.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glimpse import options
from glimpse.errors import ConfigError
from glimpse.options import option

log = logging.getLogger(__name__)

CONFIG_ENV = "GLIMPSE_FETCH_CONFIG"
DEFAULT_HANDLERS = ("file", "swift", "s3", "http", "api")
_SIZE = re.compile(r"\s*(\d{1,20}(?:\.\d{1,9})?)\s*([kmgtp]?)(i?b?)\s*", re.IGNORECASE)
_UNITS = "kmgtp"


@dataclass(frozen=True)
class FetchSettings:
    """How ``glimpse fetch`` gets images onto this host."""

    handlers: tuple[str, ...] = option(
        DEFAULT_HANDLERS,
        "Handlers in the order they are tried (entry points of glimpse.fetchers); each is "
        "tried for the locations whose scheme it serves, location-independent ones last.",
    )
    state_file: str = option(
        "", "Which handler produced each target (JSON); empty: the user's state directory."
    )
    cache_dir: str = option("", "Host cache of images shared by fetches; empty: no cache.")
    cache_size: str = option("10GiB", "Bound of the host cache; least recently used go first.")
    parallel: int = option(4, "Ranged reads at once for a large image.", minimum=1)
    parallel_min_size: int = option(
        64 << 20, "Images smaller than this many bytes are read in one stream.", minimum=0
    )
    retries: int = option(5, "Resumed reads after interruptions, per stream.", minimum=0)
    #: ``[fetch.<handler>]`` tables, each built into that handler's Options when it loads.
    handler_options: Mapping[str, Mapping[str, Any]] = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({})
    )

    @property
    def cache_bytes(self) -> int:
        return parse_size(self.cache_size, "fetch.cache_size")

    def state_path(self, environ: Mapping[str, str]) -> Path:
        if self.state_file:
            return Path(self.state_file).expanduser()
        base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        return Path(base) / "glimpse" / "fetch-state.json"


def parse_size(text: str | int, key: str) -> int:
    """Bytes from ``1073741824``, ``512MiB``, ``10G`` (binary) or ``500MB`` (decimal)."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ConfigError(f"setting {key} must not be negative")
        return text
    found = _SIZE.fullmatch(str(text))
    if found is None:
        raise ConfigError(f"setting {key}: {text!r} is not a size such as 1073741824 or 20GiB")
    number, unit, suffix = found.groups()
    unit, suffix = unit.lower(), suffix.lower()
    if not unit:
        if suffix not in ("", "b"):
            raise ConfigError(f"setting {key}: {text!r} is not a size such as 20GiB")
        return int(float(number))
    # "20G", "20Gi" and "20GiB" are binary; "20GB" is decimal.
    base = 1000 if suffix == "b" else 1024
    return int(float(number) * base ** (_UNITS.index(unit) + 1))


def parse_handlers(text: str) -> tuple[str, ...]:
    """Handler names from ``"file, swift,api"``; empty items are dropped."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def load(
    path: str | None,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any] | None = None,
) -> FetchSettings:
    """The settings from the file at ``path`` (or the default one), variables and overrides.

    Raises ConfigError naming the key for unknown keys and wrong types.
    """
    raw: dict[str, Any] = {}
    explicit = path or environ.get(CONFIG_ENV)
    file = Path(explicit) if explicit else _default_file(environ)
    if file is not None:
        if explicit and not file.is_file():
            raise ConfigError(f"fetch settings file {file} does not exist")
        if file.is_file():
            raw = _read(file)
    tables = {k: v for k, v in raw.items() if isinstance(v, dict)}
    values = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    values.update(_from_environ(environ))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if isinstance(values.get("cache_size"), int):
        values["cache_size"] = str(values["cache_size"])
    settings = options.build(FetchSettings, values, "fetch")
    parse_size(settings.cache_size, "fetch.cache_size")
    for key in ("state_file", "cache_dir"):
        if "\0" in getattr(settings, key):
            raise ConfigError(f"setting fetch.{key} must be a path without NUL characters")
    return dataclasses.replace(settings, handler_options=types.MappingProxyType(tables))


def _default_file(environ: Mapping[str, str]) -> Path | None:
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "glimpse" / "fetch.toml"


def _read(file: Path) -> dict[str, Any]:
    try:
        document = tomllib.loads(file.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read fetch settings {file}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"fetch settings {file} are not TOML: {exc}") from None
    unknown = sorted(set(document) - {"fetch"})
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]} in {file}: only [fetch] is read")
    table = document.get("fetch", {})
    if not isinstance(table, dict):
        raise ConfigError("setting fetch must be a table")
    return table


def _from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if "GLIMPSE_FETCH_HANDLERS" in environ:
        found["handlers"] = parse_handlers(environ["GLIMPSE_FETCH_HANDLERS"])
    for key in ("state_file", "cache_dir", "cache_size"):
        name = f"GLIMPSE_FETCH_{key.upper()}"
        if name in environ:
            found[key] = environ[name]
    for key in ("parallel", "retries"):
        name = f"GLIMPSE_FETCH_{key.upper()}"
        if name in environ:
            try:
                found[key] = int(environ[name])
            except ValueError:
                raise ConfigError(f"{name} must be an integer, not {environ[name]!r}") from None
    return found
