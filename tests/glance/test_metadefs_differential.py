"""Glimpse and Glance 33 side by side on the metadefs API: one scripted sequence of
namespaces, objects, properties, tags and resource type associations, by an admin, a
reader of the owning project and another project, sent to both services. Every status
code and every successful body (times aside) must agree, except where Glance crashes
(500) and Glimpse answers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from glance_peer import Glance

from glimpse.testing import ServerProcess
from helpers import trusted_headers

P = "md-"
CALLERS = {
    "admin": trusted_headers("p-admin", "admin,member,reader"),
    "reader": trusted_headers("p-owner", "reader"),
    "other": trusted_headers("p-other", "member,reader"),
}
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")

STEPS: list[tuple[Any, ...]] = [
    (
        "admin",
        "POST",
        "/v2/metadefs/namespaces",
        {
            "namespace": P + "N1",
            "display_name": "D",
            "owner": "p-owner",
            "properties": {"p": {"type": "string", "title": "P", "enum": ["a"], "default": "a"}},
            "objects": [
                {
                    "name": "O",
                    "required": ["x"],
                    "properties": {"x": {"type": "integer", "title": "X", "minimum": 1}},
                }
            ],
            "tags": [{"name": "t1"}],
            "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "hw_"}],
        },
    ),
    ("admin", "POST", "/v2/metadefs/namespaces", {"namespace": P + "N1"}),
    (
        "admin",
        "POST",
        "/v2/metadefs/namespaces",
        {"namespace": P + "N2", "visibility": "public", "protected": True, "owner": "p-x"},
    ),
    ("admin", "POST", "/v2/metadefs/namespaces", {"namespace": P + "N3", "self": "x"}),
    (
        "admin",
        "POST",
        "/v2/metadefs/namespaces",
        {"namespace": P + "N3", "properties": {"p": {"type": "string"}}},
    ),
    (
        "admin",
        "POST",
        "/v2/metadefs/namespaces",
        {"namespace": P + "N3", "properties": {"p": {"type": "string", "title": "P", "bogus": 1}}},
    ),
    (
        "admin",
        "POST",
        "/v2/metadefs/namespaces",
        {"namespace": P + "N4", "tags": [{"name": "a"}, {"name": "a"}]},
    ),
    ("admin", "GET", "/v2/metadefs/namespaces/" + P + "N1", None),
    ("admin", "GET", "/v2/metadefs/namespaces/" + P + "N1?resource_type=OS::Glance::Image", None),
    ("reader", "GET", "/v2/metadefs/namespaces", None),
    ("other", "GET", "/v2/metadefs/namespaces", None),
    ("admin", "GET", "/v2/metadefs/namespaces?limit=1&sort_key=namespace&sort_dir=asc", None),
    (
        "admin",
        "GET",
        "/v2/metadefs/namespaces?limit=1&sort_key=namespace&sort_dir=asc&marker=" + P + "N1",
        None,
    ),
    ("admin", "GET", "/v2/metadefs/namespaces?resource_types=OS::Glance::Image", None),
    ("admin", "GET", "/v2/metadefs/namespaces?visibility=public", None),
    ("admin", "GET", "/v2/metadefs/namespaces?visibility=shared", None),
    ("admin", "GET", "/v2/metadefs/namespaces?sort_dir=up", None),
    ("admin", "GET", "/v2/metadefs/namespaces?limit=-1", None),
    ("admin", "GET", "/v2/metadefs/namespaces?marker=nope", None),
    ("other", "GET", "/v2/metadefs/namespaces/" + P + "N1", None),
    ("reader", "GET", "/v2/metadefs/namespaces/" + P + "N1/objects", None),
    ("reader", "GET", "/v2/metadefs/namespaces/" + P + "N1/objects/O", None),
    ("reader", "POST", "/v2/metadefs/namespaces/" + P + "N1/objects", {"name": "Z"}),
    ("other", "POST", "/v2/metadefs/namespaces/" + P + "N1/objects", {"name": "Z"}),
    ("other", "POST", "/v2/metadefs/namespaces/" + P + "N2/objects", {"name": "Z"}),
    (
        "admin",
        "POST",
        "/v2/metadefs/namespaces/" + P + "N1/objects",
        {"name": "Z", "description": "z", "properties": {"q": {"type": "boolean", "title": "Q"}}},
    ),
    ("admin", "POST", "/v2/metadefs/namespaces/" + P + "N1/objects", {"name": "Z"}),
    (
        "admin",
        "POST",
        "/v2/metadefs/namespaces/" + P + "N1/objects",
        {"name": "Y", "properties": {"q": {"type": "boolean"}}},
    ),
    ("admin", "PUT", "/v2/metadefs/namespaces/" + P + "N1/objects/Z", {"name": "Z2"}),
    ("admin", "PUT", "/v2/metadefs/namespaces/" + P + "N1/objects/Z2", {"name": "O"}),
    ("admin", "DELETE", "/v2/metadefs/namespaces/" + P + "N1/objects/Z2", None),
    ("admin", "DELETE", "/v2/metadefs/namespaces/" + P + "N1/objects/Z2", None),
    ("admin", "GET", "/v2/metadefs/namespaces/" + P + "N1/objects?limit=0", None),
    ("reader", "GET", "/v2/metadefs/namespaces/" + P + "N1/properties", None),
    ("reader", "GET", "/v2/metadefs/namespaces/" + P + "N1/properties/p", None),
    (
        "reader",
        "GET",
        "/v2/metadefs/namespaces/" + P + "N1/properties/hw_p?resource_type=OS::Glance::Image",
        None,
    ),
    (
        "reader",
        "GET",
        "/v2/metadefs/namespaces/" + P + "N1/properties/p?resource_type=OS::Glance::Image",
        None,
    ),
    (
        "admin",
        "POST",
        "/v2/metadefs/namespaces/" + P + "N1/properties",
        {
            "name": "r",
            "type": "array",
            "title": "R",
            "items": {"type": "string", "enum": ["a", "b"]},
            "uniqueItems": True,
        },
    ),
    (
        "admin",
        "POST",
        "/v2/metadefs/namespaces/" + P + "N1/properties",
        {"name": "r", "type": "array", "title": "R"},
    ),
    (
        "admin",
        "POST",
        "/v2/metadefs/namespaces/" + P + "N1/properties",
        {"name": "s", "type": "string"},
    ),
    (
        "admin",
        "POST",
        "/v2/metadefs/namespaces/" + P + "N1/properties",
        {"name": "s", "type": "string", "title": "S", "created_at": "x"},
    ),
    (
        "admin",
        "PUT",
        "/v2/metadefs/namespaces/" + P + "N1/properties/r",
        {"name": "r2", "type": "string", "title": "R2"},
    ),
    ("admin", "GET", "/v2/metadefs/namespaces/" + P + "N1/properties", None),
    ("admin", "DELETE", "/v2/metadefs/namespaces/" + P + "N1/properties/r2", None),
    ("admin", "POST", "/v2/metadefs/namespaces/" + P + "N1/tags/t2", None),
    ("admin", "POST", "/v2/metadefs/namespaces/" + P + "N1/tags/t2", None),
    ("admin", "GET", "/v2/metadefs/namespaces/" + P + "N1/tags/t2", None),
    ("admin", "PUT", "/v2/metadefs/namespaces/" + P + "N1/tags/t2", {"name": "t3"}),
    ("admin", "PUT", "/v2/metadefs/namespaces/" + P + "N1/tags/t3", {"name": "t1"}),
    (
        "admin",
        "POST",
        "/v2/metadefs/namespaces/" + P + "N1/tags",
        {"tags": [{"name": "u1"}, {"name": "u2"}]},
    ),
    ("admin", "GET", "/v2/metadefs/namespaces/" + P + "N1/tags?sort_key=name&sort_dir=asc", None),
    (
        "admin",
        "GET",
        "/v2/metadefs/namespaces/" + P + "N1/tags?sort_key=name&sort_dir=asc&marker=u1&limit=5",
        None,
    ),
    (
        "admin",
        "POST",
        "/v2/metadefs/namespaces/" + P + "N1/tags",
        {"tags": [{"name": "u3"}]},
        {"X-Openstack-Append": "True"},
    ),
    (
        "admin",
        "POST",
        "/v2/metadefs/namespaces/" + P + "N1/tags",
        {"tags": [{"name": "u3"}]},
        {"X-Openstack-Append": "True"},
    ),
    (
        "admin",
        "POST",
        "/v2/metadefs/namespaces/" + P + "N1/tags",
        {"tags": [{"name": "v"}, {"name": "v"}]},
    ),
    ("admin", "GET", "/v2/metadefs/namespaces/" + P + "N1/tags", None),
    ("admin", "GET", "/v2/metadefs/namespaces/" + P + "N1/resource_types", None),
    (
        "admin",
        "POST",
        "/v2/metadefs/namespaces/" + P + "N1/resource_types",
        {"name": "OS::Nova::Flavor", "prefix": "f:", "properties_target": "x"},
    ),
    (
        "admin",
        "POST",
        "/v2/metadefs/namespaces/" + P + "N1/resource_types",
        {"name": "OS::Nova::Flavor"},
    ),
    ("admin", "POST", "/v2/metadefs/namespaces/" + P + "N1/resource_types", {"prefix": "x"}),
    (
        "admin",
        "DELETE",
        "/v2/metadefs/namespaces/" + P + "N1/resource_types/OS::Nova::Flavor",
        None,
    ),
    (
        "admin",
        "DELETE",
        "/v2/metadefs/namespaces/" + P + "N1/resource_types/OS::Nova::Flavor",
        None,
    ),
    ("admin", "DELETE", "/v2/metadefs/namespaces/" + P + "N2", None),
    ("admin", "DELETE", "/v2/metadefs/namespaces/" + P + "N2/tags", None),
    ("admin", "PUT", "/v2/metadefs/namespaces/" + P + "N2", {"namespace": P + "N2b"}),
    ("admin", "PUT", "/v2/metadefs/namespaces/" + P + "N2b", {"namespace": P + "N1"}),
    ("admin", "GET", "/v2/metadefs/namespaces/" + P + "N2b", None),
    ("reader", "DELETE", "/v2/metadefs/namespaces/" + P + "N1/tags", None),
    ("admin", "DELETE", "/v2/metadefs/namespaces/" + P + "N1/tags", None),
    ("admin", "DELETE", "/v2/metadefs/namespaces/" + P + "N1/objects", None),
    ("admin", "DELETE", "/v2/metadefs/namespaces/" + P + "N1/properties", None),
    (
        "admin",
        "POST",
        "/v2/metadefs/namespaces",
        {"namespace": P + "N5", "objects": [{"description": "x"}]},
    ),
    ("admin", "POST", "/v2/metadefs/namespaces", {"namespace": P + "N6", "tags": [{"x": "y"}]}),
    (
        "admin",
        "POST",
        "/v2/metadefs/namespaces",
        {
            "namespace": P + "N7",
            "resource_type_associations": [{"name": "OS::Nova::Server", "prefix": "s:"}],
            "tags": [],
            "objects": [],
        },
    ),
    ("admin", "GET", "/v2/metadefs/namespaces/" + P + "N7", None),
    (
        "admin",
        "PUT",
        "/v2/metadefs/namespaces/" + P + "N7",
        {"namespace": P + "N7", "description": "new", "tags": [{"name": "ignored"}]},
    ),
    ("admin", "GET", "/v2/metadefs/namespaces/" + P + "N7", None),
    (
        "admin",
        "POST",
        "/v2/metadefs/namespaces/" + P + "N7/objects",
        {"name": "R", "required": "notalist"},
    ),
    (
        "admin",
        "POST",
        "/v2/metadefs/namespaces/" + P + "N7/objects",
        {"name": "R", "properties": {"a": {"title": "A", "type": "string", "name": "zz"}}},
    ),
    ("admin", "GET", "/v2/metadefs/namespaces/" + P + "N7/objects/R", None),
    ("admin", "POST", "/v2/metadefs/namespaces/" + P + "N7/tags", {}),
    ("admin", "POST", "/v2/metadefs/namespaces/" + P + "N7/tags", {"tags": []}),
    ("admin", "GET", "/v2/metadefs/namespaces/" + P + "N7/tags?limit=-1", None),
    ("admin", "GET", "/v2/metadefs/namespaces/" + P + "N7/tags?limit=0", None),
    ("admin", "GET", "/v2/metadefs/namespaces/" + P + "N7/tags?marker=nope", None),
    ("admin", "GET", "/v2/metadefs/namespaces?limit=0", None),
    ("admin", "GET", "/v2/metadefs/namespaces?foo=bar&limit=1", None),
    (
        "admin",
        "GET",
        "/v2/metadefs/namespaces?resource_types=OS::Nova::Server,OS::Glance::Image&sort_key=namespace",
        None,
    ),
    ("admin", "GET", "/v2/metadefs/namespaces/" + P + "N7/resource_types", None),
    (
        "admin",
        "PUT",
        "/v2/metadefs/namespaces/" + P + "N7/properties/missing",
        {"name": "x", "type": "string", "title": "X"},
    ),
    ("admin", "DELETE", "/v2/metadefs/namespaces/" + P + "N7/properties/missing", None),
    ("admin", "DELETE", "/v2/metadefs/namespaces/" + P + "N7/tags/missing", None),
    ("admin", "PUT", "/v2/metadefs/namespaces/" + P + "N7/tags/missing", {"name": "x"}),
    ("admin", "POST", "/v2/metadefs/namespaces/" + P + "N7/tags/" + "x" * 81, None),
    ("admin", "DELETE", "/v2/metadefs/namespaces/" + P + "N7", None),
    ("admin", "GET", "/v2/metadefs/namespaces/" + P + "N1", None),
    ("admin", "DELETE", "/v2/metadefs/namespaces/" + P + "N1", None),
    ("admin", "GET", "/v2/metadefs/namespaces/" + P + "N1", None),
]


@pytest.fixture(scope="module")
def metadefs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        data_dir=tmp_path_factory.mktemp("md-diff"),
        env={"GLIMPSE_IDENTITY__MODE": "trusted-headers"},
    )
    server.start()
    yield server
    server.stop()


def _run(base: str) -> list[tuple[int, Any, str | None]]:
    answers = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for who, method, path, body, *more in STEPS:
            headers = {**CALLERS[who], **(more[0] if more else {})}
            response = client.request(method, path, headers=headers, json=body)
            try:
                shown: Any = json.loads(_TIME.sub("TIME", response.text))
            except ValueError:
                shown = None
            location = response.headers.get("location")
            answers.append((response.status_code, shown, location and urlsplit(location).path))
    return answers


def test_the_same_requests_get_the_same_answers(
    metadefs_server: ServerProcess, glance: Glance
) -> None:
    ours, theirs = _run(metadefs_server.url), _run(glance.url)
    crashes = 0
    for step, mine, glances in zip(STEPS, ours, theirs, strict=True):
        if glances[0] == 500 and mine[0] in (201, 400, 409):
            # Glance fails on what Glimpse refuses precisely (an unknown property key, a
            # rename onto a taken name, a nameless tag or object) or takes (no tags).
            crashes += 1
            continue
        assert mine[0] == glances[0], (step, mine, glances)
        if mine[0] < 400:
            assert mine[1:] == glances[1:], (step, mine, glances)
    assert crashes == 5
