"""Objects, properties, tags and resource types over real HTTP, with Glance 33's bodies
and status codes."""

from __future__ import annotations

from typing import Any

import pytest
from metadef_support import NAMESPACES, Callers, error, unique

PROPERTY: dict[str, Any] = {
    "name": "hw_rng_model",
    "title": "RNG model",
    "type": "string",
    "enum": ["virtio"],
    "default": "virtio",
    "readonly": False,
}


@pytest.fixture
def url(callers: Callers) -> str:
    return f"{NAMESPACES}/{callers.namespace()['namespace']}"


# -- objects ----------------------------------------------------------------------------------


def test_object_lifecycle(callers: Callers, url: str) -> None:
    body = {
        "name": "Watchdog",
        "description": "A watchdog device",
        "required": ["action"],
        "properties": {"action": {"title": "Action", "type": "string", "enum": ["reset"]}},
    }
    created = callers.admin.post(f"{url}/objects", json=body)
    assert created.status_code == 201, created.text
    obj = created.json()
    assert obj["self"] == f"{url}/objects/Watchdog"
    assert obj["schema"] == "/v2/schemas/metadefs/object"
    assert obj["properties"] == body["properties"]
    assert obj["required"] == ["action"]
    listed = callers.reader.get(f"{url}/objects").json()
    assert listed["schema"] == "v2/schemas/metadefs/objects"  # no leading slash, as Glance
    assert [o["name"] for o in listed["objects"]] == ["Watchdog"]
    assert (
        callers.reader.get(f"{url}/objects/Watchdog").json()["description"] == body["description"]
    )
    replaced = callers.admin.put(f"{url}/objects/Watchdog", json={"name": "Dog"})
    assert replaced.status_code == 200
    assert "description" not in replaced.json()  # PUT replaces: what is left out is gone
    assert replaced.json()["created_at"] == obj["created_at"]
    error(callers.reader.get(f"{url}/objects/Watchdog"), 404)
    assert callers.admin.delete(f"{url}/objects/Dog").status_code == 204
    error(callers.admin.delete(f"{url}/objects/Dog"), 404)


def test_object_conflicts_and_bad_bodies(callers: Callers, url: str) -> None:
    assert callers.admin.post(f"{url}/objects", json={"name": "a"}).status_code == 201
    assert callers.admin.post(f"{url}/objects", json={"name": "b"}).status_code == 201
    error(callers.admin.post(f"{url}/objects", json={"name": "a"}), 409)
    error(callers.admin.put(f"{url}/objects/b", json={"name": "a"}), 409)
    error(callers.admin.put(f"{url}/objects/missing", json={"name": "c"}), 404)
    error(callers.admin.post(f"{url}/objects", json={"name": "c", "self": "x"}), 403)
    error(callers.admin.post(f"{url}/objects", json={"description": "no name"}), 400)
    error(callers.admin.post(f"{url}/objects", json={"name": "c", "required": "x"}), 400)
    bad = {"name": "c", "properties": {"p": {"title": "P", "type": "string", "bogus": 1}}}
    error(callers.admin.post(f"{url}/objects", json=bad), 400)
    error(callers.admin.post(f"{NAMESPACES}/{unique()}/objects", json={"name": "c"}), 404)


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "x"}, {"sort_dir": "sideways"}])
def test_object_list_checks_its_parameters(callers: Callers, url: str, params: Any) -> None:
    error(callers.reader.get(f"{url}/objects", params=params), 400)


# -- properties -------------------------------------------------------------------------------


def test_property_lifecycle(callers: Callers, url: str) -> None:
    created = callers.admin.post(f"{url}/properties", json=PROPERTY)
    assert created.status_code == 201, created.text
    assert created.json() == PROPERTY
    # Created through the property routes, a definition keeps its name in lists too.
    listed = callers.reader.get(f"{url}/properties").json()
    assert listed == {"properties": {"hw_rng_model": PROPERTY}}
    assert callers.reader.get(f"{url}/properties/hw_rng_model").json() == PROPERTY
    renamed = {**PROPERTY, "name": "rng", "type": "string", "title": "RNG"}
    response = callers.admin.put(f"{url}/properties/hw_rng_model", json=renamed)
    assert response.status_code == 200
    assert response.json()["title"] == "RNG"
    error(callers.reader.get(f"{url}/properties/hw_rng_model"), 404)
    assert callers.admin.delete(f"{url}/properties/rng").status_code == 204
    error(callers.admin.delete(f"{url}/properties/rng"), 404)


def test_property_errors(callers: Callers, url: str) -> None:
    assert callers.admin.post(f"{url}/properties", json=PROPERTY).status_code == 201
    error(callers.admin.post(f"{url}/properties", json=PROPERTY), 409)
    for bad in (
        {k: v for k, v in PROPERTY.items() if k != "title"},
        {**PROPERTY, "name": "n" * 81},
        {**PROPERTY, "type": "text"},
        {**PROPERTY, "extra": True},
        {**PROPERTY, "minimum": "low"},
    ):
        error(callers.admin.post(f"{url}/properties", json=bad), 400)
    error(callers.admin.post(f"{url}/properties", json={**PROPERTY, "created_at": "x"}), 403)


def test_property_by_resource_type_prefix(callers: Callers) -> None:
    ns = callers.namespace(
        resource_type_associations=[{"name": "OS::Glance::Image", "prefix": "hw_"}],
        properties={"watchdog": {"title": "Watchdog", "type": "string"}},
    )["namespace"]
    url = f"{NAMESPACES}/{ns}/properties"
    found = callers.reader.get(f"{url}/hw_watchdog", params={"resource_type": "OS::Glance::Image"})
    assert found.status_code == 200
    assert found.json()["name"] == "watchdog"  # its own name, as Glance shows it
    error(callers.reader.get(f"{url}/watchdog", params={"resource_type": "OS::Glance::Image"}), 404)
    error(
        callers.reader.get(f"{url}/hw_watchdog", params={"resource_type": "OS::Nova::Flavor"}), 404
    )


# -- tags -------------------------------------------------------------------------------------


def test_tags_by_name(callers: Callers, url: str) -> None:
    created = callers.admin.post(f"{url}/tags/fast")
    assert created.status_code == 201
    assert created.json()["name"] == "fast"
    assert created.json()["created_at"].endswith("Z")
    error(callers.admin.post(f"{url}/tags/fast"), 409)
    error(callers.admin.post(f"{url}/tags/{'t' * 81}"), 400)
    error(callers.admin.post(f"{url}/tags/other", content=b'{"name": "x"}'), 400)
    assert callers.reader.get(f"{url}/tags/fast").json()["name"] == "fast"
    renamed = callers.admin.put(f"{url}/tags/fast", json={"name": "quick"})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "quick"
    error(callers.reader.get(f"{url}/tags/fast"), 404)
    error(callers.admin.put(f"{url}/tags/quick", json={"name": "quick", "updated_at": "x"}), 403)
    assert callers.admin.delete(f"{url}/tags/quick").status_code == 204
    error(callers.admin.delete(f"{url}/tags/quick"), 404)


def test_bulk_tags_replace_unless_appended(callers: Callers, url: str) -> None:
    callers.admin.post(f"{url}/tags/old")
    body = {"tags": [{"name": "a"}, {"name": "b"}]}
    created = callers.admin.post(f"{url}/tags", json=body)
    assert created.status_code == 201
    assert created.json() == body
    names = {t["name"] for t in callers.reader.get(f"{url}/tags").json()["tags"]}
    assert names == {"a", "b"}
    appended = callers.admin.post(
        f"{url}/tags", json={"tags": [{"name": "c"}]}, headers={"X-Openstack-Append": "True"}
    )
    assert appended.status_code == 201
    names = {t["name"] for t in callers.reader.get(f"{url}/tags").json()["tags"]}
    assert names == {"a", "b", "c"}
    error(
        callers.admin.post(
            f"{url}/tags", json={"tags": [{"name": "a"}]}, headers={"X-Openstack-Append": "yes"}
        ),
        409,
    )
    error(callers.admin.post(f"{url}/tags", json={"tags": [{"name": "x"}, {"name": "x"}]}), 409)
    error(callers.admin.post(f"{url}/tags", json={"tags": [{"name": "x", "more": 1}]}), 400)
    error(callers.admin.post(f"{url}/tags", json={"tags": [{"name": "x"}], "created_at": 1}), 403)
    names = {t["name"] for t in callers.reader.get(f"{url}/tags").json()["tags"]}
    assert names == {"a", "b", "c"}  # a refused bulk create changes nothing


def test_tag_list_pages_and_sorts(callers: Callers, url: str) -> None:
    callers.admin.post(f"{url}/tags", json={"tags": [{"name": n} for n in "dbca"]})
    asc = callers.reader.get(f"{url}/tags", params={"sort_key": "name", "sort_dir": "asc"})
    assert [t["name"] for t in asc.json()["tags"]] == ["a", "b", "c", "d"]
    page = callers.reader.get(
        f"{url}/tags", params={"sort_key": "name", "sort_dir": "asc", "marker": "b", "limit": 1}
    )
    assert page.json() == {"tags": [{"name": "c"}]}
    error(callers.reader.get(f"{url}/tags", params={"marker": "zz"}), 404)
    for params in ({"limit": "-1"}, {"sort_key": "size"}, {"sort_dir": "x"}, {"visibility": "x"}):
        error(callers.reader.get(f"{url}/tags", params=params), 400)


# -- resource types ---------------------------------------------------------------------------


def test_builtin_resource_types(callers: Callers) -> None:
    response = callers.reader.get("/v2/metadefs/resource_types")
    assert response.status_code == 200
    names = {rt["name"] for rt in response.json()["resource_types"]}
    assert {
        "OS::Cinder::Volume",
        "OS::Glance::Image",
        "OS::Nova::Aggregate",
        "OS::Nova::Flavor",
        "OS::Nova::Server",
        "OS::Trove::Instance",
    } <= names
    for rt in response.json()["resource_types"]:
        assert rt["created_at"].endswith("Z")


def test_associations(callers: Callers, url: str) -> None:
    kind = f"OS::Test::{unique('rt')}"
    created = callers.admin.post(
        f"{url}/resource_types", json={"name": kind, "prefix": "t:", "properties_target": "x"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["prefix"] == "t:"
    # A new resource type is created with its first association, and stays.
    names = {
        rt["name"]
        for rt in callers.reader.get("/v2/metadefs/resource_types").json()["resource_types"]
    }
    assert kind in names
    error(callers.admin.post(f"{url}/resource_types", json={"name": kind}), 409)
    error(callers.admin.post(f"{url}/resource_types", json={"prefix": "p"}), 400)
    error(callers.admin.post(f"{url}/resource_types", json={"name": kind, "created_at": 1}), 403)
    listed = callers.reader.get(f"{url}/resource_types").json()
    assert [a["name"] for a in listed["resource_type_associations"]] == [kind]
    assert callers.admin.delete(f"{url}/resource_types/{kind}").status_code == 204
    error(callers.admin.delete(f"{url}/resource_types/{kind}"), 404)
    assert callers.reader.get(f"{url}/resource_types").json() == {"resource_type_associations": []}


# -- schemas ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "namespace",
        "namespaces",
        "object",
        "objects",
        "property",
        "properties",
        "tag",
        "tags",
        "resource_type",
        "resource_types",
    ],
)
def test_schemas_are_served(callers: Callers, name: str) -> None:
    response = callers.reader.get(f"/v2/schemas/metadefs/{name}")
    assert response.status_code == 200
    assert "properties" in response.json()
