"""Import plugins on a server that runs them all: decompression, conversion with qemu-img
(checked first: the data must be what its disk_format says, and safe) and metadata
injection."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from import_support import last_task, new_image, stage, wait_for

from glimpse.testing import ServerProcess
from helpers import start_server

MIB = 1 << 20
QEMU_IMG = shutil.which("qemu-img")


@pytest.fixture(scope="module")
def plugin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {
        "GLIMPSE_IMPORTS__PLUGINS": '["image_decompression", "image_conversion", '
        '"inject_image_metadata"]',
        "GLIMPSE_IMPORTS__INJECT_PROPERTIES": '["injected=yes", "hw_firmware_type=uefi"]',
        "GLIMPSE_IMPORTS__INJECT_IGNORE_USER_ROLES": '["nobody"]',
    }
    srv = start_server(tmp_path_factory, env=env, name="plugins")
    yield srv
    srv.stop()


@pytest.fixture
def plugged(plugin_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=plugin_server.url, timeout=60) as client:
        yield client


def _import(client: httpx.Client, data: bytes, **fields: object) -> dict[str, object]:
    image = new_image(client, **fields)
    assert stage(client, str(image["id"]), data).status_code == 204
    body = {"method": {"name": "glance-direct"}}
    assert client.post(f"/v2/images/{image['id']}/import", json=body).status_code == 202
    return wait_for(client, str(image["id"]))


def _qemu_img(*args: str) -> None:
    assert QEMU_IMG is not None, "qemu-img (Debian's qemu-utils) is installed by the bootstrap"
    subprocess.run([QEMU_IMG, *args], check=True, capture_output=True)


def test_raw_data_is_injected_and_kept(plugged: httpx.Client) -> None:
    data = os.urandom(MIB)
    done = _import(plugged, data)
    assert done["status"] == "active"
    assert (done["injected"], done["hw_firmware_type"]) == ("yes", "uefi")
    assert done["checksum"] == hashlib.md5(data).hexdigest()


def test_gzip_and_zip_are_decompressed(plugged: httpx.Client, tmp_path: Path) -> None:
    data = os.urandom(MIB) + bytes(MIB)
    done = _import(plugged, gzip.compress(data))
    assert done["status"] == "active"
    assert done["size"] == len(data)
    assert plugged.get(f"/v2/images/{done['id']}/file").content == data
    archive = tmp_path / "disk.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("disk.raw", data)
    zipped = _import(plugged, archive.read_bytes())
    assert zipped["status"] == "active"
    assert zipped["os_hash_value"] == hashlib.sha512(data).hexdigest()


def test_a_zip_of_two_files_fails_the_import(plugged: httpx.Client, tmp_path: Path) -> None:
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a", b"a")
        z.writestr("b", b"b")
    done = _import(plugged, archive.read_bytes())
    assert done["status"] == "queued"
    assert "more than one file" in last_task(plugged, str(done["id"]))["message"]


def test_qcow2_is_converted_to_raw(plugged: httpx.Client, tmp_path: Path) -> None:
    disk = tmp_path / "disk.qcow2"
    _qemu_img("create", "-f", "qcow2", str(disk), "16M")
    done = _import(plugged, disk.read_bytes(), disk_format="qcow2")
    assert done["status"] == "active", last_task(plugged, str(done["id"]))
    assert done["disk_format"] == "raw"
    assert done["virtual_size"] == 16 * MIB
    assert done["size"] == 16 * MIB
    assert plugged.get(f"/v2/images/{done['id']}/file").content == bytes(16 * MIB)


def test_conversion_refuses_a_format_mismatch(plugged: httpx.Client, tmp_path: Path) -> None:
    disk = tmp_path / "disk.qcow2"
    _qemu_img("create", "-f", "qcow2", str(disk), "1M")
    done = _import(plugged, disk.read_bytes(), disk_format="vmdk")
    assert done["status"] == "queued"
    task = last_task(plugged, str(done["id"]))
    assert task["status"] == "failure"
    assert task["message"] == "Image format mismatch"


def test_conversion_refuses_a_backing_file(plugged: httpx.Client, tmp_path: Path) -> None:
    base = tmp_path / "base.raw"
    base.write_bytes(bytes(MIB))
    disk = tmp_path / "overlay.qcow2"
    _qemu_img("create", "-f", "qcow2", "-b", str(base), "-F", "raw", str(disk))
    done = _import(plugged, disk.read_bytes(), disk_format="qcow2")
    assert done["status"] == "queued"
    assert "disallowed configuration" in str(last_task(plugged, str(done["id"]))["message"])
