"""The ``api`` handler: ``GET /v2/images/{id}/file`` through the Image API.

Location-independent, so it is the fallback that works wherever the API answers.
An interrupted download is resumed with ``Range: bytes=<offset>-``; an image of at
least ``parallel_min_size`` bytes is read as ``parallel`` ranged GETs at once into a
preallocated temporary file (see ``ranged`` and ``sink``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import httpx

from glimpse.fetch.base import Association, HandlerContext, Job, Location
from glimpse.fetch.errors import FetchError
from glimpse.fetch.http import TRANSIENT, HttpRanges
from glimpse.fetch.ranged import describe, download
from glimpse.fetch.service import image_path
from glimpse.fetch.sink import Sink


class ApiHandler:
    """Reads the image's data through the Image API, with the caller's credentials."""

    schemes: ClassVar[tuple[str, ...]] = ()

    @dataclass(frozen=True)
    class Options:
        pass

    def __init__(self, options: Options, context: HandlerContext) -> None:
        self.name = context.name
        self.options = options

    def prepare(self, owned: Mapping[str, Association]) -> None:
        """Nothing to set up again: the API client is the caller's."""

    def fetch(self, job: Job, location: Location | None, sink: Sink) -> None:
        reader = HttpRanges(job.service.http, image_path(job.image_id, "file"), "the Image API")
        try:
            download(reader, sink, job.expected.size, job.transfer, TRANSIENT, reader.what)
        except httpx.HTTPError as exc:
            raise FetchError(f"{reader.what}: {describe(exc)}") from None
