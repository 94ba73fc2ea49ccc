"""Listing: filters, sorting, pagination links, and the images lists never show."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from glimpse.testing import ServerProcess
from helpers import make_image, upload


def _list(api: httpx.Client, **params: Any) -> dict[str, Any]:
    response = api.get("/v2/images", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _names(api: httpx.Client, **params: Any) -> list[str]:
    return [i["name"] for i in _list(api, limit=1000, **params)["images"]]


@pytest.fixture
def family(api: httpx.Client) -> str:
    """Five images sharing a fresh property value, so filters can isolate them."""
    key = uuid.uuid4().hex[:8]
    for i, (fmt, tags) in enumerate(
        [("raw", ["t1"]), ("qcow2", ["t1", "t2"]), ("raw", ["t2"]), ("iso", []), ("raw", [])]
    ):
        make_image(api, name=f"{key}-{i}", disk_format=fmt, tags=tags, family=key)
    return key


def test_list_shape_and_default_order(api: httpx.Client, family: str) -> None:
    body = _list(api, family=family)
    assert body["schema"] == "/v2/schemas/images"
    assert body["first"] == f"/v2/images?family={family}"
    assert "next" not in body
    assert [i["name"] for i in body["images"]] == [f"{family}-{i}" for i in range(4, -1, -1)]


def test_pagination_across_pages(api: httpx.Client, family: str) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"family": family, "limit": 2, "sort": "name:asc"}
    page = _list(api, **params)
    while True:
        seen += [i["name"] for i in page["images"]]
        if "next" not in page:
            break
        assert page["next"].startswith("/v2/images?")
        assert "marker=" in page["next"]
        page = api.get(page["next"]).json()
    assert seen == [f"{family}-{i}" for i in range(5)]


def test_next_only_on_full_page(api: httpx.Client, family: str) -> None:
    assert "next" in _list(api, family=family, limit=5)
    assert "next" not in _list(api, family=family, limit=6)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"disk_format": "raw"}, [0, 2, 4]),
        ({"disk_format": "in:raw,iso"}, [0, 2, 3, 4]),
        ({"tag": "t1"}, [0, 1]),
        ({"tag": ["t1", "t2"]}, [1]),
        ({"sort_key": "name", "sort_dir": "asc"}, [0, 1, 2, 3, 4]),
        ({"sort": "disk_format:asc,name:desc"}, [3, 1, 4, 2, 0]),
    ],
)
def test_filters_and_sorts(
    api: httpx.Client, family: str, params: dict[str, Any], expected: list[int]
) -> None:
    names = _names(api, family=family, **params)
    if "sort" in params or "sort_key" in params:
        assert names == [f"{family}-{i}" for i in expected]
    else:
        assert sorted(names) == [f"{family}-{i}" for i in expected]


def test_name_and_status_filters(api: httpx.Client, family: str) -> None:
    assert _names(api, name=f"{family}-3") == [f"{family}-3"]
    assert _names(api, name=f"in:{family}-1,{family}-2", sort="name:asc") == [
        f"{family}-1",
        f"{family}-2",
    ]
    assert len(_names(api, family=family, status="queued")) == 5
    assert _names(api, family=family, status="active") == []


def test_size_and_date_filters(api: httpx.Client) -> None:
    key = uuid.uuid4().hex[:8]
    small = make_image(api, name="small", group=key)
    big = make_image(api, name="big", group=key)
    upload(api, small["id"], b"x" * 10)
    upload(api, big["id"], b"x" * 1000)
    assert _names(api, group=key, size_min=100) == ["big"]
    assert _names(api, group=key, size_max=100) == ["small"]
    assert sorted(_names(api, group=key, created_at=f"gte:{small['created_at']}")) == [
        "big",
        "small",
    ]
    assert _names(api, group=key, created_at="lt:2000-01-01T00:00:00Z") == []


def test_hidden_and_deleted_images_are_not_listed(api: httpx.Client) -> None:
    key = uuid.uuid4().hex[:8]
    make_image(api, name="shown", group=key)
    make_image(api, name="hidden", group=key, os_hidden=True)
    gone = make_image(api, name="gone", group=key)
    api.delete(f"/v2/images/{gone['id']}")
    assert _names(api, group=key) == ["shown"]
    assert _names(api, group=key, os_hidden="true") == ["hidden"]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": -1},
        {"limit": "many"},
        {"sort_key": "owner_specified"},
        {"sort": "name:sideways"},
        {"sort": "name", "sort_key": "name"},
        {"sort_key": ["name", "size"], "sort_dir": ["asc", "desc", "asc"]},
        {"name": "a:b"},
        {"created_at": "gt:yesterday"},
        {"size_min": "big"},
        {"protected": "maybe"},
        {"changes-since": "2020-01-01T00:00:00Z"},
        {"marker": str(uuid.uuid4())},
    ],
)
def test_bad_list_requests_are_400(api: httpx.Client, params: dict[str, Any]) -> None:
    response = api.get("/v2/images", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"]


def test_limit_default_and_max(limited_server: ServerProcess) -> None:
    with httpx.Client(base_url=limited_server.url) as client:
        for _ in range(7):
            make_image(client)
        assert len(client.get("/v2/images").json()["images"]) == 3
        body = client.get("/v2/images", params={"limit": 100}).json()
        assert len(body["images"]) == 5
        assert "next" in body


def test_updated_at_moves_on_change(api: httpx.Client) -> None:
    image = make_image(api)
    time.sleep(1.1)
    response = api.put(f"/v2/images/{image['id']}/tags/later")
    assert response.status_code == 204
    assert api.get(f"/v2/images/{image['id']}").json()["updated_at"] > image["updated_at"]
