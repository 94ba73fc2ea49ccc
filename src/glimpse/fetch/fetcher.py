"""Fetching one image to one target: the order in which handlers are tried.

1. The handler the state file names for this target. Before it reads anything the
   target is checked: when it still holds the image (its fingerprint is the one
   recorded, or its size and hashes match on reading it), nothing is fetched.
2. Each handler for each location whose scheme it serves, locations in the order
   the server gives them, handlers in the configured order.
3. The location-independent handlers (``api``).

A handler that fails is logged and the next is tried; what it wrote is removed.
When none succeeds, NoHandlerAvailable lists each one tried and why. The handler
that produced the target is recorded for it. With a host cache the handlers fill
the cache entry instead (once, however many fetches of the image run at the same
time) and the target is linked from it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from glimpse.errors import GlimpseError
from glimpse.fetch import loading
from glimpse.fetch.base import Association, Expected, Handler, Job, Location, Progress, Transfer
from glimpse.fetch.cache import HostCache
from glimpse.fetch.errors import Attempt, FetchError, NoHandlerAvailable
from glimpse.fetch.hashing import file_matches, fingerprint
from glimpse.fetch.ranged import describe
from glimpse.fetch.service import ImageService, locations_of
from glimpse.fetch.settings import FetchSettings
from glimpse.fetch.sink import Sink
from glimpse.fetch.state import StateFile

log = logging.getLogger(__name__)

Plan = list[tuple[Handler, Location | None]]


@dataclass(frozen=True)
class Fetched:
    """What a fetch did."""

    image_id: str
    target: Path
    handler: str
    location: str | None
    #: The target already held the image: nothing was read.
    reused: bool = False
    #: The target was linked from the host cache (``how`` says how).
    cached: bool = False
    how: str = ""


class Fetcher:
    """Handlers loaded and prepared once, then any number of fetches."""

    def __init__(
        self,
        service: ImageService,
        settings: FetchSettings,
        environ: Mapping[str, str],
        progress: Progress | None = None,
    ) -> None:
        self.service = service
        self.settings = settings
        self.progress = progress
        self.transfer = Transfer(
            parallel=settings.parallel,
            parallel_min_size=settings.parallel_min_size,
            retries=settings.retries,
        )
        self.state = StateFile(settings.state_path(environ))
        self.handlers = loading.load(settings, environ)
        self.cache = (
            HostCache(Path(settings.cache_dir).expanduser(), settings.cache_bytes)
            if settings.cache_dir
            else None
        )
        self._prepare()

    def close(self) -> None:
        """Close what the handlers hold open (HTTP connections)."""
        for handler in self.handlers:
            close = getattr(handler, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _prepare(self) -> None:
        known = self.state.read()
        ready: list[Handler] = []
        for handler in self.handlers:
            owned = {t: a for t, a in known.items() if a.handler == handler.name}
            try:
                handler.prepare(owned)
            except Exception as exc:
                log.warning("fetch handler %s failed to prepare, skipped: %s", handler.name, exc)
                continue
            ready.append(handler)
        self.handlers = ready

    def fetch(self, image_id: str, target: str | os.PathLike[str]) -> Fetched:
        """Put image ``image_id`` at ``target``, verified; NoHandlerAvailable if nothing can."""
        path = _absolute(Path(target))
        image = self.service.image(image_id)
        status = image.get("status")
        if status != "active":
            raise FetchError(f"image {image_id} is {status}, not active: it has no data to fetch")
        expected = Expected.of(image)
        if not expected.verifiable:
            log.warning(
                "image %s has no checksum nor os_hash_value: only its size is checked", image_id
            )
        locations = locations_of(self.service, image)
        job = Job(image_id, image, expected, path, self.service, self.transfer)
        by_name = {h.name: h for h in self.handlers}
        recorded = self.state.read().get(str(path))
        first: Handler | None = None
        if recorded is not None:
            first = by_name.get(recorded.handler)
            if first is None:
                log.info(
                    "%s was fetched by %s, which is not configured now", path, recorded.handler
                )
            elif self._still_there(path, recorded, image_id, expected):
                self._remember(
                    path, recorded.handler, image_id, expected, recorded.location, recorded.cached
                )
                return Fetched(image_id, path, recorded.handler, recorded.location, reused=True)
        plan = _plan(self.handlers, locations, first)
        if self.cache is not None:
            name = self.cache.name_for(image_id, expected)
            size = expected.size or 0
            if name is not None and size <= self.cache.bound:
                return self._through_cache(job, plan, self.cache, name)
            log.info("image %s is not cached (no multihash, or larger than the cache)", image_id)
        handler, location = self._run(job, plan, path)
        self._remember(path, handler.name, image_id, expected, location)
        return Fetched(image_id, path, handler.name, location)

    def _through_cache(self, job: Job, plan: Plan, cache: HostCache, name: str) -> Fetched:
        with cache.hold(name):
            entry = cache.lookup(name)
            if entry is None:
                cache.make_room(name, job.expected.size or 0)
                handler, location = self._run(job, plan, cache.path(name))
                entry = cache.admit(name, handler.name, location)
                filled = True
            else:
                filled = False
            how = cache.link(name, job.target, job.expected)
        log.info("%s: %s from the cache (%s)", job.target, how, "filled" if filled else "hit")
        self._remember(
            job.target, entry.handler, job.image_id, job.expected, entry.location, cached=True
        )
        return Fetched(
            job.image_id, job.target, entry.handler, entry.location, cached=True, how=how
        )

    def _run(self, job: Job, plan: Plan, path: Path) -> tuple[Handler, str | None]:
        """Try the plan in order into ``path``; the handler and location that succeeded."""
        attempts: list[Attempt] = []
        for handler, location in plan:
            shown = location.shown() if location is not None else None
            try:
                with Sink(path, job.expected, self.progress) as sink:
                    handler.fetch(job, location, sink)
                    sink.commit()
            except Exception as exc:
                reason = exc.message if isinstance(exc, GlimpseError) else describe(exc)
                if not isinstance(exc, GlimpseError):
                    log.debug("fetch handler %s failed", handler.name, exc_info=True)
                log.warning(
                    "fetch handler %s%s failed: %s",
                    handler.name,
                    f" ({shown})" if shown else "",
                    reason,
                )
                attempts.append(Attempt(handler.name, shown, reason))
                continue
            log.info("%s: fetched by %s%s", path, handler.name, f" from {shown}" if shown else "")
            return handler, shown
        raise NoHandlerAvailable(job.image_id, attempts)

    def _still_there(
        self, path: Path, recorded: Association, image_id: str, expected: Expected
    ) -> bool:
        if recorded.image_id != image_id or not recorded.matches(expected):
            return False
        found = fingerprint(path)
        if found is None:
            return False
        if found == recorded.fingerprint:
            return True
        return file_matches(path, expected)

    def _remember(
        self,
        path: Path,
        handler: str,
        image_id: str,
        expected: Expected,
        location: str | None,
        cached: bool = False,
    ) -> None:
        found = fingerprint(path)
        if found is None:
            return
        with self.state.locked() as targets:
            targets[str(path)] = Association(
                handler=handler,
                image_id=image_id,
                size=expected.size,
                checksum=expected.checksum,
                os_hash_algo=expected.os_hash_algo,
                os_hash_value=expected.os_hash_value,
                fingerprint=found,
                location=location,
                cached=cached,
            )
            for gone in [t for t in targets if fingerprint(Path(t)) is None]:
                del targets[gone]


def _plan(handlers: list[Handler], locations: list[Location], first: Handler | None) -> Plan:
    plan: Plan = []
    if first is not None:
        plan += [(first, loc) for loc in locations if loc.scheme in first.schemes]
        if not first.schemes:
            plan.append((first, None))
    for location in locations:
        plan += [(h, location) for h in handlers if location.scheme in h.schemes]
    plan += [(h, None) for h in handlers if not h.schemes]
    seen: set[tuple[str, str | None]] = set()
    unique: Plan = []
    for handler, place in plan:
        key = (handler.name, place.url if place is not None else None)
        if key not in seen:
            seen.add(key)
            unique.append((handler, place))
    return unique


def _absolute(target: Path) -> Path:
    """The target's absolute path, its directory's links resolved (the state's key)."""
    target = Path(os.path.abspath(target))
    if target.name in ("", ".", ".."):
        raise FetchError(f"{target} is not a file name")
    directory = Path(os.path.realpath(target.parent))
    if not directory.is_dir():
        raise FetchError(f"directory {target.parent} does not exist")
    path = directory / target.name
    if path.is_dir():
        raise FetchError(f"{path} is a directory")
    return path
