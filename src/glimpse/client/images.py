"""``/v2/images``: list (following ``next``), show, find by id or name, create, update,
delete, actions, tags."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from glimpse.client.errors import AmbiguousImageName, BadRequest, ImageNameNotFound, NotFound
from glimpse.client.transport import Transport
from glimpse.client.types import BASE_ATTRIBUTES, Image

PATCH_MEDIA = "application/openstack-images-v2.1-json-patch"
_Pairs = list[tuple[str, str]]
_Operations = list[dict[str, Any]]


def patch_operations(changes: Mapping[str, Any], removals: Iterable[str] = ()) -> _Operations:
    """A JSON patch (v2.1) that sets ``changes`` and removes the ``removals`` properties.

    Base attributes are always present on an image, so they are replaced; extra
    properties are added, which sets them whether or not they exist (Image API 2.1).
    """
    operations: _Operations = []
    for key, value in changes.items():
        op = "replace" if key in BASE_ATTRIBUTES else "add"
        operations.append({"op": op, "path": f"/{_pointer(key)}", "value": value})
    operations += [{"op": "remove", "path": f"/{_pointer(key)}"} for key in removals]
    return operations


def _pointer(key: str) -> str:
    """A JSON pointer token (RFC 6901): ``~`` and ``/`` escaped."""
    return key.replace("~", "~0").replace("/", "~1")


def path(image_id: str, *rest: str) -> str:
    """``/v2/images/{id}/...`` with every segment percent-encoded."""
    return "/".join(["/v2/images", *(quote(part, safe="") for part in (image_id, *rest))])


class ImagesApi:
    """Image records. Every call raises the client's HTTPError subclasses on failure."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def list(
        self,
        *,
        name: str | None = None,
        status: str | None = None,
        visibility: str | None = None,
        owner: str | None = None,
        member_status: str | None = None,
        tags: Sequence[str] = (),
        properties: Mapping[str, str] | None = None,
        sort: Sequence[str] = (),
        limit: int | None = None,
        page_size: int | None = None,
        filters: Sequence[tuple[str, str]] = (),
    ) -> Iterator[Image]:
        """Images matching the filters, page after page, until ``limit`` (None: all).

        ``sort`` items are ``key`` or ``key:asc|desc``; ``filters`` are raw query pairs
        (``("size_min", "1024")``, ``("created_at", "gt:2026-01-01T00:00:00Z")``).
        The server caps each page; the ``next`` links are followed as they come.
        """
        params: _Pairs = []
        named = {"name": name, "status": status, "visibility": visibility, "owner": owner}
        named["member_status"] = member_status
        params += [(k, v) for k, v in named.items() if v is not None]
        params += [("tag", tag) for tag in tags]
        params += list((properties or {}).items())
        params += list(filters)
        if sort:
            params.append(("sort", ",".join(sort)))
        size = page_size if page_size is not None else limit
        if size is not None:
            params.append(("limit", str(max(1, min(size, 1000)))))
        return self._pages(params, limit)

    def _pages(self, params: _Pairs, limit: int | None) -> Iterator[Image]:
        left = limit
        page: Any = self._transport.json("GET", "/v2/images", params=params)
        while left is None or left > 0:
            images = page.get("images") or []
            for document in images:
                if left is not None:
                    if left <= 0:
                        return
                    left -= 1
                yield Image.from_json(document)
            following = page.get("next")
            if not following or not images:
                return
            page = self._transport.json("GET", following)

    def get(self, image_id: str) -> Image:
        """One image; NotFound if it does not exist or the caller may not see it."""
        return Image.from_json(self._transport.json("GET", path(image_id)))

    def find(self, reference: str) -> Image:
        """The image whose id is ``reference``, else the one image named ``reference``.

        The id is tried first. Otherwise the images the caller lists (every page, the
        default listing of ``glimpse image list``: Glance's visibilities, accepted shares)
        are searched for that exact name, sent as ``name=eq:...`` so that no ``:`` or
        ``in:`` in it is read as an operator.

        Raises:
            ImageNameNotFound: no image has that id, and none that name.
            AmbiguousImageName: several images have that name; ``.ids`` lists them.
        """
        request_id = None
        # "." and ".." would be read as path segments, not as ids.
        if reference not in ("", ".", ".."):
            try:
                return self.get(reference)
            except (NotFound, BadRequest) as exc:
                request_id = exc.request_id
        # The largest pages the server gives: fewer round trips for a common name.
        listed = self.list(name=f"eq:{reference}", page_size=1000)
        named = [image for image in listed if image.name == reference]
        if not named:
            raise ImageNameNotFound(reference, request_id)
        if len(named) > 1:
            raise AmbiguousImageName(reference, [image.id for image in named])
        return named[0]

    def create(self, **fields: Any) -> Image:
        """Create an image record (status ``queued``); extra properties are strings."""
        return Image.from_json(self._transport.json("POST", "/v2/images", json=fields))

    def update(
        self, image_id: str, changes: Mapping[str, Any] | None = None, remove: Iterable[str] = ()
    ) -> Image:
        """Set attributes and properties, remove properties, in one JSON patch."""
        return self.patch(image_id, patch_operations(changes or {}, remove))

    def patch(self, image_id: str, operations: Sequence[Mapping[str, Any]]) -> Image:
        """Apply a JSON patch (``application/openstack-images-v2.1-json-patch``) as given."""
        document = self._transport.json(
            "PATCH",
            path(image_id),
            content=json.dumps(list(operations)).encode(),
            headers={"Content-Type": PATCH_MEDIA},
        )
        return Image.from_json(document)

    def delete(self, image_id: str) -> None:
        self._transport.request("DELETE", path(image_id))

    def deactivate(self, image_id: str) -> None:
        self._transport.request("POST", path(image_id, "actions", "deactivate"))

    def reactivate(self, image_id: str) -> None:
        self._transport.request("POST", path(image_id, "actions", "reactivate"))

    def add_tag(self, image_id: str, tag: str) -> None:
        self._transport.request("PUT", path(image_id, "tags", tag))

    def remove_tag(self, image_id: str, tag: str) -> None:
        self._transport.request("DELETE", path(image_id, "tags", tag))
