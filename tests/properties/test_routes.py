"""Random bad requests to the routes over real HTTP: every answer is below 500, in JSON.

Seeded, so a failure reproduces; on the shared servers, over SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from test_parsers import JSON, OBJECTS

from glimpse.testing import ServerProcess
from helpers import make_image

ROUTE_SETTINGS = settings(
    database=None,
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as api:
        yield api


@pytest.fixture
def image_id(client: httpx.Client) -> str:
    image = make_image(client, visibility="shared")
    assert (
        client.put(
            f"/v2/images/{image['id']}/file",
            content=b"0123456789",
            headers={"Content-Type": "application/octet-stream"},
        ).status_code
        == 204
    )
    return str(image["id"])


def _answered_cleanly(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["error"]["code"] == response.status_code


def _dumps(body: Any) -> bytes:
    # The standard library writes integers of any size (and NaN, which is not JSON).
    return json.dumps(body).encode()


@seed(20261211)
@ROUTE_SETTINGS
@given(body=OBJECTS)
def test_create(client: httpx.Client, body: dict[str, Any]) -> None:
    response = client.post(
        "/v2/images", content=_dumps(body), headers={"Content-Type": "application/json"}
    )
    _answered_cleanly(response)
    if response.status_code == 201:
        client.delete(f"/v2/images/{response.json()['id']}")


@seed(20261212)
@ROUTE_SETTINGS
@given(document=st.lists(OBJECTS, max_size=3) | JSON)
def test_patch(client: httpx.Client, image_id: str, document: Any) -> None:
    response = client.patch(
        f"/v2/images/{image_id}",
        content=_dumps(document),
        headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
    )
    _answered_cleanly(response)


@seed(20261213)
@ROUTE_SETTINGS
@given(body=OBJECTS, member=st.text(max_size=40))
def test_members(client: httpx.Client, image_id: str, body: dict[str, Any], member: str) -> None:
    _answered_cleanly(client.post(f"/v2/images/{image_id}/members", content=_dumps(body)))
    path = f"/v2/images/{image_id}/members/{quote(member, safe='') or 'x'}"
    _answered_cleanly(client.put(path, content=_dumps(body)))


_PARAMS = st.lists(
    st.tuples(
        st.sampled_from(
            ["limit", "marker", "sort", "sort_key", "sort_dir", "name", "size_min", "tag",
             "visibility", "member_status", "created_at", "os_hidden", "min_ram", "x"]
        ),
        st.text(max_size=40) | st.integers(-(2**70), 2**70).map(str),
    ),
    max_size=4,
)  # fmt: skip


@seed(20261214)
@ROUTE_SETTINGS
@given(params=_PARAMS)
def test_list(client: httpx.Client, params: list[tuple[str, str]]) -> None:
    _answered_cleanly(client.get("/v2/images", params=params))


_HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30) | st.builds(
    lambda unit, a, b: f"{unit}={a}-{b}",
    st.sampled_from(["bytes", "Bytes", "BYTES", "items", "bytes "]),
    st.sampled_from(["", "0", "5", "9" * 30, "9" * 5000, " 1", "x"]),
    st.sampled_from(["", "3", "9", "9" * 30, "9" * 5000, "1 ", ","]),
)


@seed(20261215)
@ROUTE_SETTINGS
@given(
    headers=st.dictionaries(
        st.sampled_from(["Range", "Content-Range", "x-openstack-image-size", "Content-Type"]),
        # What a client library lets through: printable, no outer whitespace.
        _HEADER_TEXT.map(str.strip),
        max_size=3,
    )
)
def test_data(client: httpx.Client, image_id: str, headers: dict[str, str]) -> None:
    _answered_cleanly(client.get(f"/v2/images/{image_id}/file", headers=headers))
    _answered_cleanly(client.put(f"/v2/images/{image_id}/file", content=b"x", headers=headers))
