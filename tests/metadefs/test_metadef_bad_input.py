"""Random bad requests to every metadefs route over real HTTP: every answer is below 500,
and every error is the one JSON error body. Seeded, so a failure reproduces; on SQLite
and PostgreSQL (whose text holds no U+0000 and whose names have 80 characters)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from metadef_support import NAMESPACES, Callers, unique

SETTINGS = settings(
    database=None,
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

_TEXT = (
    st.text(max_size=12)
    | st.text(min_size=75, max_size=300)
    | st.sampled_from(["", "\x00", "a\x00b", "\ud800", "OS::Glance::Image", "hw_", "é" * 81])
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)
_PROPERTY_KEYS = st.sampled_from(
    ["name", "title", "type", "description", "enum", "default", "minimum", "maximum", "items",
     "minLength", "maxLength", "pattern", "readonly", "operators", "required", "confidential",
     "uniqueItems", "minItems", "additionalItems", "x"]
)  # fmt: skip
_PROPERTY = st.dictionaries(
    _PROPERTY_KEYS,
    st.sampled_from(["string", "integer", "array", None, "T"]) | _JSON,
    max_size=5,
).map(lambda p: {"title": "T", "type": "string", **p})
_NAMED = st.fixed_dictionaries({"name": _TEXT}, optional={"prefix": _TEXT, "x": _JSON})
_OBJECT = st.fixed_dictionaries(
    {"name": _TEXT},
    optional={
        "description": _TEXT,
        "required": st.lists(_TEXT, max_size=2) | _JSON,
        "properties": st.dictionaries(_TEXT, _PROPERTY, max_size=2) | _JSON,
    },
)
_NAMESPACE = st.fixed_dictionaries(
    {"namespace": _TEXT},
    optional={
        "display_name": _TEXT | _JSON,
        "description": _TEXT,
        "visibility": st.sampled_from(["public", "private", "shared"]) | _JSON,
        "protected": st.booleans() | _JSON,
        "owner": _TEXT,
        "properties": st.dictionaries(_TEXT, _PROPERTY, max_size=3) | _JSON,
        "objects": st.lists(_OBJECT, max_size=2) | _JSON,
        "tags": st.lists(_NAMED, max_size=3) | _JSON,
        "resource_type_associations": st.lists(_NAMED, max_size=2) | _JSON,
        "self": _TEXT,
    },
)
_BODIES = _NAMESPACE | _OBJECT | _PROPERTY | _NAMED | _JSON
_SEGMENTS = _TEXT.filter(lambda s: "\ud800" not in s)
_PARAMS = st.lists(
    st.tuples(
        st.sampled_from(
            ["limit", "marker", "sort_key", "sort_dir", "visibility", "resource_types",
             "resource_type", "x"]
        ),
        _SEGMENTS | st.integers(-(2**70), 2**70).map(str),
    ),
    max_size=4,
)  # fmt: skip


def _dumps(body: Any) -> bytes:
    return json.dumps(body).encode()


def _clean(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.request.url, response.text)
    if response.status_code >= 400 and response.status_code != 405:
        assert response.json()["error"]["code"] == response.status_code


def _segment(text: str) -> str:
    return quote(text, safe="") or "x"


@pytest.fixture
def namespace(callers: Callers) -> Iterator[str]:
    created = callers.namespace(
        properties={"p": {"title": "P", "type": "string"}},
        objects=[{"name": "o"}],
        tags=[{"name": "t"}],
        resource_type_associations=[{"name": "OS::Glance::Image", "prefix": "hw_"}],
    )
    yield created["namespace"]
    callers.admin.delete(f"{NAMESPACES}/{created['namespace']}")


@seed(20261301)
@SETTINGS
@given(body=_BODIES)
def test_create_namespace(callers: Callers, body: Any) -> None:
    response = callers.admin.post(NAMESPACES, content=_dumps(body))
    _clean(response)
    if response.status_code == 201:
        name = response.json()["namespace"]
        _clean(callers.admin.get(f"{NAMESPACES}/{_segment(name)}"))
        _clean(callers.admin.delete(f"{NAMESPACES}/{_segment(name)}"))


@seed(20261302)
@SETTINGS
@given(
    body=_BODIES,
    path=st.sampled_from(
        ["", "/objects", "/properties", "/tags", "/resource_types", "/objects/o",
         "/properties/p", "/tags/t"]
    ),
    method=st.sampled_from(["POST", "PUT"]),
    append=st.sampled_from([None, "true", "no", "1", "TRUE", "x"]),
)  # fmt: skip
def test_write_bodies(
    callers: Callers, namespace: str, body: Any, path: str, method: str, append: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if append is not None:
        headers["X-Openstack-Append"] = append
    url = f"{NAMESPACES}/{namespace}{path}"
    _clean(callers.admin.request(method, url, content=_dumps(body), headers=headers))
    _clean(callers.admin.get(f"{NAMESPACES}/{namespace}"))


@seed(20261303)
@SETTINGS
@given(
    params=_PARAMS,
    route=st.sampled_from(["", "/ns", "/ns/tags", "/ns/objects", "/ns/properties/hw_p"]),
)
def test_queries(
    callers: Callers, namespace: str, params: list[tuple[str, str]], route: str
) -> None:
    url = NAMESPACES + route.replace("/ns", f"/{namespace}")
    _clean(callers.reader.get(url, params=params))
    _clean(callers.admin.get(url, params=params))


@seed(20261304)
@SETTINGS
@given(
    name=_SEGMENTS,
    route=st.sampled_from(
        ["{ns}", "{ns}/objects/{x}", "{ns}/properties/{x}", "{ns}/tags/{x}",
         "{ns}/resource_types/{x}", "{x}", "{x}/objects", "{x}/tags/t"]
    ),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
)  # fmt: skip
def test_path_names(callers: Callers, namespace: str, name: str, route: str, method: str) -> None:
    path = route.format(ns=namespace, x=_segment(name))
    body = {"name": name} if method in ("PUT", "POST") and "{x}" in route else None
    response = callers.admin.request(
        method, f"{NAMESPACES}/{path}", content=None if body is None else _dumps(body)
    )
    _clean(response)


def test_a_nul_in_a_namespace_path_is_404(callers: Callers) -> None:
    for path in ("a%00b", "a%00b/objects", "a%00b/tags/t%00"):
        response = callers.admin.get(f"{NAMESPACES}/{path}")
        assert response.status_code == 404
    assert callers.admin.post(f"{NAMESPACES}/{unique()}/tags/x%00").status_code == 404
