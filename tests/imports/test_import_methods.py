"""Image import at the HTTP boundary: staging, each method end to end, Glance's answers
to every wrong request, and failures that leave the image as Glance leaves it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest
from import_support import last_task, new_image, stage, wait_for

from glimpse.testing import ServerProcess

MIB = 1 << 20


def _files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()] if directory.exists() else []


def test_info_import_lists_the_methods_offered(client: httpx.Client) -> None:
    body = client.get("/v2/info/import").json()
    assert body == {
        "import-methods": {
            "description": "Import methods available.",
            "type": "array",
            "value": ["glance-direct", "web-download", "copy-image"],
        }
    }


def test_create_advertises_the_import_methods(client: httpx.Client) -> None:
    response = client.post("/v2/images", json={"name": "x"})
    assert (
        response.headers["OpenStack-image-import-methods"]
        == "glance-direct,web-download,copy-image"
    )


def test_stage_then_glance_direct_makes_the_image_active(
    client: httpx.Client, import_server: ServerProcess
) -> None:
    data = os.urandom(3 * MIB + 17)
    image = new_image(client)
    assert stage(client, image["id"], data).status_code == 204
    staged = client.get(f"/v2/images/{image['id']}").json()
    assert (staged["status"], staged["size"]) == ("uploading", len(data))
    assert "os_glance_stage_host" not in staged
    assert (import_server.data_dir / "staging" / image["id"]).is_file()
    response = client.post(
        f"/v2/images/{image['id']}/import", json={"method": {"name": "glance-direct"}}
    )
    assert response.status_code == 202, response.text
    done = wait_for(client, image["id"])
    assert done["status"] == "active"
    assert done["checksum"] == hashlib.md5(data).hexdigest()
    assert done["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert done["stores"] == "file"
    assert done["os_glance_importing_to_stores"] == ""
    assert done["os_glance_failed_import"] == ""
    assert client.get(f"/v2/images/{image['id']}/file").content == data
    assert not (import_server.data_dir / "staging" / image["id"]).exists()
    task = last_task(client, image["id"])
    assert task["status"] == "success"
    assert task["type"] == "api_image_import"
    assert task["result"] == {"image_id": image["id"]}
    assert task["request_id"] == response.headers["x-openstack-request-id"]
    assert task["input"]["backend"] == ["file"]


def test_glance_direct_to_several_stores(client: httpx.Client) -> None:
    data = os.urandom(MIB)
    image = new_image(client)
    assert stage(client, image["id"], data).status_code == 204
    body = {"method": {"name": "glance-direct"}, "stores": ["file", "second"]}
    assert client.post(f"/v2/images/{image['id']}/import", json=body).status_code == 202
    done = wait_for(client, image["id"])
    assert done["status"] == "active"
    assert sorted(done["stores"].split(",")) == ["file", "second"]


def test_copy_image_adds_a_store(client: httpx.Client) -> None:
    data = os.urandom(2 * MIB)
    image = new_image(client)
    assert (
        client.put(
            f"/v2/images/{image['id']}/file",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        ).status_code
        == 204
    )
    body = {"method": {"name": "copy-image"}, "stores": ["second"]}
    response = client.post(f"/v2/images/{image['id']}/import", json=body)
    assert response.status_code == 202, response.text
    done = wait_for(client, image["id"], ("active",))
    assert sorted(done["stores"].split(",")) == ["file", "second"]
    assert done["checksum"] == hashlib.md5(data).hexdigest()
    again = client.post(f"/v2/images/{image['id']}/import", json=body)
    assert again.status_code == 400
    assert "Image is already present at store 'second'" in again.text
    # all_stores with every writable store holding the image: nothing to do.
    everywhere = {
        "method": {"name": "copy-image"},
        "all_stores": True,
        "all_stores_must_succeed": False,
    }
    assert client.post(f"/v2/images/{image['id']}/import", json=everywhere).status_code == 202


def test_a_failing_store_reverts_the_import(
    client: httpx.Client, import_server: ServerProcess
) -> None:
    image = new_image(client)
    assert stage(client, image["id"], os.urandom(MIB)).status_code == 204
    before = set(_files(import_server.data_dir / "images"))
    body = {"method": {"name": "glance-direct"}, "stores": ["file", "broken"]}
    assert client.post(f"/v2/images/{image['id']}/import", json=body).status_code == 202
    done = wait_for(client, image["id"])
    assert done["status"] == "queued"
    assert done["os_glance_failed_import"] == "broken"
    assert done["os_glance_importing_to_stores"] == ""
    assert done["size"] is None
    assert done["checksum"] is None
    assert "stores" not in done
    assert set(_files(import_server.data_dir / "images")) == before
    assert not (import_server.data_dir / "staging" / image["id"]).exists()
    task = last_task(client, image["id"])
    assert task["status"] == "failure"
    assert task["message"]


def test_a_failing_store_is_skipped_when_not_all_must_succeed(client: httpx.Client) -> None:
    image = new_image(client)
    assert stage(client, image["id"], os.urandom(MIB)).status_code == 204
    body = {
        "method": {"name": "glance-direct"},
        "stores": ["broken", "file"],
        "all_stores_must_succeed": False,
    }
    assert client.post(f"/v2/images/{image['id']}/import", json=body).status_code == 202
    done = wait_for(client, image["id"])
    assert done["status"] == "active"
    assert done["stores"] == "file"
    assert done["os_glance_failed_import"] == "broken"
    assert last_task(client, image["id"])["status"] == "success"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Import request requires a 'method' field."),
        ({"method": {}}, "Import request requires a 'name' field."),
        ({"method": {"name": "nope"}}, "Unknown import method name 'nope'."),
        ({"method": {"name": "glance-download"}}, "Unknown import method name 'glance-download'."),
        (
            {"method": {"name": "glance-direct"}, "all_stores_must_succeed": "yes"},
            "'all_stores_must_succeed' must be boolean value only",
        ),
        (
            {"method": {"name": "glance-direct"}, "all_stores": 1},
            "'all_stores' must be boolean value only",
        ),
    ],
)
def test_malformed_import_bodies_are_400(
    client: httpx.Client, body: dict[str, object], message: str
) -> None:
    image = new_image(client)
    response = client.post(f"/v2/images/{image['id']}/import", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message


def test_wrong_status_for_each_method_is_409(client: httpx.Client) -> None:
    queued = new_image(client)
    url = f"/v2/images/{queued['id']}/import"
    direct = client.post(url, json={"method": {"name": "glance-direct"}})
    assert direct.status_code == 409
    assert "Image needs to be staged before 'glance-direct' method can be used" in direct.text
    copy = client.post(url, json={"method": {"name": "copy-image"}})
    assert copy.status_code == 409
    assert "Only images with status active can be targeted for copying" in copy.text
    active = new_image(client)
    client.put(
        f"/v2/images/{active['id']}/file",
        content=b"x",
        headers={"Content-Type": "application/octet-stream"},
    )
    web = client.post(
        f"/v2/images/{active['id']}/import",
        json={"method": {"name": "web-download", "uri": "http://example.com/x"}},
    )
    assert web.status_code == 409
    assert "Image with status active cannot be target for import" in web.text
    staged = new_image(client)
    assert stage(client, staged["id"], b"abc").status_code == 204
    web = client.post(
        f"/v2/images/{staged['id']}/import",
        json={"method": {"name": "web-download", "uri": "http://example.com/x"}},
    )
    assert web.status_code == 409
    assert "Image needs to be in 'queued' state to use 'web-download' method" in web.text


def test_formats_must_be_set_before_import(client: httpx.Client) -> None:
    image = new_image(client, disk_format=None, container_format=None)
    response = client.post(
        f"/v2/images/{image['id']}/import",
        json={"method": {"name": "web-download", "uri": "http://example.com/x"}},
    )
    assert response.status_code == 409
    assert "'container_format' needs to be set before import" in response.text


def test_stores_are_checked(client: httpx.Client) -> None:
    image = new_image(client)
    assert stage(client, image["id"], b"abc").status_code == 204
    url = f"/v2/images/{image['id']}/import"
    unknown = client.post(url, json={"method": {"name": "glance-direct"}, "stores": ["nowhere"]})
    assert unknown.status_code == 409
    both = client.post(
        url, json={"method": {"name": "glance-direct"}, "stores": ["file"], "all_stores": True}
    )
    assert both.status_code == 400
    assert "All_stores parameter can't be used" in both.text
    header = client.post(
        url,
        json={"method": {"name": "glance-direct"}, "stores": ["file"]},
        headers={"X-Image-Meta-Store": "second"},
    )
    assert header.status_code == 400
    assert "Stores parameter and x-image-meta-store header can't be both specified" in header.text
    by_header = client.post(
        url, json={"method": {"name": "glance-direct"}}, headers={"X-Image-Meta-Store": "second"}
    )
    assert by_header.status_code == 202
    assert wait_for(client, image["id"])["stores"] == "second"


def test_stage_refusals(client: httpx.Client) -> None:
    image = new_image(client)
    url = f"/v2/images/{image['id']}/stage"
    wrong = client.put(url, content=b"x", headers={"Content-Type": "text/plain"})
    assert wrong.status_code == 415
    assert stage(client, image["id"], b"abc").status_code == 204
    again = stage(client, image["id"], b"abc")
    assert again.status_code == 409
    missing = stage(client, "7a2b3c4d-0000-4000-8000-000000000000", b"abc")
    assert missing.status_code == 404
    declared = client.put(
        f"/v2/images/{new_image(client)['id']}/stage",
        content=b"abcd",
        headers={"Content-Type": "application/octet-stream", "x-openstack-image-size": "9"},
    )
    assert declared.status_code == 400


def test_a_cut_short_stage_leaves_the_image_queued(client: httpx.Client) -> None:
    image = new_image(client)
    response = client.put(
        f"/v2/images/{image['id']}/stage",
        content=b"abcd",
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Length": "4",
            "x-openstack-image-size": "10",
        },
    )
    assert response.status_code == 400
    assert client.get(f"/v2/images/{image['id']}").json()["status"] == "queued"
    assert stage(client, image["id"], b"abc").status_code == 204
