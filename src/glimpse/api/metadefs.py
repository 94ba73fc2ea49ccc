"""Routes of /v2/metadefs: namespaces, their objects, properties, tags and resource type
associations, and the resource types, with Glance's bodies and status codes.

Glance renders these with WSME, which leaves out every field that is unset or
null; so do the views here. Links (``self``, ``schema``) are relative, as in
Glance, and the object list's ``schema`` has no leading slash, as Glance sends it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response

from glimpse.api import metadef_inputs as inputs
from glimpse.api.body import reject_body
from glimpse.api.endpoint import (
    Call,
    action,
    endpoint,
    json_object_of,
    json_of,
    lookup,
    no_body,
    no_content,
    settings,
)
from glimpse.api.json import json_response
from glimpse.api.serialize import isotime
from glimpse.model.metadefs import (
    PROPERTY_KEYS,
    Association,
    Contents,
    MetadefObject,
    Namespace,
    NamespaceDraft,
    NamespaceQuery,
    ResourceType,
    Schema,
    Tag,
    TagQuery,
)
from glimpse.service.metadefs import MetadefService

_BASE = "/v2/metadefs/namespaces"

# -- views -------------------------------------------------------------------------------------


def _set(body: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """``body`` with the fields that are not None; times as Glance prints them."""
    for key, value in fields.items():
        if value is not None:
            body[key] = isotime(value) if key in ("created_at", "updated_at") else value
    return body


def namespace_view(ns: Namespace) -> dict[str, Any]:
    return _set(
        {"namespace": ns.namespace},
        display_name=ns.display_name,
        description=ns.description,
        visibility=ns.visibility,
        protected=ns.protected,
        owner=ns.owner,
        created_at=ns.created_at,
        updated_at=ns.updated_at,
        self=f"{_BASE}/{ns.namespace}",
        schema="/v2/schemas/metadefs/namespace",
    )


def association_view(a: Association) -> dict[str, Any]:
    return _set(
        {"name": a.name},
        prefix=a.prefix,
        properties_target=a.properties_target,
        created_at=a.created_at,
        updated_at=a.updated_at,
    )


def property_view(schema: Schema, name: str | None = None) -> dict[str, Any]:
    """A property definition with the keys Glance shows (a catalog file may hold others).

    In lists, a property carries a ``name`` when it was created through the property
    routes (which keep it in the definition) and none when it came with its namespace
    or a catalog file, as in Glance.
    """
    shown = {k: schema[k] for k in PROPERTY_KEYS if k in schema}
    return {**shown, "name": name} if name is not None else shown


def _properties(properties: dict[str, Schema]) -> dict[str, Any]:
    return {name: property_view(schema) for name, schema in properties.items()}


def object_view(namespace: str, obj: MetadefObject, *, stored: bool = True) -> dict[str, Any]:
    """An object; read back from the registry (``stored``), it always has ``required`` and
    ``properties``, empty when it has none, as Glance reads them."""
    required, properties = obj.required, obj.properties
    if stored:
        required, properties = required or [], properties or {}
    return _set(
        {"name": obj.name},
        description=obj.description,
        required=required,
        properties=None if properties is None else _properties(properties),
        created_at=obj.created_at,
        updated_at=obj.updated_at,
        self=f"{_BASE}/{namespace}/objects/{obj.name}",
        schema="/v2/schemas/metadefs/object",
    )


def tag_view(tag: Tag) -> dict[str, Any]:
    return _set({"name": tag.name}, created_at=tag.created_at, updated_at=tag.updated_at)


def _tag_names(tags: list[Tag]) -> dict[str, Any]:
    return {"tags": [{"name": t.name} for t in tags]}


def resource_type_view(rt: ResourceType) -> dict[str, Any]:
    return _set({"name": rt.name}, created_at=rt.created_at, updated_at=rt.updated_at)


def contents_view(contents: Contents) -> dict[str, Any]:
    """A namespace with what it holds; parts it lacks are left out."""
    name = contents.namespace.namespace
    body = namespace_view(contents.namespace)
    if contents.associations:
        body["resource_type_associations"] = [association_view(a) for a in contents.associations]
    if contents.properties:
        body["properties"] = {p.name: property_view(p.schema) for p in contents.properties}
    if contents.objects:
        body["objects"] = [object_view(name, o) for o in contents.objects]
    if contents.tags:
        body["tags"] = [{"name": t.name} for t in contents.tags]
    return body


def _created_view(draft: NamespaceDraft, contents: Contents) -> dict[str, Any]:
    """What create answers: the namespace, and the contents the request named, as it gave
    them (empty lists too)."""
    body = namespace_view(contents.namespace)
    if "resource_type_associations" in draft.given:
        body["resource_type_associations"] = [
            _set({"name": a.name}, prefix=a.prefix, properties_target=a.properties_target)
            for a in contents.associations
        ]
    if "properties" in draft.given:
        body["properties"] = {p.name: property_view(p.schema) for p in contents.properties}
    if "objects" in draft.given:
        body["objects"] = [
            _set(
                {"name": o.name},
                description=o.description,
                required=o.required,
                properties=None if o.properties is None else _properties(o.properties),
            )
            for o in contents.objects
        ]
    if "tags" in draft.given:
        body["tags"] = [{"name": t.name} for t in contents.tags]
    return body


# -- replies -----------------------------------------------------------------------------------


def _namespace_created(created: tuple[NamespaceDraft, Contents], request: Request) -> Response:
    draft, contents = created
    # A header holds Latin-1 only: the name is percent-encoded there.
    name = quote(contents.namespace.namespace, safe=":")
    location = f"{request.base_url}v2/metadefs/namespaces/{name}"
    return json_response(_created_view(draft, contents), 201, {"Location": location})


def _namespace_page(
    listed: tuple[NamespaceQuery, tuple[list[Namespace], dict[str, list[Association]]]],
    request: Request,
) -> Response:
    query, (found, associations) = listed
    params = dict(request.query_params)
    params.pop("marker", None)
    first = f"{_BASE}?{urlencode(params)}" if params else _BASE
    items = []
    for ns in found:
        item = namespace_view(ns)
        if associations.get(ns.namespace):
            item["resource_type_associations"] = [
                association_view(a) for a in associations[ns.namespace]
            ]
        items.append(item)
    body: dict[str, Any] = {
        "namespaces": items,
        "first": first,
        "schema": "/v2/schemas/metadefs/namespaces",
    }
    if found and len(found) == query.limit:
        body["next"] = f"{_BASE}?{urlencode({**params, 'marker': found[-1].namespace})}"
    return json_response(body)


# -- readers -----------------------------------------------------------------------------------


async def _namespace_query(request: Request) -> NamespaceQuery:
    images = settings(request).images
    return inputs.namespace_query(
        request.query_params.multi_items(),
        limit_default=images.limit_default,
        limit_max=images.limit_max,
    )


async def _shown_resource_type(request: Request) -> str | None:
    reject_body(request)
    return inputs.resource_type_param(request.query_params.multi_items())


async def _property_resource_type(request: Request) -> str | None:
    return inputs.resource_type_param(request.query_params.multi_items())


async def _object_query(request: Request) -> None:
    inputs.object_query(request.query_params.multi_items())


async def _tag_query(request: Request) -> TagQuery:
    return inputs.tag_query(request.query_params.multi_items())


async def _nothing(_request: Request) -> None:
    """Routes Glance reads nothing of: a body, if any, is ignored."""


async def _bulk_tags(request: Request) -> tuple[list[str], bool]:
    names = await json_object_of(inputs.tags)(request)
    return names, inputs.appending(request.headers.get("x-openstack-append"))


# -- handlers ----------------------------------------------------------------------------------


def _ns(c: Call[Any]) -> str:
    return c.path["namespace"]


def _service(c: Call[Any]) -> MetadefService:
    return c.services.metadefs


resource_types = lookup(
    lambda c: _service(c).resource_types(c.actor),
    json_of(lambda found: {"resource_types": [resource_type_view(rt) for rt in found]}),
)

index = endpoint(
    _namespace_query,
    lambda c: (c.input, _service(c).index(c.actor, c.input)),
    _namespace_page,
    reads=True,
)
create = endpoint(
    json_object_of(inputs.namespace),
    lambda c: (c.input, _service(c).create(c.actor, c.input)),
    _namespace_created,
)
show = endpoint(
    _shown_resource_type,
    lambda c: _service(c).get(c.actor, _ns(c), c.input),
    json_of(contents_view),
    reads=True,
)


def _replace(c: Call[NamespaceDraft]) -> Namespace:
    return _service(c).replace(c.actor, _ns(c), c.input)


update = endpoint(json_object_of(inputs.namespace), _replace, json_of(namespace_view))
delete = action(lambda c: _service(c).delete(c.actor, _ns(c)))


def _clear(what: str) -> Any:
    return endpoint(_nothing, lambda c: _service(c).clear(c.actor, _ns(c), what), no_content)


# objects
objects = endpoint(
    _object_query,
    lambda c: (_ns(c), _service(c).objects(c.actor, _ns(c))),
    json_of(
        lambda found: {
            "objects": [object_view(found[0], o) for o in found[1]],
            "schema": "v2/schemas/metadefs/objects",
        }
    ),
    reads=True,
)
create_object = endpoint(
    json_object_of(inputs.metadef_object),
    lambda c: _service(c).add_object(c.actor, _ns(c), c.input),
    lambda obj, request: json_response(
        object_view(request.path_params["namespace"], obj, stored=False), 201
    ),
)
show_object = lookup(
    lambda c: _service(c).object(c.actor, _ns(c), c.path["object_name"]),
    lambda obj, request: json_response(object_view(request.path_params["namespace"], obj)),
)
update_object = endpoint(
    json_object_of(inputs.metadef_object),
    lambda c: _service(c).replace_object(c.actor, _ns(c), c.path["object_name"], c.input),
    lambda obj, request: json_response(
        object_view(request.path_params["namespace"], obj, stored=False)
    ),
)
delete_object = action(lambda c: _service(c).remove_object(c.actor, _ns(c), c.path["object_name"]))
delete_objects = _clear("objects")

# properties


def _property_reply(status: int = 200) -> Any:
    return json_of(lambda p: property_view(p.schema, p.name), status)


properties = lookup(
    lambda c: _service(c).properties(c.actor, _ns(c)),
    json_of(lambda found: {"properties": {p.name: property_view(p.schema) for p in found}}),
)
create_property = endpoint(
    json_object_of(inputs.metadef_property),
    lambda c: _service(c).add_property(c.actor, _ns(c), c.input),
    _property_reply(201),
)


# Asked for with a resource type's prefix, the property is shown under its own name, as in
# Glance.
show_property = endpoint(
    _property_resource_type,
    lambda c: _service(c).property(c.actor, _ns(c), c.path["property_name"], c.input),
    _property_reply(),
    reads=True,
)
update_property = endpoint(
    json_object_of(inputs.metadef_property),
    lambda c: _service(c).replace_property(c.actor, _ns(c), c.path["property_name"], c.input),
    _property_reply(),
)
delete_property = endpoint(
    _nothing,
    lambda c: _service(c).remove_property(c.actor, _ns(c), c.path["property_name"]),
    no_content,
)
delete_properties = _clear("properties")

# tags
tags = endpoint(
    _tag_query,
    lambda c: _service(c).tags(c.actor, _ns(c), c.input),
    json_of(_tag_names),
    reads=True,
)
create_tags = endpoint(
    _bulk_tags,
    lambda c: _service(c).add_tags(c.actor, _ns(c), c.input[0], append=c.input[1]),
    json_of(_tag_names, 201),
)
show_tag = lookup(lambda c: _service(c).tag(c.actor, _ns(c), c.path["tag_name"]), json_of(tag_view))
create_tag = endpoint(
    no_body,
    lambda c: _service(c).add_tag(c.actor, _ns(c), inputs.tag_name(c.path["tag_name"])),
    json_of(tag_view, 201),
)
update_tag = endpoint(
    json_object_of(inputs.tag),
    lambda c: _service(c).rename_tag(c.actor, _ns(c), c.path["tag_name"], c.input),
    json_of(tag_view),
)
delete_tag = action(lambda c: _service(c).remove_tag(c.actor, _ns(c), c.path["tag_name"]))
delete_tags = _clear("tags")

# resource type associations
associations = lookup(
    lambda c: _service(c).associations(c.actor, _ns(c)),
    json_of(lambda found: {"resource_type_associations": [association_view(a) for a in found]}),
)
associate = endpoint(
    json_object_of(inputs.association),
    lambda c: _service(c).associate(c.actor, _ns(c), c.input),
    json_of(association_view, 201),
)
dissociate = action(lambda c: _service(c).dissociate(c.actor, _ns(c), c.path["resource_type"]))
