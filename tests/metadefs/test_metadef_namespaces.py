"""Namespaces over real HTTP, as Glance 33 answers: create, show, list (filters, paging,
sorting), replace, delete, the bulk deletes of their contents, and protected namespaces."""

from __future__ import annotations

from typing import Any

import pytest
from metadef_support import NAMESPACES, Callers, error, unique

FULL: dict[str, Any] = {
    "display_name": "Full",
    "description": "Everything at once",
    "visibility": "public",
    "resource_type_associations": [
        {"name": "OS::Glance::Image", "prefix": "hw_"},
        {"name": "OS::Nova::Flavor", "prefix": "hw:", "properties_target": "scheduler"},
    ],
    "properties": {
        "cpu_policy": {"title": "CPU policy", "type": "string", "enum": ["shared", "dedicated"]}
    },
    "objects": [
        {
            "name": "Pinning",
            "description": "How vCPUs are pinned",
            "required": ["thread_policy"],
            "properties": {"thread_policy": {"title": "Threads", "type": "string"}},
        }
    ],
    "tags": [{"name": "fast"}, {"name": "secure"}],
}


def test_create_answers_201_with_location_and_the_namespace(callers: Callers) -> None:
    name = unique()
    response = callers.admin.post(NAMESPACES, json={"namespace": name, **FULL})
    assert response.status_code == 201, response.text
    assert response.headers["location"].endswith(f"/v2/metadefs/namespaces/{name}")
    body = response.json()
    assert body["namespace"] == name
    assert body["visibility"] == "public"
    assert body["protected"] is False
    assert body["owner"]  # the admin's project when none is given
    assert body["self"] == f"/v2/metadefs/namespaces/{name}"
    assert body["schema"] == "/v2/schemas/metadefs/namespace"
    assert body["created_at"].endswith("Z")
    assert body["tags"] == [{"name": "fast"}, {"name": "secure"}]
    assert body["properties"] == FULL["properties"]
    assert body["objects"][0]["name"] == "Pinning"


def test_show_has_everything_and_the_defaults(callers: Callers) -> None:
    created = callers.namespace(**FULL)
    shown = callers.reader.get(f"{NAMESPACES}/{created['namespace']}")
    assert shown.status_code == 200
    body = shown.json()
    assert body["owner"] == callers.project
    assert [a["name"] for a in body["resource_type_associations"]] == [
        "OS::Glance::Image",
        "OS::Nova::Flavor",
    ]
    assert body["resource_type_associations"][1]["properties_target"] == "scheduler"
    assert body["properties"]["cpu_policy"]["enum"] == ["shared", "dedicated"]
    obj = body["objects"][0]
    assert obj["required"] == ["thread_policy"]
    assert obj["self"].endswith(f"/{created['namespace']}/objects/Pinning")
    assert sorted(t["name"] for t in body["tags"]) == ["fast", "secure"]
    bare = callers.namespace()
    plain = callers.reader.get(f"{NAMESPACES}/{bare['namespace']}").json()
    assert plain["visibility"] == "private"
    assert plain["protected"] is False
    for absent in ("display_name", "description", "properties", "objects", "tags"):
        assert absent not in plain


def test_show_with_a_resource_type_prefixes_the_properties(callers: Callers) -> None:
    created = callers.namespace(**FULL)
    url = f"{NAMESPACES}/{created['namespace']}"
    body = callers.reader.get(url, params={"resource_type": "OS::Glance::Image"}).json()
    assert list(body["properties"]) == ["hw_cpu_policy"]
    assert body["objects"][0]["required"] == ["hw_thread_policy"]
    assert list(body["objects"][0]["properties"]) == ["hw_thread_policy"]
    other = callers.reader.get(url, params={"resource_type": "OS::Cinder::Volume"}).json()
    assert list(other["properties"]) == ["cpu_policy"]


def test_a_duplicate_namespace_is_409(callers: Callers) -> None:
    created = callers.namespace()
    again = callers.admin.post(NAMESPACES, json={"namespace": created["namespace"]})
    error(again, 409)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"namespace": "x", "self": "/v2/x"}, 403),
        ({"namespace": "x", "created_at": "2020-01-01T00:00:00Z"}, 403),
        ({"display_name": "no name"}, 400),
        ({"namespace": ""}, 400),
        ({"namespace": "a/b"}, 400),
        ({"namespace": ".."}, 400),
        ({"namespace": "x" * 81}, 400),
        ({"namespace": "x", "visibility": "shared"}, 400),
        ({"namespace": "x", "protected": "yes"}, 400),
        ({"namespace": "x", "unknown": 1}, 400),
        ({"namespace": "x", "properties": {"p": {"type": "string"}}}, 400),
        ({"namespace": "x", "properties": {"p": {"type": "text", "title": "P"}}}, 400),
        ({"namespace": "x", "properties": {"p": {"type": "string", "title": "P", "x": 1}}}, 400),
        ({"namespace": "x", "properties": {"p" * 81: {"type": "string", "title": "P"}}}, 400),
        ({"namespace": "x", "objects": [{"description": "no name"}]}, 400),
        ({"namespace": "x", "objects": [{"name": "o" * 81}]}, 400),
        ({"namespace": "x", "tags": [{"name": "t"}, {"name": "t"}]}, 409),
        ({"namespace": "x", "objects": [{"name": "o"}, {"name": "o"}]}, 409),
        ({"namespace": "x", "resource_type_associations": [{"prefix": "a"}]}, 400),
    ],
)
def test_bad_create_bodies(callers: Callers, body: dict[str, Any], status: int) -> None:
    body = {**body, "namespace": unique()} if body.get("namespace") == "x" else body
    error(callers.admin.post(NAMESPACES, json=body), status)


def test_bad_json_and_missing_body_are_400(callers: Callers) -> None:
    error(callers.admin.post(NAMESPACES, content=b"{", headers={"Content-Type": "x"}), 400)
    error(callers.admin.post(NAMESPACES), 400)
    error(callers.admin.post(NAMESPACES, json=[1]), 400)


def test_put_replaces_every_field_and_may_rename(callers: Callers) -> None:
    created = callers.namespace(display_name="Before", description="old", visibility="public")
    url = f"{NAMESPACES}/{created['namespace']}"
    callers.admin.post(f"{url}/tags/kept")
    renamed = unique()
    response = callers.admin.put(url, json={"namespace": renamed, "owner": callers.project})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["namespace"] == renamed
    assert "display_name" not in body
    assert "description" not in body
    assert body["visibility"] == "private"  # the create default, since none was given
    assert body["updated_at"] >= body["created_at"]
    assert "tags" not in body  # the answer is the namespace alone
    error(callers.admin.get(url), 404)
    shown = callers.admin.get(f"{NAMESPACES}/{renamed}").json()
    assert shown["tags"] == [{"name": "kept"}]


def test_put_onto_a_taken_name_is_409_and_a_missing_one_404(callers: Callers) -> None:
    first, second = callers.namespace(), callers.namespace()
    url = f"{NAMESPACES}/{first['namespace']}"
    error(callers.admin.put(url, json={"namespace": second["namespace"]}), 409)
    error(callers.admin.put(f"{NAMESPACES}/{unique()}", json={"namespace": "n"}), 404)
    error(callers.admin.put(url, json={"namespace": "n", "schema": "x"}), 403)
    error(callers.admin.put(url, json={"display_name": "no namespace"}), 400)


def test_delete_removes_the_namespace_and_its_contents(callers: Callers) -> None:
    created = callers.namespace(**FULL)
    url = f"{NAMESPACES}/{created['namespace']}"
    assert callers.admin.delete(url).status_code == 204
    error(callers.admin.get(url), 404)
    error(callers.admin.get(f"{url}/objects"), 404)
    error(callers.admin.delete(url), 404)
    error(callers.admin.delete(url, headers={"Content-Type": "application/json"}), 404)


def test_a_body_on_show_or_delete_is_400(callers: Callers) -> None:
    created = callers.namespace()
    url = f"{NAMESPACES}/{created['namespace']}"
    error(callers.admin.request("DELETE", url, content=b"{}"), 400)
    error(callers.admin.request("GET", url, content=b"{}"), 400)


@pytest.mark.parametrize("what", ["objects", "properties", "tags"])
def test_bulk_delete_of_contents(callers: Callers, what: str) -> None:
    created = callers.namespace(**FULL)
    url = f"{NAMESPACES}/{created['namespace']}"
    assert callers.admin.delete(f"{url}/{what}").status_code == 204
    body = callers.admin.get(url).json()
    assert what not in body
    others = {"objects", "properties", "tags"} - {what}
    assert others <= set(body)


def test_a_protected_namespace_and_its_contents_cannot_be_deleted(callers: Callers) -> None:
    created = callers.namespace(protected=True, **FULL)
    url = f"{NAMESPACES}/{created['namespace']}"
    assert "protected" in error(callers.admin.delete(url), 403)
    for path in (
        "objects",
        "properties",
        "tags",
        "objects/Pinning",
        "properties/cpu_policy",
        "tags/fast",
        "resource_types/OS::Glance::Image",
    ):
        error(callers.admin.delete(f"{url}/{path}"), 403)
    # Something missing in a protected namespace is still 404.
    error(callers.admin.delete(f"{url}/objects/missing"), 404)
    body = callers.admin.get(url).json()
    assert len(body["objects"]) == 1
    assert len(body["tags"]) == 2
    unprotected = callers.admin.put(url, json={"namespace": created["namespace"]})
    assert unprotected.json()["protected"] is False
    assert callers.admin.delete(url).status_code == 204


# -- lists ------------------------------------------------------------------------------------


def _names(body: dict[str, Any]) -> list[str]:
    return [ns["namespace"] for ns in body["namespaces"]]


def test_list_pages_with_first_and_next_links(callers: Callers) -> None:
    prefix = unique("page")
    mine = [callers.namespace(display_name=f"{prefix}-{i}")["namespace"] for i in range(5)]
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2, "sort_key": "display_name", "sort_dir": "asc"}
    body = callers.reader.get(NAMESPACES, params=params).json()
    assert body["schema"] == "/v2/schemas/metadefs/namespaces"
    assert body["first"].startswith("/v2/metadefs/namespaces?")
    assert "marker" not in body["first"]
    pages = 0
    while True:
        pages += 1
        seen += _names(body)
        if "next" not in body:
            break
        assert len(body["namespaces"]) == 2
        assert body["next"].startswith("/v2/metadefs/namespaces?")
        assert "marker=" in body["next"]
        body = callers.reader.get(body["next"]).json()
    assert [n for n in seen if n in mine] == mine
    assert pages >= 3


def test_list_sorts_and_filters(callers: Callers) -> None:
    public = callers.namespace(visibility="public", display_name="a")["namespace"]
    private = callers.namespace(display_name="b")["namespace"]
    desc = _names(callers.reader.get(NAMESPACES, params={"limit": 1000}).json())
    assert desc.index(private) < desc.index(public)  # newest first by default
    asc = _names(callers.reader.get(NAMESPACES, params={"sort_dir": "asc", "limit": 1000}).json())
    assert asc.index(public) < asc.index(private)
    only = _names(callers.reader.get(NAMESPACES, params={"visibility": "private"}).json())
    assert private in only
    assert public not in only


def test_list_filters_by_resource_types(callers: Callers) -> None:
    kind = f"OS::Test::{unique('t')}"
    tagged = callers.namespace(resource_type_associations=[{"name": kind}])["namespace"]
    untagged = callers.namespace()["namespace"]
    found = callers.reader.get(NAMESPACES, params={"resource_types": f"{kind},OS::None"}).json()
    assert _names(found) == [tagged]
    assert found["namespaces"][0]["resource_type_associations"][0]["name"] == kind
    assert untagged not in _names(found)
    assert _names(callers.reader.get(NAMESPACES, params={"resource_types": "OS::X"}).json()) == []


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "x"},
        {"limit": "-1"},
        {"sort_dir": "up"},
        {"sort_key": "nonsense"},
        {"visibility": "shared"},
        {"marker": "a\x00"},
    ],
)
def test_bad_list_queries_are_400(callers: Callers, params: dict[str, str]) -> None:
    error(callers.reader.get(NAMESPACES, params=params), 400)


def test_an_unknown_or_invisible_marker_is_404(callers: Callers) -> None:
    error(callers.reader.get(NAMESPACES, params={"marker": unique()}), 404)
    foreign = callers.namespace(owner=callers.other)["namespace"]
    error(callers.reader.get(NAMESPACES, params={"marker": foreign}), 404)
