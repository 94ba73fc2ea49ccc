"""Image sharing (the members API) through the unchanged clients, with Glimpse tokens."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import openstack
import pytest
from openstack.connection import Connection
from openstack.image.v2._proxy import Proxy as ImageProxy
from openstack.image.v2.image import Image

import helpers
from glimpse.testing import ServerProcess

OWNER = "project-share-a"
CONSUMER = "project-share-b"


def _token(server: ServerProcess, project: str, user: str) -> str:
    secret: str = helpers.make_token(server, project, user)["token"]
    return secret


@pytest.fixture(scope="module")
def owner(tokens_server: ServerProcess) -> str:
    """A member token of the project that owns the shared images."""
    return _token(tokens_server, OWNER, "alice")


@pytest.fixture(scope="module")
def consumer(tokens_server: ServerProcess) -> str:
    """A member token of the project the images are shared with."""
    return _token(tokens_server, CONSUMER, "bob")


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sharing") / "disk.raw"
    path.write_bytes(os.urandom(64 * 1024 + 1))
    return path


def glance(
    server: ServerProcess, token: str, *args: str, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `glance` with a token; unless `ok` is false, it must succeed."""
    return helpers.glance(server, *args, token=token, ok=ok)


def refused(server: ServerProcess, token: str, *args: str) -> int:
    """Run a `glance` command that must fail; returns the HTTP status it failed with."""
    # glanceclient prints only the message of a JSON error; --debug logs the status.
    done = glance(server, token, "--debug", *args, ok=False)
    assert done.returncode != 0, done.stdout
    marker = "Request returned failure status "
    assert marker in done.stderr, done.stderr
    return int(done.stderr.split(marker, 1)[1].split(".", 1)[0])


def _rows(output: str) -> list[list[str]]:
    """The data rows of a glance table, without its header."""
    lines = [line for line in output.splitlines() if line.startswith("|")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines[1:]]


def _properties(output: str) -> dict[str, str]:
    return {row[0]: row[1] for row in _rows(output) if len(row) == 2}


def _create(server: ServerProcess, token: str, disk: Path, visibility: str) -> str:
    created = _properties(
        glance(
            server, token, "image-create", "--name", f"share-{uuid.uuid4().hex[:8]}",
            "--disk-format", "raw", "--container-format", "bare", "--visibility", visibility,
            "--file", str(disk),
        ).stdout
    )  # fmt: skip
    assert created["visibility"] == visibility
    assert created["owner"] == OWNER
    return created["id"]


def test_glance_member_workflow(
    tokens_server: ServerProcess, owner: str, consumer: str, disk: Path
) -> None:
    image_id = _create(tokens_server, owner, disk, "shared")
    assert image_id not in glance(tokens_server, consumer, "image-list").stdout
    assert refused(tokens_server, consumer, "image-show", image_id) == 404

    added = _rows(glance(tokens_server, owner, "member-create", image_id, CONSUMER).stdout)
    assert added == [[image_id, CONSUMER, "pending"]]
    listed = _rows(glance(tokens_server, owner, "member-list", "--image-id", image_id).stdout)
    assert listed == [[image_id, CONSUMER, "pending"]]

    # Pending: readable at once, but not in the consumer's default list.
    assert image_id not in glance(tokens_server, consumer, "image-list").stdout
    shown = _properties(glance(tokens_server, consumer, "image-show", image_id).stdout)
    assert shown["id"] == image_id
    assert shown["owner"] == OWNER
    pending = glance(tokens_server, consumer, "image-list", "--member-status", "pending")
    assert image_id in pending.stdout

    # Only the member sets its status; a member cannot add other members.
    assert refused(tokens_server, owner, "member-update", image_id, CONSUMER, "accepted") == 403
    assert refused(tokens_server, consumer, "member-create", image_id, "project-c") == 403

    accepted = glance(tokens_server, consumer, "member-update", image_id, CONSUMER, "accepted")
    assert _rows(accepted.stdout) == [[image_id, CONSUMER, "accepted"]]
    assert image_id in glance(tokens_server, consumer, "image-list").stdout
    member = _properties(glance(tokens_server, owner, "member-get", image_id, CONSUMER).stdout)
    assert member["status"] == "accepted"
    assert member["member_id"] == CONSUMER

    glance(tokens_server, owner, "member-delete", image_id, CONSUMER)
    listed = _rows(glance(tokens_server, owner, "member-list", "--image-id", image_id).stdout)
    assert listed == []
    assert refused(tokens_server, consumer, "image-show", image_id) == 404
    assert image_id not in glance(tokens_server, consumer, "image-list").stdout


def test_glance_private_image_has_no_members(
    tokens_server: ServerProcess, owner: str, disk: Path
) -> None:
    image_id = _create(tokens_server, owner, disk, "private")
    assert refused(tokens_server, owner, "member-create", image_id, CONSUMER) == 403
    assert refused(tokens_server, owner, "member-list", "--image-id", image_id) == 403


def _connect(server: ServerProcess, token: str) -> Connection:
    # admin_token does no version discovery, so the endpoint names /v2 itself.
    return openstack.connect(
        auth_type="admin_token",
        auth={"endpoint": f"{server.url}/v2", "token": token},
        load_yaml_config=False,
        load_envvars=False,
    )


@contextlib.contextmanager
def _image_api(server: ServerProcess, token: str) -> Iterator[ImageProxy]:
    """The SDK's image proxy for a token (Connection.image is typed as v1 or v2)."""
    connection = _connect(server, token)
    try:
        assert isinstance(connection.image, ImageProxy)
        yield connection.image
    finally:
        connection.close()


@pytest.fixture
def sdk_owner(tokens_server: ServerProcess, owner: str) -> Iterator[ImageProxy]:
    with _image_api(tokens_server, owner) as images:
        yield images


@pytest.fixture
def sdk_consumer(tokens_server: ServerProcess, consumer: str) -> Iterator[ImageProxy]:
    with _image_api(tokens_server, consumer) as images:
        yield images


def _sdk_image(images: ImageProxy, visibility: str) -> Image:
    image = images.create_image(
        name=f"sdk-share-{uuid.uuid4().hex[:8]}", disk_format="raw", container_format="bare",
        visibility=visibility, data=b"shared bytes",
    )  # fmt: skip
    assert image.owner == OWNER
    return image


def test_sdk_member_workflow(sdk_owner: ImageProxy, sdk_consumer: ImageProxy) -> None:
    image = _sdk_image(sdk_owner, "shared")

    added = sdk_owner.add_member(image, member_id=CONSUMER)
    assert added.member_id == CONSUMER
    assert added.image_id == image.id
    assert added.status == "pending"
    assert [(m.member_id, m.status) for m in sdk_owner.members(image)] == [(CONSUMER, "pending")]

    assert image.id not in [i.id for i in sdk_consumer.images()]
    assert sdk_consumer.get_image(image.id).owner == OWNER
    assert sdk_consumer.download_image(image.id).content == b"shared bytes"

    with pytest.raises(openstack.exceptions.ForbiddenException):
        sdk_owner.update_member(CONSUMER, image, status="accepted")
    updated = sdk_consumer.update_member(CONSUMER, image, status="accepted")
    assert updated.status == "accepted"
    assert image.id in [i.id for i in sdk_consumer.images()]
    assert sdk_owner.get_member(CONSUMER, image).status == "accepted"
    assert sdk_consumer.get_member(CONSUMER, image).status == "accepted"

    rejected = sdk_consumer.update_member(CONSUMER, image, status="rejected")
    assert rejected.status == "rejected"
    assert image.id not in [i.id for i in sdk_consumer.images()]
    assert sdk_consumer.get_image(image.id).id == image.id  # still readable
    listed = sdk_consumer.images(member_status="rejected")
    assert image.id in [i.id for i in listed]

    sdk_owner.remove_member(CONSUMER, image, ignore_missing=False)
    assert list(sdk_owner.members(image)) == []
    with pytest.raises(openstack.exceptions.NotFoundException):
        sdk_owner.get_member(CONSUMER, image)
    with pytest.raises(openstack.exceptions.NotFoundException):
        sdk_consumer.get_image(image.id)

    sdk_owner.delete_image(image)


def test_sdk_private_image_has_no_members(sdk_owner: ImageProxy) -> None:
    image = _sdk_image(sdk_owner, "private")
    with pytest.raises(openstack.exceptions.ForbiddenException) as caught:
        sdk_owner.add_member(image, member_id=CONSUMER)
    assert caught.value.status_code == 403
    sdk_owner.delete_image(image)
