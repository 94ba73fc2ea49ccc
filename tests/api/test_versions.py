"""Version discovery and schemas, as the clients read them."""

from __future__ import annotations

import httpx
import pytest

EXPECTED_IDS = [f"v2.{minor}" for minor in range(18, -1, -1)]


def test_root_is_300_with_every_version(api: httpx.Client) -> None:
    response = api.get("/")
    assert response.status_code == 300
    versions = response.json()["versions"]
    assert [v["id"] for v in versions] == EXPECTED_IDS
    assert versions[0]["status"] == "CURRENT"
    assert {v["status"] for v in versions[1:]} == {"SUPPORTED"}
    assert versions[0]["links"] == [
        {"rel": "self", "href": f"{api.base_url}/v2/".replace("//v2", "/v2")}
    ]


def test_versions_is_200(api: httpx.Client) -> None:
    response = api.get("/versions")
    assert response.status_code == 200
    assert [v["id"] for v in response.json()["versions"]] == EXPECTED_IDS


@pytest.mark.parametrize("path", ["/v2", "/v2/"])
def test_v2_answers_current_version(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 200
    assert response.json()["version"]["id"] == "v2.18"


def test_minor_version_prefix_is_rewritten(api: httpx.Client) -> None:
    assert api.get("/v2.1/schemas/image").status_code == 200


def test_unknown_major_version_lists_versions(api: httpx.Client) -> None:
    response = api.get("/v1/images")
    assert response.status_code == 300
    assert "versions" in response.json()


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("image", "image"),
        ("images", "images"),
        ("member", "member"),
        ("members", "members"),
        ("metadefs/namespace", "namespace"),
        ("metadefs/resource_type", "resource_type_association"),
    ],
)
def test_schemas_answer(api: httpx.Client, path: str, name: str) -> None:
    response = api.get(f"/v2/schemas/{path}")
    assert response.status_code == 200
    assert response.json()["name"] == name


def test_unknown_schema_is_404(api: httpx.Client) -> None:
    response = api.get("/v2/schemas/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == 404


def test_every_response_has_a_request_id(api: httpx.Client) -> None:
    for path in ["/", "/versions", "/v2/images", "/v2/nowhere", "/v2/images/xyz"]:
        response = api.get(path)
        assert response.headers["x-openstack-request-id"].startswith("req-"), path
