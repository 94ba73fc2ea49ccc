"""Entry-point lookup for drivers: built-in and third-party drivers load the same way."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from glimpse.errors import ConfigError


def load(group: str, name: str) -> Any:
    """Return the object registered as ``name`` in entry-point ``group``.

    Raises ConfigError naming the installed choices when there is none.
    """
    found = entry_points(group=group, name=name)
    if not found:
        known = sorted(ep.name for ep in entry_points(group=group))
        raise ConfigError(f"no {group} plugin {name!r}; installed: {known}")
    return next(iter(found)).load()


def options(cls: type[Any], raw: Mapping[str, Any], prefix: str) -> Any:
    """Build a driver's frozen ``Options`` dataclass from its raw settings table.

    Unknown keys and values of the wrong type raise ConfigError naming the key
    as ``prefix.key``.
    """
    fields = cls.__dataclass_fields__
    for key, value in raw.items():
        if key not in fields:
            raise ConfigError(f"unknown setting {prefix}.{key}")
        expected = fields[key].type
        if isinstance(expected, str) and type(value).__name__ != expected:
            raise ConfigError(f"setting {prefix}.{key} must be a {expected}, not {value!r}")
    try:
        return cls(**raw)
    except TypeError as exc:
        raise ConfigError(f"settings {prefix}: {exc}") from None
