"""Errors of the fetcher: a failed handler, bad data, and no handler left to try.

```
GlimpseError
  FetchError          a handler could not produce the target (the next one is tried)
    DataMismatch      the bytes read do not have the image's size or hashes
    RangeUnsupported  a server answered a ranged read with the whole object
  NoHandlerAvailable  every handler was tried; ``attempts`` says who and why
```
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from glimpse.errors import GlimpseError


class FetchError(GlimpseError):
    """One handler could not fetch the image; the message says why, without secrets."""


class DataMismatch(FetchError):
    """The data read differs from what the image record promises (size, md5 or multihash)."""


class RangeUnsupported(FetchError):
    """A ranged read was answered with the whole object (or another range)."""


@dataclass(frozen=True)
class Attempt:
    """One handler tried for one location (``None``: location-independent) and why it failed."""

    handler: str
    location: str | None
    reason: str

    def describe(self) -> str:
        where = f" ({self.location})" if self.location else ""
        return f"{self.handler}{where}: {self.reason}"


class NoHandlerAvailable(GlimpseError):
    """No handler produced the target; ``attempts`` lists each one tried, in order."""

    def __init__(self, image_id: str, attempts: Sequence[Attempt]) -> None:
        self.image_id = image_id
        self.attempts = tuple(attempts)
        if attempts:
            tried = "; ".join(a.describe() for a in attempts)
        else:
            tried = "no handler is configured that can read it"
        super().__init__(f"no handler could fetch image {image_id}: {tried}")
