"""What every benchmark module shares: paths, phase and service names, units, the error."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CLIENT = HERE / "client.py"
PHASES = ("upload", "download", "create", "get", "list", "startup")
SERVICES = ("glimpse", "glance")
GIB = 1 << 30
MB = 1e6
MIB = 1 << 20
IMAGES = 1000  # images created by the create phase and present for get and list


class BenchError(RuntimeError):
    """A measurement could not be taken (server answer, missing tool, bad data)."""
