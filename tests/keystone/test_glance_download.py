"""glance-download between two Glimpse nodes that share a Keystone: the importing node finds
the other region's image endpoint in the caller's catalog, reads the image with the caller's
token, copies the properties Glance copies, and verifies the data as it stores it."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from harness import Keystone

from glimpse.testing import ServerProcess

PASSWORD = "correct-horse-battery"


def _glimpse(keystone: Keystone, data_dir: Path, **extra: str) -> ServerProcess:
    service = keystone.service
    server = ServerProcess(
        data_dir=data_dir,
        env={
            "GLIMPSE_IDENTITY__MODE": "keystone",
            "GLIMPSE_IDENTITY__KEYSTONE__AUTH_URL": json.dumps(keystone.auth_url),
            "GLIMPSE_IDENTITY__KEYSTONE__USERNAME": json.dumps(service.name),
            "GLIMPSE_IDENTITY__KEYSTONE__PASSWORD": json.dumps(service.password),
            "GLIMPSE_IDENTITY__KEYSTONE__PROJECT_NAME": json.dumps(service.project),
            **extra,
        },
    )
    server.start()
    return server


@pytest.fixture(scope="module")
def regions(
    keystone: Keystone, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    remote = _glimpse(keystone, tmp_path_factory.mktemp("remote-region"))
    local = _glimpse(
        keystone,
        tmp_path_factory.mktemp("local-region"),
        GLIMPSE_IMPORTS__METHODS='["glance-direct", "copy-image", "glance-download"]',
        # The other region's API listens on a port of its own, on loopback.
        GLIMPSE_IMPORT_FILTERING__ALLOWED_PORTS="[]",
    )
    keystone.register_image_service(remote.url)
    yield remote, local
    keystone.remove_image_service()
    local.stop()
    remote.stop()


def test_glance_download_copies_the_image(
    keystone: Keystone, regions: tuple[ServerProcess, ServerProcess]
) -> None:
    remote, local = regions
    project = f"project-{secrets.token_hex(4)}"
    keystone.create_project(project)
    account = keystone.create_user(
        f"user-{secrets.token_hex(4)}", PASSWORD, project, roles=["member", "reader"]
    )
    token = keystone.token_for(account.name, account.password, account.project)
    headers = {"X-Auth-Token": token}
    data = os.urandom(2 << 20)
    with (
        httpx.Client(base_url=remote.url, headers=headers, timeout=60) as there,
        httpx.Client(base_url=local.url, headers=headers, timeout=60) as here,
    ):
        source = there.post(
            "/v2/images",
            json={
                "name": "source",
                # Not bare: its data is not inspected, so any bytes stand for a qcow2 here.
                "disk_format": "qcow2",
                "container_format": "ovf",
                "hw_disk_bus": "scsi",
                "os_distro": "cirros",
                "owner_note": "stays behind",
            },
        ).json()
        assert (
            there.put(
                f"/v2/images/{source['id']}/file",
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            ).status_code
            == 204
        )
        target = here.post(
            "/v2/images", json={"name": "copy", "disk_format": "raw", "container_format": "bare"}
        ).json()
        body = {
            "method": {
                "name": "glance-download",
                "glance_region": keystone.region,
                "glance_image_id": source["id"],
            }
        }
        response = here.post(f"/v2/images/{target['id']}/import", json=body)
        assert response.status_code == 202, response.text
        deadline = time.monotonic() + 60
        while (image := here.get(f"/v2/images/{target['id']}").json())["status"] != "active":
            tasks = here.get(f"/v2/images/{target['id']}/tasks").json()["tasks"]
            assert not tasks or tasks[-1]["status"] != "failure", tasks[-1]
            assert time.monotonic() < deadline, image
            time.sleep(0.1)
        assert image["checksum"] == hashlib.md5(data).hexdigest()
        assert (image["disk_format"], image["container_format"]) == ("qcow2", "ovf")
        assert (image["hw_disk_bus"], image["os_distro"]) == ("scsi", "cirros")
        assert "owner_note" not in image
        assert here.get(f"/v2/images/{target['id']}/file").content == data


def test_glance_download_refusals(
    keystone: Keystone, regions: tuple[ServerProcess, ServerProcess]
) -> None:
    _, local = regions
    project = f"project-{secrets.token_hex(4)}"
    keystone.create_project(project)
    account = keystone.create_user(
        f"user-{secrets.token_hex(4)}", PASSWORD, project, roles=["member", "reader"]
    )
    token = keystone.token_for(account.name, account.password, account.project)
    with httpx.Client(base_url=local.url, headers={"X-Auth-Token": token}, timeout=60) as here:
        target = here.post(
            "/v2/images", json={"name": "copy", "disk_format": "raw", "container_format": "bare"}
        ).json()
        url = f"/v2/images/{target['id']}/import"
        missing = here.post(
            url, json={"method": {"name": "glance-download", "glance_image_id": "x"}}
        )
        assert missing.status_code == 400
        assert "'glance_region' needs to be set" in missing.text
        bad = here.post(
            url,
            json={
                "method": {"name": "glance-download", "glance_region": "r", "glance_image_id": "x"}
            },
        )
        assert bad.status_code == 400
        assert "Remote image id does not look like a UUID: x" in bad.text
        nowhere = here.post(
            url,
            json={
                "method": {
                    "name": "glance-download",
                    "glance_region": "NoSuchRegion",
                    "glance_image_id": "7a2b3c4d-0000-4000-8000-000000000000",
                }
            },
        )
        assert nowhere.status_code == 202
        deadline = time.monotonic() + 30
        while (tasks := here.get(f"/v2/images/{target['id']}/tasks").json()["tasks"])[-1][
            "status"
        ] not in ("failure", "success"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert tasks[-1]["status"] == "failure"
        assert "NoSuchRegion" in tasks[-1]["message"]
        assert here.get(f"/v2/images/{target['id']}").json()["status"] == "queued"
