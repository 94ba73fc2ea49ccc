"""Random bad import, stage and task requests over real HTTP: every answer is below 500."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from import_support import new_image

SETTINGS = settings(
    database=None,
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
METHODS = st.sampled_from(
    ["glance-direct", "web-download", "copy-image", "glance-download", "", "nope"]
)
IMPORT_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "method": st.fixed_dictionaries(
            {},
            optional={
                "name": METHODS | SCALARS,
                "uri": st.text(max_size=30) | SCALARS,
                "glance_region": SCALARS,
                "glance_image_id": SCALARS,
            },
        )
        | VALUES,
        "stores": st.lists(st.sampled_from(["file", "second", "broken", "x"]), max_size=3) | VALUES,
        "all_stores": VALUES,
        "all_stores_must_succeed": VALUES,
    },
)


def _clean(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["error"]["code"] == response.status_code


@seed(20261221)
@SETTINGS
@given(body=IMPORT_BODIES, staged=st.booleans())
def test_import_bodies(client: httpx.Client, body: dict[str, Any], staged: bool) -> None:
    image = new_image(client)
    if staged:
        client.put(
            f"/v2/images/{image['id']}/stage",
            content=b"abc",
            headers={"Content-Type": "application/octet-stream"},
        )
    response = client.post(
        f"/v2/images/{image['id']}/import",
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    _clean(response)


@seed(20261222)
@SETTINGS
@given(
    params=st.dictionaries(
        st.sampled_from(["limit", "marker", "sort_key", "sort_dir", "status", "type", "x"]),
        st.text(max_size=40),
        max_size=4,
    )
)
def test_task_list_params(client: httpx.Client, params: dict[str, str]) -> None:
    _clean(client.get("/v2/tasks", params=params))


@seed(20261223)
@SETTINGS
@given(
    body=st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["import", "api_image_import", "location_import"]) | SCALARS,
            "input": st.fixed_dictionaries(
                {},
                optional={
                    "import_from": st.text(max_size=30) | SCALARS,
                    "image_properties": VALUES,
                },
            )
            | VALUES,
        },
    )
)
def test_task_bodies(client: httpx.Client, body: dict[str, Any]) -> None:
    response = client.post(
        "/v2/tasks", content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    _clean(response)


@seed(20261224)
@SETTINGS
@given(
    data=st.binary(max_size=64),
    media=st.sampled_from(["application/octet-stream", "text/plain", "", "application/json"]),
    size=st.none() | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=6),
)
def test_stage_requests(client: httpx.Client, data: bytes, media: str, size: str | None) -> None:
    image = new_image(client)
    headers = {"Content-Type": media}
    if size is not None:
        headers["x-openstack-image-size"] = size
    _clean(client.put(f"/v2/images/{image['id']}/stage", content=data, headers=headers))
