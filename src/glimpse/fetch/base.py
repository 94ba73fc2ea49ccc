"""What handlers are and what they are given: the Handler protocol, a job, a location.

A handler is a class registered in the ``glimpse.fetchers`` entry-point group, with a
frozen ``Options`` dataclass (filled from the ``[fetch.<name>]`` table of the fetch
settings) and the location URL ``schemes`` it serves; an empty tuple marks a
location-independent handler, which reads through the Image API. It is built as
``Handler(options, context)`` and then ``prepare``-d with the targets it produced
before, so a handler that keeps host state (a mount, a session) can set it up again
after a reboot. ``fetch`` writes the image into the ``Sink`` it is handed; the sink
hashes and counts what arrives and publishes the target only when everything matches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol
from urllib.parse import urlsplit

from glimpse.fetch.errors import FetchError

if TYPE_CHECKING:
    from glimpse.fetch.service import ImageService
    from glimpse.fetch.sink import Sink

#: Called with (bytes done, total bytes or None) as data arrives.
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class Location:
    """One place the image's bytes are kept, as the Image API shows it."""

    url: str
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def scheme(self) -> str:
        try:
            return urlsplit(self.url).scheme.lower()
        except ValueError:
            return ""

    def shown(self) -> str:
        """The URL fit for a message or a log line: any userinfo (a credential) removed."""
        try:
            parts = urlsplit(self.url)
        except ValueError:
            return "<unparsable URL>"
        if "@" not in parts.netloc:
            return self.url
        return parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]).geturl()


@dataclass(frozen=True)
class Expected:
    """What the fetched bytes must be: size, md5 ``checksum`` and ``os_hash_value``."""

    size: int | None
    checksum: str | None
    os_hash_algo: str | None
    os_hash_value: str | None

    @classmethod
    def of(cls, image: Mapping[str, Any]) -> Expected:
        """The expectations of an image record; FetchError for values that cannot be checked."""
        size = image.get("size")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise FetchError(f"image {image.get('id')} has an invalid size {size!r}")
        checksum = _hex(image.get("checksum"), "checksum")
        algo = image.get("os_hash_algo") or None
        value = _hex(image.get("os_hash_value"), "os_hash_value")
        if value is not None:
            if not isinstance(algo, str) or not usable_algorithm(algo):
                raise FetchError(f"image {image.get('id')} uses an unknown os_hash_algo {algo!r}")
            if len(value) != 2 * hashlib.new(algo).digest_size:
                raise FetchError(f"os_hash_value of image {image.get('id')} is not {algo}")
        elif algo is not None and not (isinstance(algo, str) and usable_algorithm(algo)):
            algo = None
        if checksum is not None and len(checksum) != 32:
            raise FetchError(f"checksum of image {image.get('id')} is not an md5")
        return cls(size, checksum, algo if value is not None else None, value)

    @property
    def verifiable(self) -> bool:
        """Whether any hash is known: without one only the size can be checked."""
        return self.checksum is not None or self.os_hash_value is not None


def usable_algorithm(name: str) -> bool:
    return name in hashlib.algorithms_available and not name.startswith("shake_")


def _hex(value: Any, what: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not all(c in "0123456789abcdefABCDEF" for c in value):
        raise FetchError(f"the image's {what} is not a hex digest")
    return value.lower()


@dataclass(frozen=True)
class Transfer:
    """How bytes move: parallel ranged reads, their size, and resuming after a cut."""

    parallel: int = 4
    #: Images smaller than this are read in one stream.
    parallel_min_size: int = 64 << 20
    #: Resumed reads after an interruption, per stream.
    retries: int = 5
    #: Seconds before the first resumed read; doubles on each further one.
    backoff: float = 0.2


@dataclass(frozen=True)
class Association:
    """What the state file remembers of one target: who produced it, and what it was."""

    handler: str
    image_id: str
    size: int | None
    checksum: str | None
    os_hash_algo: str | None
    os_hash_value: str | None
    #: (device, inode, size, mtime_ns, ctime_ns) of the target when it was verified.
    fingerprint: tuple[int, ...]
    location: str | None = None
    cached: bool = False

    def matches(self, expected: Expected) -> bool:
        return (self.size, self.checksum, self.os_hash_algo, self.os_hash_value) == (
            expected.size,
            expected.checksum,
            expected.os_hash_algo,
            expected.os_hash_value,
        )


@dataclass(frozen=True)
class HandlerContext:
    """What a handler is built with besides its options: its name and the environment."""

    name: str
    environ: Mapping[str, str]


@dataclass(frozen=True)
class Job:
    """One image to fetch to one target."""

    image_id: str
    image: Mapping[str, Any]
    expected: Expected
    target: Path
    service: ImageService
    transfer: Transfer = Transfer()


class Handler(Protocol):
    """A way to get an image's bytes onto this host.

    ``fetch`` raises FetchError (or any exception) when it cannot; the fetcher logs
    it, removes what the sink received and tries the next handler.
    """

    #: Location URL schemes served; () = location-independent (reads through the API).
    schemes: ClassVar[tuple[str, ...]]
    name: str

    def prepare(self, owned: Mapping[str, Association]) -> None:
        """Called once when loaded, with the targets (by path) this handler produced."""

    def fetch(self, job: Job, location: Location | None, sink: Sink) -> None:
        """Write the image from ``location`` (None for location-independent) into ``sink``."""
