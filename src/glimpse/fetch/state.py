"""The state file: which handler produced each target, kept across restarts.

```json
{"version": 1, "targets": {"/var/lib/images/base.raw": {"handler": "file",
  "image_id": "...", "size": 1024, "checksum": "...", "os_hash_algo": "sha512",
  "os_hash_value": "...", "fingerprint": [2049, 131, 1024, 1700000000, 1700000000],
  "location": "file:///...", "cached": false}}}
```

Writers take an exclusive ``flock`` on ``<file>.lock`` for the whole read-change-write,
and write a temporary file, fsync it and rename it over the old one, so a reader sees
the old state or the new one, never half of one. A file that is not this JSON (cut,
edited by hand, from another program) is set aside with a warning and the state
starts fresh: it only saves work, and losing it costs a download at worst.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from glimpse.fetch.base import Association

log = logging.getLogger(__name__)

VERSION = 1


class StateFile:
    """The JSON state at ``path``; ``locked`` for a consistent read-change-write."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, Association]:
        """The associations now, by target path."""
        with self._lock(fcntl.LOCK_SH):
            return self._load()

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict[str, Association]]:
        """The associations, to change in place; written back when the block ends well."""
        with self._lock(fcntl.LOCK_EX):
            targets = self._load()
            before = dict(targets)
            yield targets
            if targets != before:
                self._write(targets)

    @contextlib.contextmanager
    def _lock(self, mode: int) -> Iterator[None]:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(
                self.path.with_name(self.path.name + ".lock"),
                os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                0o600,
            )
        except OSError as exc:
            log.warning("fetch state %s is not usable (%s); nothing is remembered", self.path, exc)
            yield
            return
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)

    def _load(self) -> dict[str, Association]:
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            log.warning("fetch state %s cannot be read (%s); starting afresh", self.path, exc)
            return {}
        try:
            document = json.loads(text)
            entries = document["targets"]
            if document.get("version") != VERSION or not isinstance(entries, dict):
                raise ValueError("not a version 1 state")
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            self._set_aside(f"{type(exc).__name__}: {exc}")
            return {}
        found: dict[str, Association] = {}
        for target, entry in entries.items():
            association = _association(entry)
            if association is None:
                log.warning("fetch state %s: entry for %s is not valid; dropped", self.path, target)
            else:
                found[target] = association
        return found

    def _set_aside(self, why: str) -> None:
        aside = self.path.with_name(self.path.name + ".corrupt")
        log.warning(
            "fetch state %s is not valid (%s); it is kept as %s and the state starts afresh",
            self.path,
            why[:200],
            aside.name,
        )
        with contextlib.suppress(OSError):
            os.replace(self.path, aside)

    def _write(self, targets: dict[str, Association]) -> None:
        document = {"version": VERSION, "targets": {t: asdict(a) for t, a in targets.items()}}
        temp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, json.dumps(document, indent=1, sort_keys=True).encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self.path)
        except OSError as exc:
            log.warning("fetch state %s not written: %s", self.path, exc)
            with contextlib.suppress(OSError):
                temp.unlink()


def _association(entry: Any) -> Association | None:
    if not isinstance(entry, dict):
        return None
    try:
        fingerprint = entry.get("fingerprint")
        if not isinstance(fingerprint, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) for n in fingerprint
        ):
            return None
        association = Association(
            handler=_text(entry["handler"]),
            image_id=_text(entry["image_id"]),
            size=_optional_int(entry.get("size")),
            checksum=_optional_text(entry.get("checksum")),
            os_hash_algo=_optional_text(entry.get("os_hash_algo")),
            os_hash_value=_optional_text(entry.get("os_hash_value")),
            fingerprint=tuple(fingerprint),
            location=_optional_text(entry.get("location")),
            cached=entry.get("cached") is True,
        )
    except (KeyError, TypeError):
        return None
    return association


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError("not a string")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _optional_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("not an integer")
    return value
