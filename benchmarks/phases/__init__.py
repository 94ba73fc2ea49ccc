"""The benchmark's phases, one module each, run in the order of common.PHASES.

Each module's ``run(context)`` measures every service (and the machine's limits,
where the phase has them) and records the samples; ``RUNNERS`` maps phase names to them.
"""

from __future__ import annotations

from collections.abc import Callable

from phases import create, download, get, startup, upload
from phases import list as listing
from phases.context import Config, Context

RUNNERS: dict[str, Callable[[Context], None]] = {
    "upload": upload.run,
    "download": download.run,
    "create": create.run,
    "get": get.run,
    "list": listing.run,
    "startup": startup.run,
}

__all__ = ["RUNNERS", "Config", "Context"]
