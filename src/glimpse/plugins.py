"""Entry-point lookup for drivers: built-in and third-party drivers load the same way."""

from __future__ import annotations

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


def names(group: str) -> list[str]:
    """The names installed in entry-point ``group``, sorted."""
    return sorted({ep.name for ep in entry_points(group=group)})
