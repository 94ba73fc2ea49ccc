"""Identity mode `keystone` against a real Keystone, with real tokens and the real clients."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openstack
import pytest
from harness import DOMAIN, Account, Keystone

from glimpse.testing import ServerProcess, free_port

BIN = Path(sys.executable).parent
PASSWORD = "correct-horse-battery"


def _quoted(value: str) -> str:
    """A GLIMPSE_* value that stays a string whatever it looks like."""
    return json.dumps(value)


def _glimpse(
    keystone: Keystone, data_dir: Path, cache_seconds: int = 300, workers: int = 2
) -> ServerProcess:
    service = keystone.service
    server = ServerProcess(
        data_dir=data_dir,
        workers=workers,
        env={
            "GLIMPSE_IDENTITY__MODE": "keystone",
            "GLIMPSE_IDENTITY__KEYSTONE__AUTH_URL": _quoted(keystone.auth_url),
            "GLIMPSE_IDENTITY__KEYSTONE__USERNAME": _quoted(service.name),
            "GLIMPSE_IDENTITY__KEYSTONE__PASSWORD": _quoted(service.password),
            "GLIMPSE_IDENTITY__KEYSTONE__PROJECT_NAME": _quoted(service.project),
            "GLIMPSE_IDENTITY__KEYSTONE__CACHE_SECONDS": str(cache_seconds),
        },
    )
    server.start()
    return server


@pytest.fixture(scope="module")
def glimpse(
    keystone: Keystone, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    server = _glimpse(keystone, tmp_path_factory.mktemp("glimpse-keystone"))
    keystone.register_image_service(server.url)
    yield server
    server.stop()


def _user(keystone: Keystone, roles: list[str], project: str | None = None) -> Account:
    if project is None:
        project = f"project-{secrets.token_hex(4)}"
        keystone.create_project(project)
    return keystone.create_user(f"user-{secrets.token_hex(4)}", PASSWORD, project, roles=roles)


def _api(server: ServerProcess, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"X-Auth-Token": token}, timeout=60)


def _token(keystone: Keystone, account: Account) -> str:
    return keystone.token_for(account.name, account.password, account.project)


def _create(api: httpx.Client, **fields: object) -> dict[str, object]:
    body = {"name": "ks", "disk_format": "raw", "container_format": "bare", **fields}
    response = api.post("/v2/images", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


def test_missing_and_bad_tokens_are_401_with_the_keystone_challenge(
    keystone: Keystone, glimpse: ServerProcess
) -> None:
    challenge = f'Keystone uri="{keystone.url}"'
    for headers in ({}, {"X-Auth-Token": "not-a-token"}, {"Authorization": "Bearer nope"}):
        response = httpx.get(f"{glimpse.url}/v2/images", headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == challenge
        assert response.json()["error"]["code"] == 401
    # The version documents stay open for discovery.
    assert httpx.get(f"{glimpse.url}/versions").status_code == 200


def test_project_roles_and_implied_roles_come_from_the_token(
    keystone: Keystone, glimpse: ServerProcess
) -> None:
    # Given only `member`, the user also holds `reader` through Keystone's implied roles,
    # which listing requires.
    owner = _user(keystone, ["member"])
    with _api(glimpse, _token(keystone, owner)) as api:
        image = _create(api)
        assert image["owner"] == owner.project_id
        listed = api.get("/v2/images").json()["images"]
        assert image["id"] in [i["id"] for i in listed]

    reader = _user(keystone, ["reader"], project=owner.project)
    with _api(glimpse, _token(keystone, reader)) as api:
        assert api.get(f"/v2/images/{image['id']}").status_code == 200
        assert api.post("/v2/images", json={"name": "no"}).status_code == 403

    stranger = _user(keystone, ["member"])
    with _api(glimpse, _token(keystone, stranger)) as api:
        assert api.get(f"/v2/images/{image['id']}").status_code == 404

    admin = _user(keystone, ["admin"])
    with _api(glimpse, _token(keystone, admin)) as api:
        assert api.get(f"/v2/images/{image['id']}").status_code == 200
        public = _create(api, visibility="public")
        assert public["visibility"] == "public"


def test_system_scoped_tokens_pass_no_project_rule(
    keystone: Keystone, glimpse: ServerProcess
) -> None:
    """Glance scopes its rules to projects; a system-scoped token is refused like Glance does."""
    operator = _user(keystone, ["member"])
    keystone.assign_system_role(operator.name, "admin")
    token = keystone.system_token(operator.name, operator.password)
    with _api(glimpse, token) as api:
        assert api.get("/v2/images").status_code == 403
        assert api.post("/v2/images", json={"name": "sys"}).status_code == 403


def test_validations_are_cached_for_cache_seconds(
    keystone: Keystone, glimpse: ServerProcess, tmp_path: Path
) -> None:
    user = _user(keystone, ["member"])
    token = _token(keystone, user)
    uncached = _glimpse(keystone, tmp_path, cache_seconds=0, workers=1)
    try:
        with _api(glimpse, token) as cached_api, _api(uncached, token) as uncached_api:
            assert cached_api.get("/v2/images").status_code == 200
            assert uncached_api.get("/v2/images").status_code == 200
            keystone.admin_session.delete(
                f"{keystone.auth_url}/auth/tokens", headers={"X-Subject-Token": token}
            )
            # Revoked in Keystone: the caching server keeps the validation it made (the
            # client's kept-alive connection stays with the worker that made it)...
            assert cached_api.get("/v2/images").status_code == 200
            # ...while a server that caches nothing asks Keystone again.
            assert uncached_api.get("/v2/images").status_code == 401
    finally:
        uncached.stop()


def _os_environment(account: Account, keystone: Keystone) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(
        OS_AUTH_URL=keystone.auth_url,
        OS_USERNAME=account.name,
        OS_PASSWORD=account.password,
        OS_PROJECT_NAME=account.project,
        OS_USER_DOMAIN_ID=DOMAIN,
        OS_PROJECT_DOMAIN_ID=DOMAIN,
        OS_REGION_NAME=keystone.region,
        OS_IDENTITY_API_VERSION="3",
        OS_INTERFACE="public",
    )
    return env


def _run(command: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, check=False, timeout=120
    )
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_glance_client_with_password_auth_through_the_catalog(
    keystone: Keystone, glimpse: ServerProcess, tmp_path: Path
) -> None:
    account = _user(keystone, ["member"])
    env = _os_environment(account, keystone)
    disk = tmp_path / "disk.raw"
    disk.write_bytes(os.urandom(3 * 1024 * 1024 + 5))
    glance = [str(BIN / "glance")]
    out = _run(
        [*glance, "image-create", "--name", "via-catalog", "--disk-format", "raw",
         "--container-format", "bare", "--file", str(disk)],
        env,
    )  # fmt: skip
    image_id = next(
        line.split("|")[2].strip() for line in out.splitlines() if line.startswith("| id ")
    )
    listed = _run([*glance, "image-list"], env)
    assert image_id in listed
    target = tmp_path / "back.raw"
    _run([*glance, "image-download", "--file", str(target), image_id], env)
    assert (
        hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(disk.read_bytes()).digest()
    )
    with _api(glimpse, _token(keystone, account)) as api:
        assert api.get(f"/v2/images/{image_id}").json()["owner"] == account.project_id


def test_openstack_cli_with_password_auth_through_the_catalog(
    keystone: Keystone, glimpse: ServerProcess, tmp_path: Path
) -> None:
    account = _user(keystone, ["member"])
    env = _os_environment(account, keystone)
    disk = tmp_path / "disk.raw"
    disk.write_bytes(os.urandom(1024 * 1024))
    osc = [str(BIN / "openstack")]
    created = json.loads(
        _run(
            [*osc, "image", "create", "--disk-format", "raw", "--container-format", "bare",
             "--file", str(disk), "-f", "json", "osc-catalog"],
            env,
        )
    )  # fmt: skip
    assert created["status"] == "active"
    assert created["owner"] == account.project_id
    listed = json.loads(_run([*osc, "image", "list", "-f", "json"], env))
    assert created["id"] in [i["ID"] for i in listed]
    shown = json.loads(_run([*osc, "image", "show", "-f", "json", created["id"]], env))
    assert shown["checksum"] == hashlib.md5(disk.read_bytes()).hexdigest()
    _run([*osc, "image", "delete", created["id"]], env)


def test_openstacksdk_with_password_auth(keystone: Keystone, glimpse: ServerProcess) -> None:
    account = _user(keystone, ["member"])
    conn = openstack.connect(
        auth_url=keystone.auth_url,
        username=account.name,
        password=account.password,
        project_name=account.project,
        user_domain_id=DOMAIN,
        project_domain_id=DOMAIN,
        region_name=keystone.region,
        load_yaml_config=False,
        load_envvars=False,
    )
    try:
        image = conn.image.create_image(
            name="sdk-keystone", disk_format="raw", container_format="bare", data=b"k" * 4096
        )
        assert image.owner == account.project_id
        assert image.id in [i.id for i in conn.image.images()]
        conn.image.delete_image(image)
    finally:
        conn.close()


def test_unreachable_keystone_is_503_not_401(tmp_path: Path) -> None:
    """An identity service that cannot be reached is the server's problem, not the caller's;
    the answer says so and nothing more (Keystone's address and the error go to the log)."""
    port = free_port()
    server = ServerProcess(
        data_dir=tmp_path,
        env={
            "GLIMPSE_IDENTITY__MODE": "keystone",
            "GLIMPSE_IDENTITY__KEYSTONE__AUTH_URL": _quoted(f"http://127.0.0.1:{port}/v3"),
            "GLIMPSE_IDENTITY__KEYSTONE__USERNAME": _quoted("glimpse"),
            "GLIMPSE_IDENTITY__KEYSTONE__PASSWORD": _quoted("secret"),
            "GLIMPSE_IDENTITY__KEYSTONE__TIMEOUT": "2",
        },
    )
    server.start()
    try:
        with _api(server, "some-token") as api:
            response = api.get("/v2/images")
        assert response.status_code == 503, response.text
        assert response.json()["error"]["message"] == "The identity service is unavailable"
        assert str(port) not in response.text
        assert str(port) in server.log()
    finally:
        server.stop()


def test_domain_scoped_callers_act_on_nothing(keystone: Keystone, glimpse: ServerProcess) -> None:
    """A token without a project passes no project-scoped rule, as Glance with scope
    enforcement: it cannot create (an image without an owner), list, read or change
    images, not even owner-less ones, however many roles it holds."""
    admin_token = keystone.token_for(
        keystone.admin.name, keystone.admin.password, keystone.admin.project
    )
    with _api(glimpse, admin_token) as admin:
        ownerless = _create(admin, owner=None, visibility="private")
        assert ownerless["owner"] is None
    callers = []
    for roles in (["member", "reader"], ["admin"]):
        account = _user(keystone, ["reader"])
        for role in roles:
            keystone.assign_domain_role(account.name, role)
        callers.append(keystone.domain_token(account.name, account.password))
    for token in callers:
        with _api(glimpse, token) as api:
            created = api.post("/v2/images", json={"name": "d", "disk_format": "raw"})
            assert created.status_code == 403, created.text
            assert api.get("/v2/images").status_code == 403
            path = f"/v2/images/{ownerless['id']}"
            assert api.get(path).status_code == 404
            assert api.get(f"{path}/file").status_code == 404
            rename = [{"op": "replace", "path": "/name", "value": "mine"}]
            patched = api.patch(
                path,
                json=rename,
                headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
            )
            assert patched.status_code == 404, patched.text
            assert api.post(f"{path}/actions/deactivate").status_code == 404
            assert api.delete(path).status_code == 404
    with _api(glimpse, admin_token) as admin:
        assert admin.get(f"/v2/images/{ownerless['id']}").json()["name"] == "ks"


def test_refused_tokens_are_remembered_briefly(keystone: Keystone, tmp_path: Path) -> None:
    """A refused token is refused again without asking Keystone: random tokens do not
    cost a Keystone call each. Checked by counting validations in Keystone's log."""
    server = _glimpse(keystone, tmp_path, workers=1)
    try:
        token = f"gAAAAA{secrets.token_urlsafe(40)}"
        before = keystone.log_path.read_text().count("GET /v3/auth/tokens")
        for _ in range(5):
            with _api(server, token) as api:
                assert api.get("/v2/images").status_code == 401
        after = keystone.log_path.read_text().count("GET /v3/auth/tokens")
        assert after - before == 1
    finally:
        server.stop()
