"""What every benchmark module shares: paths, phase and service names, units, the error."""

from __future__ import annotations

import os
import sys
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


def reexec_in_venv() -> None:
    """Run again with Glimpse's virtualenv Python, which has the server's dependencies."""
    venv = ROOT / ".venv"
    python = venv / "bin" / "python"
    if Path(sys.prefix).resolve() != venv.resolve() and python.exists():
        os.execv(str(python), [str(python), *sys.argv])  # noqa: S606 - our own interpreter


def parse_size(text: str) -> int:
    """Bytes from ``1GiB``, ``256MiB``, ``64KiB`` or a plain number."""
    units = {"GiB": GIB, "MiB": MIB, "KiB": 1024}
    for unit, factor in units.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def make_data(path: Path, size: int) -> None:
    """A random file of ``size`` bytes, readable by other users, made once and kept."""
    if path.exists() and path.stat().st_size == size:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        os.fchmod(out.fileno(), 0o644)
        left = size
        while left:
            block = os.urandom(min(left, 4 * MIB))
            out.write(block)
            left -= len(block)
