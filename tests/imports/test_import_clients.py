"""Interoperable import through the real clients: python-glanceclient's ``glance``, the
``openstack`` CLI and openstacksdk, each staging data and importing it with glance-direct."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import openstack
from import_support import new_image, wait_for

from glimpse.testing import ServerProcess
from helpers import glance, property_table

BIN = Path(sys.executable).parent


def _image_file(tmp_path: Path, size: int = 1 << 20) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / "disk.raw"
    path.write_bytes(data)
    return path, data


def test_glance_image_create_via_import(import_server: ServerProcess, tmp_path: Path) -> None:
    # glanceclient takes a non-terminal stdin for image data, and refuses --file beside it:
    # the data comes on stdin, as from a pipe.
    path, data = _image_file(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    with open(path, "rb") as stdin:
        done = subprocess.run(
            [
                str(BIN / "glance"), "--os-image-url", import_server.url, "--os-auth-token", "x",
                "image-create-via-import", "--name", "via-import", "--disk-format", "raw",
                "--container-format", "bare", "--import-method", "glance-direct",
            ],
            stdin=stdin, capture_output=True, text=True, env=env, check=False, timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    image_id = property_table(done.stdout)["id"]
    with httpx.Client(base_url=import_server.url) as client:
        image = wait_for(client, image_id)
    assert image["status"] == "active"
    assert image["checksum"] == hashlib.md5(data).hexdigest()


def test_glance_image_stage_then_image_import(import_server: ServerProcess, tmp_path: Path) -> None:
    path, data = _image_file(tmp_path)
    # Made through the API: glanceclient's image-create would take a non-terminal stdin
    # for image data.
    with httpx.Client(base_url=import_server.url) as client:
        image_id = new_image(client, name="staged")["id"]
    glance(import_server, "image-stage", "--file", str(path), image_id)
    shown = property_table(glance(import_server, "image-show", image_id).stdout)
    assert shown["status"] == "uploading"
    glance(
        import_server, "image-import", "--import-method", "glance-direct",
        "--stores", "second", image_id,
    )  # fmt: skip
    with httpx.Client(base_url=import_server.url) as client:
        image = wait_for(client, image_id)
        assert image["stores"] == "second"
        assert client.get(f"/v2/images/{image_id}/file").content == data
    listed = glance(import_server, "import-info")
    assert "import-methods" in listed.stdout


def test_openstack_image_create_import(import_server: ServerProcess, tmp_path: Path) -> None:
    path, data = _image_file(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    done = subprocess.run(
        [
            str(BIN / "openstack"), "--os-auth-type", "none", "--os-endpoint", import_server.url,
            "image", "create", "--import", "--disk-format", "raw", "--container-format", "bare",
            "--file", str(path), "-f", "json", "osc-import",
        ],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    image_id = json.loads(done.stdout)["id"]
    with httpx.Client(base_url=import_server.url) as client:
        image = wait_for(client, image_id)
    assert image["status"] == "active"
    assert image["os_hash_value"] == hashlib.sha512(data).hexdigest()


def test_openstacksdk_create_image_use_import(import_server: ServerProcess) -> None:
    conn = openstack.connect(auth_type="none", auth={"endpoint": import_server.url})
    data = os.urandom(1 << 20)
    image = conn.image.create_image(
        "sdk-use-import", data=data, disk_format="raw", container_format="bare",
        use_import=True, validate_checksum=False,
    )  # fmt: skip
    with httpx.Client(base_url=import_server.url) as client:
        done = wait_for(client, image.id)
    assert done["status"] == "active"
    assert done["checksum"] == hashlib.md5(data).hexdigest()
