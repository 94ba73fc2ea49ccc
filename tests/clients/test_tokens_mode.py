"""Identity mode `tokens`: `glimpse token` and the unchanged clients with a Glimpse token."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openstack
import pytest
from openstack.connection import Connection
from openstack.image.v2._proxy import Proxy as ImageProxy
from openstack.image.v2.image import Image

import helpers
from glimpse.testing import ServerProcess

BIN = Path(sys.executable).parent
PROJECT = "project-tokens-a"


def make_token(server: ServerProcess, project: str = PROJECT, **options: Any) -> dict[str, Any]:
    return helpers.make_token(server, project, **options)


@pytest.fixture(scope="module")
def member_token(tokens_server: ServerProcess) -> str:
    secret: str = make_token(tokens_server)["token"]
    return secret


def _headers(token: str) -> dict[str, str]:
    return {"X-Auth-Token": token}


def glance(
    server: ServerProcess, token: str, *args: str, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `glance` with a token; unless `ok` is false, it must succeed."""
    return helpers.glance(server, *args, token=token, ok=ok)


def _token_rows(server: ServerProcess) -> tuple[str, dict[str, list[str]]]:
    """`glimpse token list`: its whole output, and its rows by token id."""
    done = server.command("token", "list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == [
        "id", "user", "project", "roles", "created_at", "expires_at", "state",
    ]  # fmt: skip
    return done.stdout, {line.split()[0]: line.split() for line in lines[1:]}


def test_token_create_list_revoke(tokens_server: ServerProcess) -> None:
    created = make_token(tokens_server, user="carol", roles="reader,Member")
    assert set(created) == {
        "id", "token", "user", "project", "roles", "created_at", "expires_at", "state",
    }  # fmt: skip
    secret = created["token"]
    assert secret.startswith("glt_")
    assert created["user"] == "carol"
    assert created["project"] == PROJECT
    assert created["roles"] == "member,reader"  # lower-cased and sorted
    assert created["expires_at"] is None
    assert created["state"] == "active"

    listing, rows = _token_rows(tokens_server)
    assert secret not in listing
    assert secret.removeprefix("glt_") not in listing
    assert rows[created["id"]] == [
        created["id"], "carol", PROJECT, "member,reader", created["created_at"], "-", "active",
    ]  # fmt: skip

    url = f"{tokens_server.url}/v2/images"
    assert httpx.get(url, headers=_headers(secret)).status_code == 200

    done = tokens_server.command("token", "revoke", created["id"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"revoked {created['id']}"
    listing, rows = _token_rows(tokens_server)
    assert rows[created["id"]][-1] == "revoked"
    assert secret not in listing

    refused = httpx.get(url, headers=_headers(secret))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == 401
    # The clients see the revocation too.
    failed = glance(tokens_server, secret, "--debug", "image-list", ok=False)
    assert failed.returncode != 0
    assert "failure status 401" in failed.stderr

    again = tokens_server.command("token", "revoke", created["id"])
    assert again.returncode != 0
    assert created["id"] in again.stderr


def test_expired_token_is_refused(tokens_server: ServerProcess) -> None:
    # An expiry in the past is refused when the token is made, so let one run out.
    expired = make_token(tokens_server, user="dave", expires="1s")
    assert expired["state"] == "active"
    time.sleep(1.5)
    _, rows = _token_rows(tokens_server)
    assert rows[expired["id"]][-2:] == [expired["expires_at"], "expired"]

    refused = httpx.get(f"{tokens_server.url}/v2/images", headers=_headers(expired["token"]))
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "The token has expired."

    # A duration gives a token that works now and expires later.
    later = make_token(tokens_server, user="dave", expires="30d")
    assert later["state"] == "active"
    assert later["expires_at"] is not None
    assert later["expires_at"] > later["created_at"]
    answer = httpx.get(f"{tokens_server.url}/v2/images", headers=_headers(later["token"]))
    assert answer.status_code == 200


def test_bad_expiry_is_refused(tokens_server: ServerProcess) -> None:
    done = tokens_server.command(
        "token", "create", "--project", PROJECT, "--user", "eve", "--expires", "soon"
    )
    assert done.returncode != 0
    assert "--expires 'soon'" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"X-Auth-Token": "glt_not-a-token"}, id="unknown-token"),
        pytest.param({"Authorization": "Bearer glt_not-a-token"}, id="unknown-bearer"),
        pytest.param({"Authorization": "Basic YWxpY2U6c2VjcmV0"}, id="basic"),
    ],
)
def test_missing_or_bad_token_is_401_json(
    tokens_server: ServerProcess, headers: dict[str, str]
) -> None:
    response = httpx.get(f"{tokens_server.url}/v2/images", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-openstack-request-id"].startswith("req-")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "title", "message"}
    assert body["error"]["code"] == 401
    assert body["error"]["title"] == "Unauthorized"
    assert body["error"]["message"]
    assert response.headers["www-authenticate"] == 'Bearer realm="glimpse"'


def test_unknown_path_needs_a_token_but_versions_do_not(tokens_server: ServerProcess) -> None:
    assert httpx.get(f"{tokens_server.url}/v2/no-such-thing").status_code == 401
    assert httpx.get(f"{tokens_server.url}/versions").status_code == 200


def test_bearer_works_like_x_auth_token(tokens_server: ServerProcess, member_token: str) -> None:
    bearer = {"Authorization": f"Bearer {member_token}"}
    with httpx.Client(base_url=tokens_server.url, timeout=60) as client:
        created = client.post(
            "/v2/images",
            json={"name": "via-bearer", "disk_format": "raw", "container_format": "bare"},
            headers=bearer,
        )
        assert created.status_code == 201, created.text
        image = created.json()
        assert image["owner"] == PROJECT
        by_bearer = client.get(f"/v2/images/{image['id']}", headers=bearer)
        by_header = client.get(f"/v2/images/{image['id']}", headers=_headers(member_token))
        assert by_bearer.status_code == by_header.status_code == 200
        assert by_bearer.json() == by_header.json()
        deleted = client.delete(f"/v2/images/{image['id']}", headers=bearer)
        assert deleted.status_code == 204


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tokens") / "disk.raw"
    path.write_bytes(os.urandom(1024 * 1024 + 13))
    return path


def test_glance_with_a_member_token(
    tokens_server: ServerProcess, member_token: str, disk: Path, tmp_path: Path
) -> None:
    name = f"glance-token-{uuid.uuid4().hex[:8]}"
    created = helpers.property_table(
        glance(
            tokens_server, member_token, "image-create", "--name", name, "--disk-format", "raw",
            "--container-format", "bare", "--file", str(disk),
        ).stdout
    )  # fmt: skip
    image_id = created["id"]
    data = disk.read_bytes()
    assert created["status"] == "active"
    assert created["owner"] == PROJECT
    assert created["checksum"] == hashlib.md5(data).hexdigest()

    listed = glance(tokens_server, member_token, "image-list").stdout
    assert image_id in listed
    assert name in listed

    shown = helpers.property_table(
        glance(tokens_server, member_token, "image-show", image_id).stdout
    )
    assert shown["name"] == name
    assert shown["owner"] == PROJECT
    # With os_hash_value set, image-download checks the data's SHA-512 as it arrives.
    assert shown["os_hash_algo"] == "sha512"

    out = tmp_path / "out.raw"
    glance(tokens_server, member_token, "image-download", "--file", str(out), image_id)
    assert out.read_bytes() == data

    glance(tokens_server, member_token, "image-delete", image_id)


def test_glance_with_a_reader_token(
    tokens_server: ServerProcess, member_token: str, disk: Path
) -> None:
    reader = make_token(tokens_server, user="rita", roles="reader")["token"]
    with httpx.Client(base_url=tokens_server.url, timeout=60) as client:
        made = client.post(
            "/v2/images",
            json={"name": "for-readers", "disk_format": "raw", "container_format": "bare"},
            headers=_headers(member_token),
        )
        assert made.status_code == 201, made.text
    image_id = made.json()["id"]

    assert image_id in glance(tokens_server, reader, "image-list").stdout
    shown = helpers.property_table(glance(tokens_server, reader, "image-show", image_id).stdout)
    assert shown["name"] == "for-readers"
    assert shown["owner"] == PROJECT

    name = f"reader-made-{uuid.uuid4().hex[:8]}"
    refused = glance(
        tokens_server, reader, "--debug", "image-create", "--name", name, "--disk-format", "raw",
        "--container-format", "bare", "--file", str(disk), ok=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "failure status 403" in refused.stderr
    assert name not in glance(tokens_server, member_token, "image-list").stdout


@pytest.fixture
def sdk(tokens_server: ServerProcess, member_token: str) -> Iterator[Connection]:
    # admin_token does no version discovery, so the endpoint names /v2 itself.
    connection = openstack.connect(
        auth_type="admin_token",
        auth={"endpoint": f"{tokens_server.url}/v2", "token": member_token},
        load_yaml_config=False,
        load_envvars=False,
    )
    yield connection
    connection.close()


# openstacksdk's create_image(filename=...) leaves its own file handle open.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_sdk_with_admin_token(sdk: Connection, tmp_path: Path) -> None:
    data = os.urandom(512 * 1024 + 3)
    path = tmp_path / "disk.raw"
    path.write_bytes(data)
    name = f"sdk-token-{uuid.uuid4().hex[:8]}"
    image = sdk.create_image(
        name, filename=str(path), disk_format="raw", container_format="bare", wait=True,
        validate_checksum=True,
    )  # fmt: skip
    assert isinstance(image, Image)
    assert image.status == "active"
    assert image.owner == PROJECT
    assert image.checksum == hashlib.md5(data).hexdigest()

    images = sdk.image
    assert isinstance(images, ImageProxy)
    assert image.id in [i.id for i in images.images()]
    # Without streaming the SDK checks the MD5 checksum itself before answering.
    assert images.download_image(image).content == data
    out = tmp_path / "out.raw"
    images.download_image(image, output=str(out))
    assert out.read_bytes() == data

    images.delete_image(image)
    assert images.find_image(image.id) is None


def test_sdk_with_a_bad_token(tokens_server: ServerProcess) -> None:
    connection = openstack.connect(
        auth_type="admin_token",
        auth={"endpoint": f"{tokens_server.url}/v2", "token": "glt_not-a-token"},
        load_yaml_config=False,
        load_envvars=False,
    )
    with pytest.raises(openstack.exceptions.HttpException) as caught:
        list(connection.image.images())
    assert caught.value.status_code == 401
    connection.close()


def _openstack(server: ServerProcess, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    return subprocess.run(
        [str(BIN / "openstack"), "--os-auth-type", "admin_token",
         "--os-endpoint", f"{server.url}/v2", "--os-token", token, *args],
        capture_output=True, text=True, env=env, check=False, timeout=180,
    )  # fmt: skip


def test_openstack_cli_with_admin_token(tokens_server: ServerProcess, member_token: str) -> None:
    with httpx.Client(base_url=tokens_server.url, timeout=60) as client:
        made = client.post(
            "/v2/images",
            json={"name": "for-osc", "disk_format": "raw", "container_format": "bare"},
            headers=_headers(member_token),
        )
        assert made.status_code == 201, made.text
        image_id = made.json()["id"]
        uploaded = client.put(
            f"/v2/images/{image_id}/file",
            content=b"osc data",
            headers={**_headers(member_token), "Content-Type": "application/octet-stream"},
        )
        assert uploaded.status_code == 204, uploaded.text

    listed = _openstack(tokens_server, member_token, "image", "list", "-f", "json")
    assert listed.returncode == 0, listed.stderr
    assert image_id in [i["ID"] for i in json.loads(listed.stdout)]

    shown = _openstack(tokens_server, member_token, "image", "show", image_id, "-f", "json")
    assert shown.returncode == 0, shown.stderr
    image = json.loads(shown.stdout)
    assert image["name"] == "for-osc"
    assert image["owner"] == PROJECT
    assert image["status"] == "active"
    assert image["size"] == len(b"osc data")

    refused = _openstack(tokens_server, "glt_not-a-token", "image", "list")
    assert refused.returncode != 0
    assert "401" in refused.stderr


def test_roles_imply_others_as_in_keystone(tokens_server: ServerProcess) -> None:
    """A `member` token reads like a Keystone member token (member implies reader)."""
    member_only = make_token(tokens_server, project="implied", roles="member")
    assert member_only["roles"] == "member"
    with httpx.Client(base_url=tokens_server.url, headers=_headers(member_only["token"])) as api:
        assert api.get("/v2/images").status_code == 200
        created = api.post(
            "/v2/images", json={"name": "implied", "disk_format": "raw", "container_format": "bare"}
        )
        assert created.status_code == 201
        assert api.get(f"/v2/images/{created.json()['id']}").status_code == 200
