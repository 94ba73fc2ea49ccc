"""glance-download: an image's record and data from another region's Image API.

As Glance does, the record is ``GET {endpoint}/v2/images/{id}`` and the data
``GET {endpoint}/v2/images/{id}/file``, both with the caller's token in
``X-Auth-Token``; both URLs pass import filtering (Glance filters the data
URL and every redirect). The fetcher given must be made for
``glance-download``, whose address rule is its own: a Keystone catalog often
names internal endpoints. The token goes to the endpoint's origin only, never
to a host a redirect leads to, and never into a message.
"""

from __future__ import annotations

import json
import re
from typing import Any

from glimpse.errors import FetchFailed, TooLarge, UrlRefused
from glimpse.store.web.fetch import RemoteData, WebFetcher
from glimpse.store.web.urls import redact

#: The largest image record read: records with many properties stay far below this.
RECORD_LIMIT = 4 << 20
_IMAGE_ID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)


def image_url(endpoint: str, image_id: str, *, data: bool = False) -> str:
    """The URL of image ``image_id``'s record (or its data) at Image API ``endpoint``.

    UrlRefused for an id that is not a UUID (it is put into the path) or an
    endpoint with a query or fragment, which would swallow the path.
    """
    if not _IMAGE_ID.fullmatch(image_id):
        raise UrlRefused("glance_image_id must be an image id (a UUID)")
    base = endpoint.strip().rstrip("/")
    if "?" in base or "#" in base:
        raise UrlRefused(f"the image endpoint {redact(base)} has a query or fragment")
    return f"{base}/v2/images/{image_id}" + ("/file" if data else "")


def remote_image(
    fetcher: WebFetcher, endpoint: str, image_id: str, token: str | None
) -> dict[str, Any]:
    """The remote image's record (its JSON object), for the import to read and check."""
    url = image_url(endpoint, image_id)
    headers = {"Accept": "application/json", **_auth(token)}
    try:
        with fetcher.open(url, headers=headers, size_cap=RECORD_LIMIT) as answer:
            body = b"".join(answer.chunks())
    except TooLarge:
        limit = min(RECORD_LIMIT, fetcher.settings.size_cap)
        raise FetchFailed(
            f"the record of image {image_id} at {redact(endpoint)} is larger than {limit} bytes"
        ) from None
    except FetchFailed as exc:
        raise _refusal(exc, endpoint, image_id) from None
    try:
        record = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        record = None
    if not isinstance(record, dict):
        raise FetchFailed(
            f"{redact(url)} answered something other than an image record (a JSON object)"
        )
    return record


def open_remote_data(
    fetcher: WebFetcher,
    endpoint: str,
    image_id: str,
    token: str | None,
    *,
    expected_size: int | None = None,
    size_cap: int | None = None,
) -> RemoteData:
    """The remote image's data, open for streaming; ``expected_size`` from its record."""
    url = image_url(endpoint, image_id, data=True)
    try:
        data = fetcher.open(url, headers=_auth(token), size_cap=size_cap)
    except FetchFailed as exc:
        raise _refusal(exc, endpoint, image_id) from None
    if data.status == 204:  # Glance's answer for an image without data
        data.close()
        raise FetchFailed(f"image {image_id} at {redact(endpoint)} has no data", status=204)
    data.expect(expected_size)
    return data


def _auth(token: str | None) -> dict[str, str]:
    return {"X-Auth-Token": token} if token else {}


def _refusal(exc: FetchFailed, endpoint: str, image_id: str) -> FetchFailed:
    """An error answer told in terms of the remote image; other failures unchanged."""
    where = redact(endpoint)
    if exc.status == 404:
        return FetchFailed(f"image {image_id} was not found at {where}", status=404)
    if exc.status in (401, 403):
        return FetchFailed(
            f"{where} refused the token for image {image_id} (it answered {exc.status})",
            status=exc.status,
        )
    return exc
