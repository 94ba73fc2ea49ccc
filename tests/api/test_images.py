"""Create, show, update (JSON patch), delete, tags and the status actions."""

from __future__ import annotations

import uuid

import httpx
import pytest

from helpers import make_image, upload

PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
BASE_KEYS = {
    "id", "name", "status", "visibility", "protected", "os_hidden", "checksum",
    "os_hash_algo", "os_hash_value", "owner", "size", "virtual_size", "min_ram",
    "min_disk", "container_format", "disk_format", "created_at", "updated_at", "tags",
    "self", "file", "schema",
}  # fmt: skip


def test_create_defaults_and_headers(api: httpx.Client) -> None:
    response = api.post("/v2/images", json={"name": "cirros"})
    assert response.status_code == 201
    image = response.json()
    assert set(image) == BASE_KEYS
    assert image["status"] == "queued"
    assert image["visibility"] == "shared"
    assert image["protected"] is False
    assert image["owner"] == "glimpse"
    assert image["size"] is None
    assert image["checksum"] is None
    assert image["min_ram"] == 0
    assert image["tags"] == []
    assert image["self"] == f"/v2/images/{image['id']}"
    assert image["file"] == f"/v2/images/{image['id']}/file"
    assert image["schema"] == "/v2/schemas/image"
    assert image["created_at"].endswith("Z")
    assert len(image["created_at"]) == 20
    assert response.headers["location"].endswith(f"/v2/images/{image['id']}")
    # The import methods offered, as Glance advertises them.
    assert response.headers["openstack-image-import-methods"] == (
        "glance-direct,web-download,copy-image"
    )
    assert api.get(f"/v2/images/{image['id']}").json() == image


def test_create_with_properties_and_tags(api: httpx.Client) -> None:
    image = make_image(
        api,
        os_distro="ubuntu",
        description="",
        tags=["a", "b", "a"],
        min_ram=512,
        **{"owner_specified.openstack.md5": ""},
    )
    assert image["os_distro"] == "ubuntu"
    assert image["description"] == ""
    assert image["owner_specified.openstack.md5"] == ""
    assert sorted(image["tags"]) == ["a", "b"]
    assert image["min_ram"] == 512


def test_client_chosen_id_and_reuse(api: httpx.Client) -> None:
    image_id = str(uuid.uuid4())
    assert make_image(api, id=image_id)["id"] == image_id
    response = api.post("/v2/images", json={"id": image_id})
    assert response.status_code == 409
    assert api.delete(f"/v2/images/{image_id}").status_code == 204
    # Deleted ids stay reserved.
    assert api.post("/v2/images", json={"id": image_id}).status_code == 409


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"status": "active"}, 403),
        ({"checksum": "abc"}, 403),
        ({"size": 3}, 403),
        ({"os_hash_value": "x"}, 403),
        ({"created_at": "x"}, 403),
        ({"self": "x"}, 403),
        ({"file": "x"}, 403),
        ({"schema": "x"}, 403),
        ({"location": "file:///etc/passwd"}, 403),
        ({"locations": []}, 403),
        ({"deleted": False}, 400),  # as Glance: the schema (a string) is checked first
        ({"deleted": "x"}, 403),
        ({"os_glance_import_task": "x"}, 403),
        ({"id": "not-a-uuid"}, 400),
        ({"name": "x" * 256}, 400),
        ({"name": 5}, 400),
        ({"visibility": "everyone"}, 400),
        ({"protected": "yes"}, 400),
        ({"min_ram": -1}, 400),
        ({"min_disk": "1"}, 400),
        ({"disk_format": "floppy"}, 400),
        ({"container_format": "zip"}, 400),
        ({"tags": "a"}, 400),
        ({"tags": ["x" * 256]}, 400),
        ({"os_distro": 5}, 400),
        ({"custom": {"nested": 1}}, 400),
        ({"x" * 256: "v"}, 400),
        ({"kernel_id": "not-a-uuid"}, 400),
    ],
)
def test_create_rejects(api: httpx.Client, body: dict[str, object], status: int) -> None:
    before = len(api.get("/v2/images", params={"limit": 1000}).json()["images"])
    response = api.post("/v2/images", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["message"]
    assert len(api.get("/v2/images", params={"limit": 1000}).json()["images"]) == before


def test_show_unknown_and_non_uuid_are_404(api: httpx.Client) -> None:
    assert api.get(f"/v2/images/{uuid.uuid4()}").status_code == 404
    assert api.get("/v2/images/not-a-uuid").status_code == 404


def _patch(api: httpx.Client, image_id: str, ops: object, **headers: str) -> httpx.Response:
    return api.patch(f"/v2/images/{image_id}", json=ops, headers={**PATCH, **headers})


def test_patch_add_replace_remove(api: httpx.Client) -> None:
    image = make_image(api, os_distro="debian")
    response = _patch(
        api,
        image["id"],
        [
            {"op": "add", "path": "/os_version", "value": "12"},
            {"op": "replace", "path": "/name", "value": "renamed"},
            {"op": "replace", "path": "/min_ram", "value": 512},
            {"op": "add", "path": "/os_distro", "value": "ubuntu"},
            {"op": "add", "path": "/a~1b", "value": "slash"},
            {"op": "replace", "path": "/tags", "value": ["x", "y"]},
            {"op": "replace", "path": "/protected", "value": True},
        ],
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["name"] == "renamed"
    assert updated["min_ram"] == 512
    assert updated["os_version"] == "12"
    assert updated["os_distro"] == "ubuntu"
    assert updated["a/b"] == "slash"
    assert sorted(updated["tags"]) == ["x", "y"]
    assert updated["protected"] is True
    assert api.get(f"/v2/images/{image['id']}").json() == updated
    removed = _patch(
        api,
        image["id"],
        [
            {"op": "remove", "path": "/os_version"},
            {"op": "replace", "path": "/protected", "value": False},
        ],
    ).json()
    assert "os_version" not in removed


def test_patch_v20_media_type(api: httpx.Client) -> None:
    image = make_image(api)
    response = api.patch(
        f"/v2/images/{image['id']}",
        json=[{"replace": "/name", "value": "old-style"}],
        headers={"Content-Type": "application/openstack-images-v2.0-json-patch"},
    )
    assert response.status_code == 200
    assert response.json()["name"] == "old-style"


def test_patch_wrong_media_type_is_415_with_accept_patch(api: httpx.Client) -> None:
    image = make_image(api)
    response = api.patch(
        f"/v2/images/{image['id']}",
        json=[{"op": "replace", "path": "/name", "value": "x"}],
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 415
    assert "application/openstack-images-v2.1-json-patch" in response.headers["accept-patch"]
    assert api.get(f"/v2/images/{image['id']}").json()["name"] == image["name"]


@pytest.mark.parametrize(
    ("ops", "status"),
    [
        ([{"op": "replace", "path": "/status", "value": "active"}], 403),
        ([{"op": "replace", "path": "/id", "value": str(uuid.uuid4())}], 403),
        ([{"op": "add", "path": "/checksum", "value": "x"}], 403),
        ([{"op": "add", "path": "/locations/-", "value": {"url": "x"}}], 403),
        ([{"op": "add", "path": "/a/b", "value": "x"}], 400),
        ([{"op": "replace", "path": "/locations", "value": []}], 403),
        ([{"op": "remove", "path": "/name"}], 403),
        ([{"op": "replace", "path": "/nonexistent", "value": "x"}], 409),
        ([{"op": "remove", "path": "/nonexistent"}], 409),
        ([{"op": "move", "from": "/name", "path": "/x"}], 400),
        ([{"op": "test", "path": "/name", "value": "x"}], 400),
        ([{"op": "add", "path": "name", "value": "x"}], 400),
        ([{"op": "add", "path": "/name"}], 400),
        ([{"op": "replace", "path": "/min_ram", "value": -5}], 400),
        ([{"op": "replace", "path": "/visibility", "value": "nope"}], 400),
        ({"op": "replace", "path": "/name", "value": "x"}, 400),
        ([{"op": "add", "path": "/os_glance_x", "value": "x"}], 403),
        # The whole patch applies or none of it.
        (
            [
                {"op": "replace", "path": "/name", "value": "half"},
                {"op": "replace", "path": "/status", "value": "active"},
            ],
            403,
        ),
    ],
)
def test_patch_rejects(api: httpx.Client, ops: object, status: int) -> None:
    image = make_image(api)
    response = _patch(api, image["id"], ops)
    assert response.status_code == status, response.text
    assert api.get(f"/v2/images/{image['id']}").json() == image


def test_formats_fixed_once_data_arrived(api: httpx.Client) -> None:
    image = make_image(api)
    assert upload(api, image["id"], b"data").status_code == 204
    response = _patch(
        api, image["id"], [{"op": "replace", "path": "/disk_format", "value": "qcow2"}]
    )
    assert response.status_code == 403


def test_delete_and_protected(api: httpx.Client) -> None:
    image = make_image(api, protected=True)
    response = api.delete(f"/v2/images/{image['id']}")
    assert response.status_code == 403
    assert api.get(f"/v2/images/{image['id']}").status_code == 200
    _patch(api, image["id"], [{"op": "replace", "path": "/protected", "value": False}])
    assert api.delete(f"/v2/images/{image['id']}").status_code == 204
    assert api.get(f"/v2/images/{image['id']}").status_code == 404
    assert api.delete(f"/v2/images/{image['id']}").status_code == 404


def test_tags(api: httpx.Client) -> None:
    image = make_image(api)
    url = f"/v2/images/{image['id']}/tags"
    assert api.put(f"{url}/red").status_code == 204
    assert api.put(f"{url}/red").status_code == 204
    assert api.put(f"{url}/blue").status_code == 204
    assert sorted(api.get(f"/v2/images/{image['id']}").json()["tags"]) == ["blue", "red"]
    assert api.delete(f"{url}/red").status_code == 204
    assert api.delete(f"{url}/red").status_code == 404
    assert api.get(f"/v2/images/{image['id']}").json()["tags"] == ["blue"]
    assert api.put(f"{url}/{'x' * 256}").status_code == 400


def test_deactivate_reactivate(api: httpx.Client) -> None:
    image = make_image(api)
    actions = f"/v2/images/{image['id']}/actions"
    # Only active images can be deactivated.
    assert api.post(f"{actions}/deactivate").status_code == 403
    assert upload(api, image["id"], b"payload").status_code == 204
    assert api.post(f"{actions}/deactivate").status_code == 204
    assert api.post(f"{actions}/deactivate").status_code == 204
    assert api.get(f"/v2/images/{image['id']}").json()["status"] == "deactivated"
    # Admins (every caller in identity mode none) may still download.
    assert api.get(f"/v2/images/{image['id']}/file").content == b"payload"
    assert api.post(f"{actions}/reactivate").status_code == 204
    assert api.post(f"{actions}/reactivate").status_code == 204
    assert api.get(f"/v2/images/{image['id']}").json()["status"] == "active"
    missing = f"/v2/images/{uuid.uuid4()}/actions/deactivate"
    assert api.post(missing).status_code == 404


def test_property_and_tag_limits(limited_server) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=limited_server.url) as client:
        response = client.post("/v2/images", json={f"p{i}": "v" for i in range(5)})
        assert response.status_code == 413
        assert "properties" in response.json()["error"]["message"]
        response = client.post("/v2/images", json={"tags": ["a", "b", "c", "d"]})
        assert response.status_code == 413
        image = make_image(client, tags=["a", "b", "c"])
        assert client.put(f"/v2/images/{image['id']}/tags/d").status_code == 413
        response = client.post(
            "/v2/images",
            content=b'{"name": "' + b"x" * 5000 + b'"}',
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 413
