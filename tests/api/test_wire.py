"""Wire details: no redirects Glance does not make, and precise 400s where bad input
used to find a 500 (numbers beyond the columns, oversized filters and headers)."""

from __future__ import annotations

import httpx
import pytest

from helpers import make_image, upload

PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
BIG = str(1 << 64)


@pytest.mark.parametrize("method", ["GET", "DELETE", "PATCH", "PUT", "POST"])
def test_a_trailing_slash_is_404_not_a_redirect(api: httpx.Client, method: str) -> None:
    response = api.request(method, "/v2/images/", headers=PATCH if method == "PATCH" else {})
    assert response.status_code == 404, response.text
    assert "location" not in response.headers
    image = make_image(api)
    assert api.get(f"/v2/images/{image['id']}/members/").status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {"size_min": BIG},
        {"size_max": "-" + BIG},
        {"min_ram": BIG},
        {"min_disk": str(1 << 31)},
        {"size": "9" * 5000},
        {"tag": "t" * 300},
        [("tag", f"t{i}") for i in range(1200)],
        [(f"p{i}", "v") for i in range(1200)],
    ],
    ids=["size_min", "size_max", "min_ram", "min_disk", "5000-digits", "long-tag", "tags", "props"],
)
def test_list_filters_beyond_their_columns_are_400(
    api: httpx.Client, params: dict[str, str] | list[tuple[str, str]]
) -> None:
    response = api.get("/v2/images", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == 400


@pytest.mark.parametrize(
    "body",
    [
        {"min_ram": 1 << 63},
        {"min_disk": (1 << 64) - 1},
        {"min_ram": 1 << 31},
        {"visibility": ["public"]},
        {"visibility": {"a": 1}},
    ],
)
def test_create_values_beyond_their_columns_are_400(
    api: httpx.Client, body: dict[str, object]
) -> None:
    response = api.post("/v2/images", json={"name": "w", **body})
    assert response.status_code == 400, response.text


def test_patch_values_beyond_their_columns_are_400(api: httpx.Client) -> None:
    image = make_image(api)
    for op in (
        {"op": "replace", "path": "/min_ram", "value": 1 << 63},
        {"op": "replace", "path": "/visibility", "value": ["public"]},
    ):
        response = api.patch(f"/v2/images/{image['id']}", json=[op], headers=PATCH)
        assert response.status_code == 400, response.text


@pytest.mark.parametrize(
    "declared", [b"\xb2", b"9" * 5000, str(1 << 64).encode(), b"-1", b"0x10"]
)  # b"\xb2" is "²" in latin-1, which str.isdigit() takes for a digit
def test_declared_sizes_that_are_not_numbers_are_400(api: httpx.Client, declared: bytes) -> None:
    image = make_image(api)
    response = api.put(
        f"/v2/images/{image['id']}/file",
        content=b"x",
        headers={"Content-Type": "application/octet-stream", "x-openstack-image-size": declared},
    )
    assert response.status_code == 400, response.text


def test_a_declared_size_of_zero_is_no_declared_size(api: httpx.Client) -> None:
    """As Glance: ``x-openstack-image-size: 0`` is taken as not given."""
    image = make_image(api)
    response = upload(api, image["id"], b"0123456789", **{"x-openstack-image-size": "0"})
    assert response.status_code == 204, response.text
    assert api.get(f"/v2/images/{image['id']}").json()["size"] == 10


@pytest.mark.parametrize(
    ("header", "status", "body"),
    [
        ("Bytes=0-4", 206, b"01234"),
        ("bytes= 2-4", 206, b"234"),
        ("bytes = 2 - 4", 206, b"234"),
        ("bytes=5-" + "9" * 5000, 206, b"56789"),
        ("bytes=abc", 416, b""),
        ("items=0-5", 416, b""),
        ("bytes=", 416, b""),
        ("bytes=" + "9" * 5000 + "-", 416, b""),
        ("bytes=-" + "9" * 5000, 206, b"0123456789"),
    ],
)
def test_range_headers_read_as_glance_reads_them(
    api: httpx.Client, header: str, status: int, body: bytes
) -> None:
    image = make_image(api)
    assert upload(api, image["id"], b"0123456789").status_code == 204
    response = api.get(f"/v2/images/{image['id']}/file", headers={"Range": header})
    assert response.status_code == status, response.text
    if status == 416:
        assert response.headers["content-range"] == "bytes */10"
    else:
        assert response.content == body
