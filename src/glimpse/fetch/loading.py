"""Handlers from the ``glimpse.fetchers`` entry-point group, in the order settings name them.

Unknown and repeated names are warned about, naming them, and skipped: a host with
a handler list written for a richer installation still fetches with what it has. A
handler that is installed but cannot be built (it fails to import, or its
``[fetch.<name>]`` options are wrong) stops the fetch with ConfigError, as a store
driver stops start-up: a broken handler is never dropped silently.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any

from glimpse import options
from glimpse.errors import ConfigError
from glimpse.fetch.base import Handler, HandlerContext
from glimpse.fetch.settings import FetchSettings

log = logging.getLogger(__name__)

GROUP = "glimpse.fetchers"


def installed() -> dict[str, Any]:
    """The installed handlers' entry points, by name."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def choose(names: Iterable[str], known: Iterable[str]) -> list[str]:
    """``names`` without unknown and repeated ones; a warning names each kind skipped."""
    known = set(known)
    chosen: list[str] = []
    unknown: list[str] = []
    repeated: list[str] = []
    for name in names:
        if name in chosen:
            if name not in repeated:
                repeated.append(name)
        elif name not in known:
            if name not in unknown:
                unknown.append(name)
        else:
            chosen.append(name)
    if unknown:
        log.warning(
            "fetch handlers not installed, skipped: %s (installed: %s)",
            ", ".join(map(repr, unknown)),
            ", ".join(sorted(known)),
        )
    if repeated:
        log.warning(
            "fetch handlers named more than once, later ones skipped: %s",
            ", ".join(map(repr, repeated)),
        )
    return chosen


def load(settings: FetchSettings, environ: Mapping[str, str]) -> list[Handler]:
    """Build the handlers the settings name, in their order."""
    found = installed()
    for table in settings.handler_options:
        if table not in found:
            log.warning("[fetch.%s] names no installed fetch handler; ignored", table)
    handlers: list[Handler] = []
    for name in choose(settings.handlers, found):
        try:
            cls = found[name].load()
        except Exception as exc:
            raise ConfigError(f"fetch handler {name!r} does not load: {exc}") from None
        raw = settings.handler_options.get(name, {})
        handler_options = options.build(cls.Options, dict(raw), f"fetch.{name}")
        handler: Handler = cls(handler_options, HandlerContext(name, environ))
        handlers.append(handler)
    return handlers
