"""The error contract: status, JSON shape, Allow on 405, HTML only for browsers."""

from __future__ import annotations

import httpx
import pytest

from helpers import make_image


def test_error_body_shape(api: httpx.Client) -> None:
    response = api.get("/v2/images/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": {
            "code": 404,
            "title": "Not Found",
            "message": "No image found with ID 00000000-0000-0000-0000-000000000000",
        }
    }


def test_unknown_route_is_404_json(api: httpx.Client) -> None:
    response = api.get("/v2/nothing/here")
    assert response.status_code == 404
    assert response.json()["error"]["title"] == "Not Found"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/v2/images", {"GET", "HEAD", "POST"}),
        ("POST", "/v2/images/{id}", {"GET", "HEAD", "PATCH", "DELETE"}),
        ("POST", "/v2/images/{id}/file", {"GET", "HEAD", "PUT"}),
        ("GET", "/v2/images/{id}/actions/deactivate", {"POST"}),
    ],
)
def test_wrong_method_is_405_with_allow(
    api: httpx.Client, method: str, path: str, allow: set[str]
) -> None:
    image = make_image(api)
    response = api.request(method, path.format(id=image["id"]))
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == allow
    assert response.json()["error"]["code"] == 405


def test_browser_gets_html(api: httpx.Client) -> None:
    response = api.get("/v2/images/nope", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>404 Not Found</h1>" in response.text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "Malformed JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'"text"', "expected a JSON object"),
        (b"", "Body expected"),
    ],
)
def test_malformed_create_body_is_400(api: httpx.Client, body: bytes, message: str) -> None:
    before = api.get("/v2/images", params={"limit": 1000}).json()["images"]
    response = api.post("/v2/images", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    after = api.get("/v2/images", params={"limit": 1000}).json()["images"]
    assert len(after) == len(before)


def test_body_on_bodiless_route_is_400(api: httpx.Client) -> None:
    image = make_image(api)
    response = api.request("DELETE", f"/v2/images/{image['id']}", content=b"{}")
    assert response.status_code == 400
    assert api.get(f"/v2/images/{image['id']}").status_code == 200
