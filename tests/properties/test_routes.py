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


_LOCATION_BODIES = OBJECTS | st.fixed_dictionaries(
    {"url": st.text(max_size=60) | JSON},
    optional={
        "validation_data": JSON
        | st.dictionaries(
            st.sampled_from(["os_hash_algo", "os_hash_value", "checksum", "x"]),
            st.sampled_from(["md5", "sha1", "sha256", "sha512", "crc"]) | st.text(max_size=140),
        )
    },
)


@seed(20261216)
@ROUTE_SETTINGS
@given(body=_LOCATION_BODIES, store=_HEADER_TEXT.map(str.strip))
def test_locations_and_stores(
    client: httpx.Client, image_id: str, body: dict[str, Any], store: str
) -> None:
    queued = make_image(client)["id"]
    for target in (queued, image_id):
        _answered_cleanly(client.post(f"/v2/images/{target}/locations", content=_dumps(body)))
        _answered_cleanly(client.get(f"/v2/images/{target}/locations"))
    _answered_cleanly(client.delete(f"/v2/stores/{quote(store, safe='') or 'x'}/{image_id}"))
    upload = client.put(
        f"/v2/images/{queued}/file",
        content=b"x",
        headers={"Content-Type": "application/octet-stream", "X-Image-Meta-Store": store.strip()},
    )
    _answered_cleanly(upload)
    _answered_cleanly(client.get("/v2/info/stores"))
    _answered_cleanly(client.get("/v2/info/stores/detail"))
    client.delete(f"/v2/images/{queued}")


_LOCATION_PATHS = st.sampled_from(
    ["/locations", "/locations/-", "/locations/0", "/locations/1", "/locations/x",
     "/locations/0/url", "/locations/99999999999999999999", "/locations/-1"]
)  # fmt: skip
_LOCATION_OPS = st.fixed_dictionaries(
    {
        "op": st.sampled_from(["add", "remove", "replace", "move"]),
        "path": _LOCATION_PATHS,
        "value": _LOCATION_BODIES.map(lambda b: {**b, "metadata": {}})
        | st.lists(_LOCATION_BODIES, max_size=2)
        | JSON,
    }
)


@pytest.fixture(scope="module")
def locations_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        data_dir=tmp_path_factory.mktemp("locations"),
        env={"GLIMPSE_IMAGES__SHOW_MULTIPLE_LOCATIONS": "true"},
    )
    server.start()
    yield server
    server.stop()


@seed(20261217)
@ROUTE_SETTINGS
@given(document=st.lists(_LOCATION_OPS, max_size=3))
def test_location_patches(locations_server: ServerProcess, document: list[Any]) -> None:
    with httpx.Client(base_url=locations_server.url, timeout=60) as api:
        image = make_image(api)
        for target in (image["id"],):
            response = api.patch(
                f"/v2/images/{target}",
                content=_dumps(document),
                headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
            )
            _answered_cleanly(response)
