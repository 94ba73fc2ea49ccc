"""What the fetcher needs of the Image API, and the image's locations.

The fetcher asks for little: an image's JSON by id, and an ``httpx.Client`` whose
base URL is the image endpoint's root with the caller's authentication applied (for
``GET /v2/images/{id}/file`` and ``/locations``). ``glimpse.client.Client`` offers
both; ``HttpImageService`` wraps a bare ``httpx.Client``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from glimpse.errors import ImageNotFound
from glimpse.fetch.base import Location
from glimpse.fetch.errors import FetchError
from glimpse.fetch.ranged import describe

log = logging.getLogger(__name__)


class ImageService(Protocol):
    """The Image API as the fetcher uses it."""

    @property
    def http(self) -> httpx.Client:
        """Base URL: the image endpoint's root (``.../v2/...`` is appended); auth applied."""

    def image(self, image_id: str) -> Mapping[str, Any]:
        """The image's JSON (``GET /v2/images/{id}``); ImageNotFound if there is none."""


def image_path(image_id: str, *rest: str) -> str:
    return "/".join(("/v2/images", quote(image_id, safe=""), *rest))


class HttpImageService:
    """The Image API through a configured ``httpx.Client``."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    @property
    def http(self) -> httpx.Client:
        return self._http

    def image(self, image_id: str) -> Mapping[str, Any]:
        try:
            response = self._http.get(image_path(image_id))
        except httpx.HTTPError as exc:
            raise FetchError(f"the Image API is unreachable: {describe(exc)}") from None
        if response.status_code == 404:
            raise ImageNotFound(image_id)
        if response.status_code != 200:
            raise FetchError(f"the Image API answered HTTP {response.status_code} for the image")
        try:
            image = response.json()
        except ValueError:
            image = None
        if not isinstance(image, dict):
            raise FetchError("the Image API answered the image with something other than JSON")
        return image


class ClientImageService:
    """The Image API through ``glimpse.client.Client``: its image records and its HTTP client."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @property
    def http(self) -> httpx.Client:
        http: httpx.Client = self._client.http
        return http

    def image(self, image_id: str) -> Mapping[str, Any]:
        image = self._client.images.get(image_id)
        raw: Mapping[str, Any] = image.raw
        return raw


def locations_of(service: ImageService, image: Mapping[str, Any]) -> list[Location]:
    """The image's locations, in the order the server gives them.

    From ``locations`` (shown with ``show_multiple_locations``) and ``direct_url``
    (``show_image_direct_url``); when the image shows neither, from
    ``GET /v2/images/{id}/locations``, which only service and admin callers may read:
    any refusal there means no locations, and only location-independent handlers apply.
    """
    found: list[Location] = []
    listed = image.get("locations")
    if isinstance(listed, list):
        found += _parse(listed)
    direct = image.get("direct_url")
    if isinstance(direct, str) and direct and direct not in (loc.url for loc in found):
        found.append(Location(direct))
    if "locations" in image or "direct_url" in image:
        return found
    image_id = str(image.get("id", ""))
    try:
        response = service.http.get(image_path(image_id, "locations"))
    except httpx.HTTPError as exc:
        log.debug("locations of image %s not read: %s", image_id, describe(exc))
        return found
    if response.status_code != 200:
        log.debug("locations of image %s: HTTP %d", image_id, response.status_code)
        return found
    try:
        body = response.json()
    except ValueError:
        return found
    return _parse(body) if isinstance(body, list) else found


def _parse(entries: list[Any]) -> list[Location]:
    found: list[Location] = []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("url"), str) and entry["url"]:
            metadata = entry.get("metadata")
            found.append(Location(entry["url"], metadata if isinstance(metadata, dict) else {}))
    return found
