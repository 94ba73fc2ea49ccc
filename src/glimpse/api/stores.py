"""Routes of stores and locations: ``/v2/info/stores`` (and its detail),
``DELETE /v2/stores/{store_id}/{image_id}`` and ``/v2/images/{id}/locations``.

Glimpse always names its stores, so discovery answers as Glance does with
several stores enabled. Flags are the string ``"true"`` and only present when
true, as Glance sends them.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from glimpse.api.endpoint import action, endpoint, json_object_of, json_of, lookup
from glimpse.api.serialize import location_view
from glimpse.errors import Invalid
from glimpse.model import Declared, Location
from glimpse.service.locating import HASH_BYTES
from glimpse.service.locations import StoreInfo


def _store_view(info: StoreInfo, detail: bool) -> dict[str, Any]:
    view: dict[str, Any] = {"id": info.id}
    if info.read_only:
        view["read-only"] = "true"
    if info.description:
        view["description"] = info.description
    if info.default:
        view["default"] = "true"
    if detail:
        view["type"] = info.type
        view["properties"] = dict(info.properties)
        view["weight"] = info.weight
    return view


def _stores_of(detail: bool) -> Any:
    return json_of(lambda infos: {"stores": [_store_view(i, detail) for i in infos]})


def new_location(body: dict[str, Any]) -> tuple[str, Declared | None]:
    """The body of ``POST /v2/images/{id}/locations``: a URL and optional validation data."""

    def refuse(why: str) -> Invalid:
        return Invalid(f"Provided object does not match schema 'location': {why}")

    url = body.get("url")
    if "url" not in body:
        raise refuse("'url' is a required property")
    if not isinstance(url, str):
        raise refuse(f"{url!r} is not of type 'string'")
    if "validation_data" not in body:
        return url, None
    data = body["validation_data"]
    if not isinstance(data, dict):
        raise refuse(f"{data!r} is not of type 'object'")
    extra = sorted(set(data) - {"os_hash_algo", "os_hash_value"})
    if extra:
        raise refuse(f"Additional properties are not allowed ({', '.join(extra)} unexpected)")
    algo, value = data.get("os_hash_algo"), data.get("os_hash_value")
    for key, given in (("os_hash_algo", algo), ("os_hash_value", value)):
        if key in data and not isinstance(given, str):
            raise refuse(f"{given!r} is not of type 'string'")
    if algo is not None and algo not in HASH_BYTES:
        raise refuse(f"{algo!r} is not one of {sorted(HASH_BYTES)}")
    if isinstance(value, str) and len(value) > 128:
        raise refuse(f"{value!r} is too long")
    if (algo is None) != (value is None):
        missing = "os_hash_value" if value is None else "os_hash_algo"
        present = "os_hash_algo" if value is None else "os_hash_value"
        raise refuse(f"{missing!r} is a dependency of {present!r}")
    return url, Declared(os_hash_algo=algo, os_hash_value=value)


def _accepted(_result: object, _request: Request) -> Response:
    return Response(status_code=202)


def _locations_view(locations: list[Location]) -> list[dict[str, Any]]:
    return [location_view(loc) for loc in locations]


stores_info = lookup(lambda c: c.services.locations.stores_info(c.actor), _stores_of(False))
stores_detail = lookup(
    lambda c: c.services.locations.stores_info(c.actor, detail=True), _stores_of(True)
)
delete_from_store = action(
    lambda c: c.services.locations.delete_from_store(c.actor, c.path["store_id"], c.image_id)
)
add_location = endpoint(
    json_object_of(new_location),
    lambda c: c.services.locations.add_location(c.actor, c.image_id, *c.input),
    _accepted,
)
locations = lookup(
    lambda c: c.services.locations.locations(c.actor, c.image_id), json_of(_locations_view)
)
