"""The Tasks API and an image's tasks: fields, paging, filters, Glance's refusals, and
who may see what."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from import_support import new_image, stage, wait_for

from glimpse.testing import ServerProcess
from helpers import trusted_headers


@pytest.fixture
def imported(client: httpx.Client) -> list[str]:
    """Three images imported, so three finished tasks exist."""
    ids = []
    for _ in range(3):
        image = new_image(client)
        assert stage(client, image["id"], os.urandom(4096)).status_code == 204
        body = {"method": {"name": "glance-direct"}}
        assert client.post(f"/v2/images/{image['id']}/import", json=body).status_code == 202
        wait_for(client, image["id"])
        ids.append(image["id"])
    return ids


def test_task_fields(client: httpx.Client, imported: list[str]) -> None:
    task_id = client.get(f"/v2/images/{imported[0]}/tasks").json()["tasks"][0]["id"]
    task = client.get(f"/v2/tasks/{task_id}").json()
    assert set(task) >= {
        "id", "type", "status", "input", "result", "owner", "message", "created_at",
        "updated_at", "expires_at", "self", "schema", "image_id", "request_id",
    }  # fmt: skip
    assert task["self"] == f"/v2/tasks/{task_id}"
    assert task["schema"] == "/v2/schemas/task"
    assert task["created_at"].endswith("Z")
    assert task["request_id"].startswith("req-")
    assert task["expires_at"] > task["updated_at"]


def test_list_pages_sorts_and_filters(client: httpx.Client, imported: list[str]) -> None:
    first = client.get("/v2/tasks", params={"limit": 2, "sort_dir": "asc"}).json()
    assert len(first["tasks"]) == 2
    assert "input" not in first["tasks"][0]
    assert first["schema"] == "/v2/schemas/tasks"
    assert first["first"].startswith("/v2/tasks?")
    second = client.get(first["next"]).json()
    seen = [t["id"] for t in first["tasks"]] + [t["id"] for t in second["tasks"]]
    assert len(seen) == len(set(seen))
    dates = [t["created_at"] for t in first["tasks"] + second["tasks"]]
    assert dates == sorted(dates)
    done = client.get("/v2/tasks", params={"status": "success", "limit": 1000}).json()
    assert {t["status"] for t in done["tasks"]} == {"success"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"sort_dir": "up"}, "Invalid sort direction: up"),
        ({"status": "done"}, "Invalid status value: done"),
        ({"type": "api_image_import"}, "Invalid type value: api_image_import"),
        ({"marker": "nope"}, "Invalid marker format"),
        ({"limit": "-1"}, "limit param must be positive"),
        ({"limit": "ten"}, "limit param must be an integer"),
        ({"sort_key": "bogus"}, "Invalid sort key: bogus"),
    ],
)
def test_list_refusals(client: httpx.Client, params: dict[str, str], message: str) -> None:
    response = client.get("/v2/tasks", params=params)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message


def test_unknown_marker_and_task(client: httpx.Client) -> None:
    missing = str(uuid.uuid4())
    assert client.get("/v2/tasks", params={"marker": missing}).status_code in (400, 404)
    assert client.get(f"/v2/tasks/{missing}").status_code == 404


def test_tasks_are_never_deleted(client: httpx.Client, imported: list[str]) -> None:
    task_id = client.get(f"/v2/images/{imported[0]}/tasks").json()["tasks"][0]["id"]
    response = client.delete(f"/v2/tasks/{task_id}")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert "expires_at" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"type": "import"},
        {"input": {}},
        {"type": "bogus", "input": {}},
        {"type": "import", "input": 3},
    ],
)
def test_create_refusals(client: httpx.Client, body: dict[str, Any]) -> None:
    assert client.post("/v2/tasks", json=body).status_code == 400


def test_a_task_type_made_elsewhere_fails_at_once(client: httpx.Client) -> None:
    response = client.post("/v2/tasks", json={"type": "api_image_import", "input": {}})
    assert response.status_code == 201
    assert response.headers["location"] == f"/v2/tasks/{response.json()['id']}"
    assert response.json()["status"] == "failure"


@pytest.fixture(scope="module")
def rbac_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    from helpers import start_server

    srv = start_server(
        tmp_path_factory, env={"GLIMPSE_IDENTITY__MODE": "trusted-headers"}, name="tasks-rbac"
    )
    yield srv
    srv.stop()


def test_who_sees_tasks(rbac_server: ServerProcess) -> None:
    url = rbac_server.url
    with (
        httpx.Client(base_url=url, headers=trusted_headers("p1"), timeout=60) as member,
        httpx.Client(base_url=url, headers=trusted_headers("p2"), timeout=60) as other,
        httpx.Client(
            base_url=url, headers=trusted_headers("p3", "admin,member,reader"), timeout=60
        ) as admin,
    ):
        _who_sees(member, other, admin)


def _who_sees(member: httpx.Client, other: httpx.Client, admin: httpx.Client) -> None:
    image = new_image(member)
    assert stage(member, image["id"], b"x" * 100).status_code == 204
    body = {"method": {"name": "glance-direct"}}
    assert member.post(f"/v2/images/{image['id']}/import", json=body).status_code == 202
    wait_for(member, image["id"])
    mine = member.get(f"/v2/images/{image['id']}/tasks")
    assert mine.status_code == 200
    assert len(mine.json()["tasks"]) == 1
    # The Tasks API itself is for admins (tasks_api_access).
    assert member.get("/v2/tasks").status_code == 403
    assert member.get(f"/v2/tasks/{mine.json()['tasks'][0]['id']}").status_code == 403
    assert member.delete(f"/v2/tasks/{mine.json()['tasks'][0]['id']}").status_code == 403
    assert member.post("/v2/tasks", json={"type": "import", "input": {}}).status_code == 403
    # Another project does not see the image at all.
    assert other.get(f"/v2/images/{image['id']}/tasks").status_code == 404
    assert other.post(f"/v2/images/{image['id']}/import", json=body).status_code == 404
    listed = admin.get("/v2/tasks").json()["tasks"]
    assert mine.json()["tasks"][0]["id"] in {t["id"] for t in listed}
    assert admin.get(f"/v2/tasks/{listed[0]['id']}").status_code == 200
