"""Holes closed at the HTTP boundary: identity headers, policy targets, protected
properties, list markers, value sizes and the registry's file modes."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from glimpse.testing import ServerProcess, free_port
from helpers import make_image, run_glimpse, start_policy_server
from helpers import trusted as client

PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
ADMIN = {"X-Project-Id": "ops", "X-Roles": "admin,member,reader"}
OWNER = {"X-Project-Id": "team", "X-Roles": "member,reader"}
OTHER = {"X-Project-Id": "rival", "X-Roles": "member,reader"}

# Operators' rules that name image attributes beyond owner and visibility.
_MEMBER = "role:member and project_id:%(project_id)s"
POLICY = f"""\
"delete_image": "role:admin or ({_MEMBER} and not 'aki':%(container_format)s)"
"modify_image": "role:admin or ({_MEMBER} and not 'locked':%(name)s)"
"""
PROTECTIONS = """\
[^x_secret]
create = admin,member
read = admin
update = admin
delete = admin

[.*]
create = @
read = @
update = @
delete = @
"""


@pytest.fixture(scope="module")
def secure_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_policy_server(tmp_path_factory, "secure", POLICY, PROTECTIONS)
    yield server
    server.stop()


def create(api: httpx.Client, **fields: object) -> dict[str, object]:
    return make_image(api, **{"name": "s", **fields})


def patch(api: httpx.Client, image_id: object, *ops: dict[str, object]) -> httpx.Response:
    return api.patch(f"/v2/images/{image_id}", json=list(ops), headers=PATCH)


# -- identity ---------------------------------------------------------------------------------


def test_callers_without_a_project_act_on_nothing(secure_server: ServerProcess) -> None:
    with client(secure_server, ADMIN) as admin:
        ownerless = create(admin, owner=None, visibility="private")
    for roles in ("member,reader", "admin,member,reader"):
        with client(secure_server, {"X-Roles": roles}) as nobody:
            assert nobody.post("/v2/images", json={"name": "n"}).status_code == 403
            assert nobody.get("/v2/images").status_code == 403
            assert nobody.get("/v2/info/usage").status_code == 403
            path = f"/v2/images/{ownerless['id']}"
            assert nobody.get(path).status_code == 404
            rename = {"op": "replace", "path": "/name", "value": "x"}
            assert patch(nobody, ownerless["id"], rename).status_code == 404
            assert nobody.post(f"{path}/actions/deactivate").status_code == 404
            assert nobody.delete(path).status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        [("X-Roles", "reader"), ("X-Roles", "admin")],
        [("X-Roles", "admin"), ("X-Roles", "reader")],
        [("X-Project-Id", "team"), ("X-Project-Id", "ops")],
        [("X-Identity-Status", "Confirmed"), ("x-identity-status", "Confirmed")],
        [("X-Project-Id", "team"), ("X-Tenant-Id", "ops")],
        [("X-Project-Id", ""), ("X-Tenant-Id", "ops")],
        [("X-User-Id", "a"), ("X-User-Id", "b")],
    ],
    ids=["roles", "roles-reversed", "project", "status", "disagree", "empty-project", "user"],
)
def test_repeated_or_disagreeing_identity_headers_are_refused(
    secure_server: ServerProcess, headers: list[tuple[str, str]]
) -> None:
    base = {"X-Identity-Status": "Confirmed", "X-Project-Id": "team", "X-Roles": "member,reader"}
    named = {name.lower() for name, _ in headers}
    sent = [(k, v) for k, v in base.items() if k.lower() not in named] + headers
    response = httpx.get(f"{secure_server.url}/v2/images", headers=sent)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == 401


def test_the_legacy_tenant_header_alone_still_names_the_project(
    secure_server: ServerProcess,
) -> None:
    headers = {"X-Identity-Status": "Confirmed", "X-Tenant-Id": "team", "X-Roles": "member,reader"}
    response = httpx.post(f"{secure_server.url}/v2/images", json={"name": "t"}, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["owner"] == "team"


def test_repeated_tokens_are_refused(tokens_server: ServerProcess) -> None:
    from helpers import make_token

    token = make_token(tokens_server, "p1")["token"]
    url = f"{tokens_server.url}/v2/images"
    assert httpx.get(url, headers={"X-Auth-Token": token}).status_code == 200
    # Whichever copy comes first: a proxy may put its own before or after the client's.
    for pair in ((token, "junk"), ("junk", token)):
        twice = [("X-Auth-Token", value) for value in pair]
        assert httpx.get(url, headers=twice).status_code == 401
        bearer = [("Authorization", f"Bearer {value}") for value in pair]
        assert httpx.get(url, headers=bearer).status_code == 401


# -- policy targets and protected properties --------------------------------------------------


def test_rules_see_every_image_attribute(secure_server: ServerProcess) -> None:
    with client(secure_server, OWNER) as owner:
        kernel = create(owner, container_format="aki", disk_format="aki")
        plain = create(owner)
        assert owner.delete(f"/v2/images/{kernel['id']}").status_code == 403
        assert owner.delete(f"/v2/images/{plain['id']}").status_code == 204
        locked = create(owner, name="locked")
        renamed = patch(owner, locked["id"], {"op": "replace", "path": "/name", "value": "free"})
        assert renamed.status_code == 403, renamed.text


def test_add_cannot_overwrite_a_property_the_caller_may_not_update(
    secure_server: ServerProcess,
) -> None:
    with client(secure_server, OWNER) as owner:
        image = create(owner, x_secret_code="1234")
        assert "x_secret_code" not in image  # the owner may create it, not read it
        overwrite = patch(owner, image["id"], {"op": "add", "path": "/x_secret_code", "value": "0"})
        assert overwrite.status_code == 403, overwrite.text
    with client(secure_server, ADMIN) as admin:
        assert admin.get(f"/v2/images/{image['id']}").json()["x_secret_code"] == "1234"


def test_filters_on_unreadable_properties_tell_nothing(secure_server: ServerProcess) -> None:
    with client(secure_server, OWNER) as owner:
        image = create(owner, x_secret_pin="7")
        for value in ("7", "8"):
            listed = owner.get("/v2/images", params={"x_secret_pin": value}).json()["images"]
            assert listed == []
    with client(secure_server, ADMIN) as admin:
        listed = admin.get("/v2/images", params={"x_secret_pin": "7"}).json()["images"]
        assert [i["id"] for i in listed] == [image["id"]]


# -- what answers tell ------------------------------------------------------------------------


def test_a_marker_the_caller_cannot_see_is_a_missing_marker(
    secure_server: ServerProcess,
) -> None:
    with client(secure_server, OTHER) as other:
        private = create(other, visibility="private", name="secret-name")
    with client(secure_server, OWNER) as owner:
        hidden = owner.get("/v2/images", params={"marker": private["id"]})
        missing = owner.get("/v2/images", params={"marker": "00000000-0000-0000-0000-000000000000"})
    assert hidden.status_code == missing.status_code == 400
    assert hidden.json()["error"]["message"] == missing.json()["error"]["message"].replace(
        "00000000-0000-0000-0000-000000000000", str(private["id"])
    )


# -- limits -----------------------------------------------------------------------------------


def test_property_values_are_capped_at_255_characters(secure_server: ServerProcess) -> None:
    with client(secure_server, OWNER) as owner:
        create(owner, note="v" * 255)
        too_long = owner.post("/v2/images", json={"name": "big", "note": "v" * 256})
        assert too_long.status_code == 400, too_long.text
        image = create(owner)
        grown = patch(owner, image["id"], {"op": "add", "path": "/note", "value": "v" * 1_000_000})
        assert grown.status_code == 400, grown.text[:200]


# -- files and start-up -----------------------------------------------------------------------


def test_the_registry_is_private_to_its_user(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    done = run_glimpse("db", "upgrade", env={"GLIMPSE_DATA_DIR": str(data)})
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = sorted(data.glob("glimpse.db*"))
    assert [f.name for f in files][:1] == ["glimpse.db"]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def _start_up_log(server: ServerProcess) -> str:
    server.start()
    try:
        return server.log()
    finally:
        server.stop()


def test_start_up_warns_about_what_is_exposed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    log = _start_up_log(ServerProcess(data_dir=data, env={"GLIMPSE_SERVER__HOST": '"0.0.0.0"'}))
    assert "identity mode: none" in log
    assert "makes every caller an admin" in log
    assert "server.public_endpoint is not set" in log
    assert f"{data} has mode 755" in log


def test_loopback_servers_do_not_warn(tmp_path: Path) -> None:
    log = _start_up_log(ServerProcess(data_dir=tmp_path / "quiet"))
    assert "identity mode: none" in log
    assert "beyond loopback" not in log
    assert "public_endpoint" not in log


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ('[identity.keystone]\nauth_url = "http://k:5000/v3"\nusername = "g"\n'
         'password = "p"\n', "[identity.keystone]"),
        ('[identity]\nmode = "tokens"\n[identity.none]\nproject = "x"\n', "[identity.none]"),
        ('[identity]\nmode = "keystone"\n[identity.keystone]\nauth_url = "http://k/v3"\n'
         'usename = "g"\n', "identity.keystone.usename"),
        ('[stores.file]\ndirectroy = "/srv"\n', "stores.file.directroy"),
        ('[stores]\ndefualt = "file"\n', "unknown setting stores.defualt"),
        ('[identity]\nmdoe = "keystone"\n', "unknown setting identity.mdoe"),
    ],
    ids=[
        "table-without-mode",
        "table-of-another-mode",
        "typo-in-chosen-mode",
        "typo-in-store",
        "typo-in-stores",
        "typo-in-identity",
    ],
)  # fmt: skip
def test_settings_slips_stop_start_up(tmp_path: Path, toml: str, named: str) -> None:
    config = tmp_path / "glimpse.toml"
    config.write_text(toml)
    done = run_glimpse(
        "--config",
        str(config),
        "serve",
        "--port",
        str(free_port()),
        env={"GLIMPSE_DATA_DIR": str(tmp_path / "data")},
    )
    assert done.returncode == 2, done.stderr
    assert named in done.stderr
