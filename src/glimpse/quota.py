"""Per-project quotas: the limits that apply, and metering an upload against them.

Limits have Glance's names (the unified-limits resources): ``image_count_total``,
``image_size_total`` and ``image_stage_total`` (MiB in settings, as in Glance)
and ``image_count_uploading``. Defaults apply to every project and
``[quotas.projects.<id>]`` tables override them per project.

Unlike Glance, whose unified limits are checked before an upload and can be
overshot by uploads running at the same time, the size limit holds while
bytes stream: an upload reserves room in the registry before it writes, in
growing steps, and stops at the chunk that would cross the limit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from glimpse.errors import ConfigError, QuotaExceeded
from glimpse.model import UNLIMITED, QuotaLimits

MIB = 1 << 20
#: Limits counted in MiB where people read or write them (settings, /v2/info/usage);
#: QuotaLimits and Usage hold bytes.
SIZES = frozenset({"image_size_total", "image_stage_total"})
FIRST_GRANT = 1 << 20
MAX_GRANT = 64 << 20


class Quotas:
    """The limits of each project: defaults, then that project's overrides."""

    def __init__(
        self, defaults: Mapping[str, int], projects: Mapping[str, Mapping[str, Any]]
    ) -> None:
        self._defaults = _limits(defaults, "quotas")
        self._projects = {
            project: _limits({**defaults, **values}, f"quotas.projects.{project}")
            for project, values in projects.items()
        }

    def limits(self, project: str | None) -> QuotaLimits:
        return self._projects.get(project or "", self._defaults)


def _limits(values: Mapping[str, Any], where: str) -> QuotaLimits:
    names = {f.name for f in dataclasses.fields(QuotaLimits)}
    converted: dict[str, int] = {}
    for name, value in values.items():
        if name not in names:
            raise ConfigError(f"unknown setting {where}.{name}")
        if isinstance(value, bool) or not isinstance(value, int) or value < UNLIMITED:
            raise ConfigError(f"setting {where}.{name} must be an integer, -1 for no limit")
        converted[name] = value * MIB if name in SIZES and value != UNLIMITED else value
    return QuotaLimits(**converted)


def metered(
    chunks: Iterable[bytes],
    reserve: Callable[[int], int],
    exceeded: Callable[[], QuotaExceeded],
    granted: int = 0,
) -> Iterator[bytes]:
    """Yield ``chunks`` only as far as reserved room covers them.

    ``granted`` bytes are reserved already. ``reserve(n)`` asks for ``n`` more
    and returns how many it granted. Requests start at ``FIRST_GRANT`` and
    double up to ``MAX_GRANT``, so a small upload costs one reservation and a
    large one a few dozen, while an upload never holds much more room than it
    has used. A chunk the room cannot cover raises ``exceeded()`` before it
    is passed on, so nothing past the limit is ever written.
    """
    used = 0
    step = FIRST_GRANT
    for chunk in chunks:
        used += len(chunk)
        while used > granted:
            wanted = max(step, used - granted)
            got = reserve(wanted)
            granted += got
            if used > granted and got < wanted:
                raise exceeded()
            step = min(step * 2, MAX_GRANT)
        yield chunk
