"""Helpers of the operations tests: reading Prometheus pages and JSON log files."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from glimpse.testing import ServerProcess

#: ``launch(workers=1, **GLIMPSE_settings)``: a started server of the module.
Launch = Callable[..., ServerProcess]


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of a Prometheus text page: name, labels, value."""
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def value(text: str, name: str, **labels: Any) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels`` (0 if none)."""
    wanted = {k: str(v) for k, v in labels.items()}
    return sum(v for n, found, v in samples(text) if n == name and wanted.items() <= found.items())


def log_lines(path: Path) -> list[dict[str, Any]]:
    """Every JSON line of a log file (lines that are not JSON fail the test)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for_lines(
    path: Path, found: Callable[[list[dict[str, Any]]], bool], timeout: float = 10
) -> list[dict[str, Any]]:
    """The log's lines once ``found(lines)`` holds (they are written after the answer)."""
    deadline = time.monotonic() + timeout
    lines = log_lines(path)
    while not found(lines) and time.monotonic() < deadline:
        time.sleep(0.05)
        lines = log_lines(path)
    return lines


def wait_for_text(server: ServerProcess, pattern: re.Pattern[str], timeout: float = 10) -> str:
    """The server's output once ``pattern`` is found in it (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    text = server.log()
    while not pattern.search(text) and time.monotonic() < deadline:
        time.sleep(0.05)
        text = server.log()
    return text
