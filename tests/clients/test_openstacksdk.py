"""openstacksdk, unchanged, with auth_type none against a real server."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import openstack
import pytest
from openstack.connection import Connection

from glimpse.testing import ServerProcess


@pytest.fixture
def conn(sqlite_server: ServerProcess) -> Iterator[Connection]:
    connection = openstack.connect(
        auth_type="none",
        auth={"endpoint": sqlite_server.url},
        load_yaml_config=False,
        load_envvars=False,
    )
    yield connection
    connection.close()


# openstacksdk's create_image(filename=...) leaves its own file handle open.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_sdk_image_lifecycle(conn: Connection, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 5)
    path = tmp_path / "disk.raw"
    path.write_bytes(data)
    image = conn.create_image(
        "sdk-image", filename=str(path), disk_format="raw", container_format="bare", wait=True,
        validate_checksum=True,
    )  # fmt: skip
    assert image.status == "active"
    assert image.checksum == hashlib.md5(data).hexdigest()

    assert image.id in [i.id for i in conn.image.images()]
    found = conn.image.find_image("sdk-image")
    assert found is not None
    assert found.id == image.id

    updated = conn.image.update_image(image, name="sdk-renamed", os_distro="fedora")
    assert updated.name == "sdk-renamed"
    assert conn.image.get_image(image.id).os_distro == "fedora"

    response = conn.image.download_image(image, stream=True)
    got = b"".join(response.iter_content(1 << 20))
    assert got == data
    # Without streaming the SDK checks the hash itself before answering.
    assert conn.image.download_image(image).content == data

    conn.image.delete_image(image)
    assert conn.image.find_image(image.id) is None


def test_sdk_find_missing_image(conn: Connection) -> None:
    assert conn.image.find_image("no-such-image-anywhere") is None


def test_sdk_with_v2_endpoint(sqlite_server: ServerProcess) -> None:
    connection = openstack.connect(
        auth_type="none",
        auth={"endpoint": f"{sqlite_server.url}/v2"},
        load_yaml_config=False,
        load_envvars=False,
    )
    image = connection.image.create_image(
        name="via-v2", disk_format="raw", container_format="bare", data=b"abc"
    )
    assert connection.image.get_image(image.id).status == "active"
    connection.image.delete_image(image)
    connection.close()
