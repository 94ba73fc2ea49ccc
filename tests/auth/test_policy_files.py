"""Operators' policy overrides and property protections, at the HTTP boundary."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from glimpse.testing import ServerProcess
from helpers import start_policy_server
from helpers import trusted as client

PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
ADMIN = {"X-Project-Id": "ops", "X-Roles": "admin,member,reader"}
MEMBER = {"X-Project-Id": "team", "X-Roles": "member,reader"}

POLICY = """\
# A Glance operator's overrides: project members may publicize, nobody may deactivate.
"publicize_image": "role:member and project_id:%(project_id)s"
"deactivate": "!"
"""

PROTECTIONS = """\
[^x_billing_]
create = admin
read = admin
update = admin
delete = admin

[^x_readonly_]
create = admin
read = @
update = !
delete = !

[.*]
create = @
read = @
update = @
delete = @
"""


@pytest.fixture(scope="module")
def policy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_policy_server(tmp_path_factory, "policy", POLICY, PROTECTIONS)
    yield server
    server.stop()


def create(api: httpx.Client, **fields: object) -> httpx.Response:
    body = {"name": "p", "disk_format": "raw", "container_format": "bare", **fields}
    return api.post("/v2/images", json=body)


def test_overridden_rules_apply(policy_server: ServerProcess) -> None:
    with client(policy_server, MEMBER) as member:
        image = create(member).json()
        patch = [{"op": "replace", "path": "/visibility", "value": "public"}]
        response = member.patch(f"/v2/images/{image['id']}", json=patch, headers=PATCH)
        assert response.status_code == 200, response.text
        assert response.json()["visibility"] == "public"
        member.put(
            f"/v2/images/{image['id']}/file",
            content=b"data",
            headers={"Content-Type": "application/octet-stream"},
        )
        response = member.post(f"/v2/images/{image['id']}/actions/deactivate")
        assert response.status_code == 403
        assert "deactivate" in response.json()["error"]["message"]
    with client(policy_server, ADMIN) as admin:
        # "!" holds for admins too: the override replaced the rule entirely.
        assert admin.post(f"/v2/images/{image['id']}/actions/deactivate").status_code == 403


def test_protected_properties_are_hidden_and_guarded(policy_server: ServerProcess) -> None:
    with client(policy_server, MEMBER) as member, client(policy_server, ADMIN) as admin:
        response = create(member, x_billing_code="42")
        assert response.status_code == 403
        assert "x_billing_code" in response.json()["error"]["message"]

        image = create(admin, owner="team", x_billing_code="42", x_readonly_os="linux").json()
        assert image["x_billing_code"] == "42"
        url = f"/v2/images/{image['id']}"

        shown = member.get(url).json()
        assert "x_billing_code" not in shown
        assert shown["x_readonly_os"] == "linux"
        listed = member.get("/v2/images", params={"name": "p", "limit": 1000}).json()["images"]
        assert all("x_billing_code" not in i for i in listed)

        def patch(api: httpx.Client, op: str, path: str, value: str | None = None) -> int:
            change: dict[str, str] = {"op": op, "path": path}
            if value is not None:
                change["value"] = value
            return api.patch(url, json=[change], headers=PATCH).status_code

        # An unreadable property does not exist for the caller: replace and remove are 409...
        assert patch(member, "replace", "/x_billing_code", "0") == 409
        assert patch(member, "remove", "/x_billing_code") == 409
        # ...and adding it is a create, which only admins may do.
        assert patch(member, "add", "/x_billing_code", "0") == 403
        assert patch(member, "replace", "/x_readonly_os", "bsd") == 403
        assert patch(member, "remove", "/x_readonly_os") == 403
        assert patch(member, "add", "/free_text", "ok") == 200

        # The member's change kept the property it cannot see.
        seen_by_admin = admin.get(url).json()
        assert seen_by_admin["x_billing_code"] == "42"
        assert seen_by_admin["free_text"] == "ok"
        assert patch(admin, "remove", "/x_billing_code") == 200


def _serve_fails(tmp_path: Path, env: dict[str, str]) -> str:
    server = ServerProcess(data_dir=tmp_path, env=env)
    done = subprocess.run(
        [sys.executable, "-m", "glimpse", "serve"],
        env=server.environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    return done.stderr


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ('"get_imagez": "role:admin"\n', "get_imagez"),
        ('"get_image": "role:admin or (role:reader"\n', "get_image"),
        ('"get_image": "rule:no_such_rule"\n', "no_such_rule"),
        ('"get_image": "http://policy.example/check"\n', "http"),
        ("- just a list\n", "must map rule names"),
    ],
)
def test_bad_policy_files_stop_start_up(tmp_path: Path, content: str, named: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(content)
    message = _serve_fails(tmp_path, {"GLIMPSE_POLICY__FILE": str(path)})
    assert "configuration error" in message
    assert named in message


def test_json_policy_files_load(policy_server: ServerProcess, tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"get_images": "role:nobody"}))
    server = ServerProcess(
        data_dir=tmp_path / "data",
        env={"GLIMPSE_POLICY__FILE": str(path)},
    )
    server.start()
    try:
        with httpx.Client(base_url=server.url) as api:
            assert api.get("/v2/images").status_code == 403
            assert api.get("/versions").status_code == 200
    finally:
        server.stop()


def test_bad_protections_file_stops_start_up(tmp_path: Path) -> None:
    path = tmp_path / "protections.conf"
    path.write_text("[(unclosed]\ncreate = @\n")
    message = _serve_fails(tmp_path, {"GLIMPSE_POLICY__PROPERTY_PROTECTIONS_FILE": str(path)})
    assert "regular expression" in message
