"""Keystone authentication of the client commands: OS_* variables, clouds.yaml, precedence."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import yaml
from client_support import glimpse, json_of, ok, one_error_line
from harness import DOMAIN, Account, Keystone

from glimpse.client import Unauthorized, connect
from glimpse.testing import ServerProcess

PASSWORD = "client-tests-password"


@pytest.fixture(scope="module")
def account(keystone: Keystone) -> Account:
    project = f"client-{secrets.token_hex(4)}"
    keystone.create_project(project)
    return keystone.create_user(f"user-{secrets.token_hex(4)}", PASSWORD, project, ["member"])


def _os_variables(keystone: Keystone, account: Account, password: str = PASSWORD) -> dict[str, str]:
    return {
        "OS_AUTH_URL": keystone.auth_url,
        "OS_USERNAME": account.name,
        "OS_PASSWORD": password,
        "OS_PROJECT_NAME": account.project,
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": keystone.region,
    }


def _clouds(tmp_path: Path, keystone: Keystone, account: Account) -> Path:
    clouds = {
        "clouds": {
            "test": {
                "auth": {
                    "auth_url": keystone.auth_url,
                    "username": account.name,
                    "password": PASSWORD,
                    "project_name": account.project,
                    "user_domain_id": DOMAIN,
                    "project_domain_id": DOMAIN,
                },
                "region_name": keystone.region,
                "interface": "public",
            }
        }
    }
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump(clouds))
    return path


def test_os_variables_find_the_endpoint_in_the_catalog(
    keystone: Keystone, keystone_glimpse: ServerProcess, account: Account
) -> None:
    env = _os_variables(keystone, account)
    image = json_of(glimpse("image", "create", "--name", "ks-env", "-f", "json", env=env))
    assert image["owner"] == account.project_id
    listed = ok(glimpse("image", "list", "-f", "value", "-c", "id", env=env)).split()
    assert image["id"] in listed
    refused = glimpse("image", "list", env=_os_variables(keystone, account, "wrong"))
    assert one_error_line(refused).startswith("glimpse: 401 Unauthorized: Keystone: ")


def test_clouds_yaml(
    keystone: Keystone, keystone_glimpse: ServerProcess, account: Account, tmp_path: Path
) -> None:
    config = str(_clouds(tmp_path, keystone, account))
    env = {"OS_CLIENT_CONFIG_FILE": config, "OS_CLOUD": "test"}
    image = json_of(glimpse("image", "create", "--name", "ks-cloud", "-f", "json", env=env))
    assert image["owner"] == account.project_id
    # --os-cloud names it too; the cloud wins over OS_* variables that say otherwise.
    env = {
        "OS_CLIENT_CONFIG_FILE": config,
        **_os_variables(keystone, account, "wrong"),
        "OS_IMAGE_URL": "http://127.0.0.1:1",
    }
    shown = glimpse(
        "image", "show", image["id"], "--os-cloud", "test", "-f", "value", "-c", "name", env=env
    )
    assert ok(shown).strip() == "ks-cloud"
    # An explicit option wins over the cloud.
    wrong = glimpse("image", "list", "--os-cloud", "test", "--os-password", "wrong", env=env)
    assert " 401 " in one_error_line(wrong)
    unknown = glimpse(
        "image", "list", "--os-cloud", "nosuch", env={"OS_CLIENT_CONFIG_FILE": config}
    )
    assert "cloud 'nosuch'" in one_error_line(unknown, code=2)


def test_library_with_keystone(
    keystone: Keystone, keystone_glimpse: ServerProcess, account: Account, tmp_path: Path
) -> None:
    environ = {"OS_CLIENT_CONFIG_FILE": str(_clouds(tmp_path, keystone, account))}
    with connect(cloud="test", environ=environ) as client:
        assert str(client.http.base_url) == f"{keystone_glimpse.url}/"
        made = client.images.create(name="ks-lib", disk_format="raw", container_format="bare")
        client.data.upload(made.id, b"keystone bytes")
        assert b"".join(client.data.iter_download(made.id)) == b"keystone bytes"
    token = keystone.token_for(account.name, PASSWORD, account.project)
    with connect(endpoint=keystone_glimpse.url, token=token, environ={}) as client:
        assert client.images.get(made.id).owner == account.project_id
    with (
        connect(endpoint=keystone_glimpse.url, token="not-a-token", environ={}) as client,
        pytest.raises(Unauthorized),
    ):
        client.images.get(made.id)
