"""Who may do what with metadefs, as Glance 33 answers with its secure-RBAC defaults.

From ``glance/policies/metadef.py`` and ``base.py``: every read rule is ``role:admin
or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))`` with
the namespace's owner as ``project_id``; every write rule is ``role:admin``. From
``glance/db/sqlalchemy/metadef_api/namespace.py``: a caller sees the public
namespaces and its project's, an admin all of them. From ``glance/api/v2/policy.py``
(``MetadefAPIPolicy._enforce``): a refused rule on a namespace the caller cannot
see is 404, on one it can see 403. A caller scoped to no project passes no rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from metadef_support import NAMESPACES, Callers, unique

from glimpse.testing import ServerProcess
from helpers import start_policy_server

#: (operation, method, path under the namespace, body, status on success)
READS = [
    ("show", "GET", "", None, 200),
    ("objects", "GET", "/objects", None, 200),
    ("object", "GET", "/objects/Thing", None, 200),
    ("properties", "GET", "/properties", None, 200),
    ("property", "GET", "/properties/size", None, 200),
    ("tags", "GET", "/tags", None, 200),
    ("tag", "GET", "/tags/kept", None, 200),
    ("associations", "GET", "/resource_types", None, 200),
]
WRITES = [
    ("replace", "PUT", "", "namespace", 200),
    ("add object", "POST", "/objects", {"name": "New"}, 201),
    ("replace object", "PUT", "/objects/Thing", {"name": "Thing"}, 200),
    ("delete object", "DELETE", "/objects/Thing", None, 204),
    ("delete objects", "DELETE", "/objects", None, 204),
    ("add property", "POST", "/properties", {"name": "n", "title": "N", "type": "string"}, 201),
    (
        "replace property",
        "PUT",
        "/properties/size",
        {"name": "size", "title": "S", "type": "integer"},
        200,
    ),
    ("delete property", "DELETE", "/properties/size", None, 204),
    ("delete properties", "DELETE", "/properties", None, 204),
    ("add tag", "POST", "/tags/new", None, 201),
    ("add tags", "POST", "/tags", {"tags": [{"name": "x"}]}, 201),
    ("rename tag", "PUT", "/tags/kept", {"name": "renamed"}, 200),
    ("delete tag", "DELETE", "/tags/kept", None, 204),
    ("delete tags", "DELETE", "/tags", None, 204),
    ("associate", "POST", "/resource_types", {"name": "OS::Nova::Server"}, 201),
    ("dissociate", "DELETE", "/resource_types/OS::Glance::Image", None, 204),
    ("delete", "DELETE", "", None, 204),
]
CALLERS = ["admin", "reader", "member", "other_reader", "unscoped", "anonymous"]


def _expected(caller: str, visibility: str, success: int, write: bool) -> int:
    if caller == "anonymous":
        return 401
    sees = caller == "admin" or (
        caller != "unscoped" and (visibility == "public" or caller in ("reader", "member"))
    )
    if not sees:
        return 404
    if write and caller != "admin":
        return 403
    return success


def _namespace(callers: Callers, visibility: str) -> str:
    """A namespace of this test's project (private), or of another (public), with content."""
    owner = callers.project if visibility == "private" else callers.other
    return callers.namespace(
        owner=owner if visibility == "private" else unique("p"),
        visibility=visibility,
        properties={"size": {"title": "Size", "type": "integer"}},
        objects=[{"name": "Thing"}],
        tags=[{"name": "kept"}],
        resource_type_associations=[{"name": "OS::Glance::Image", "prefix": "p_"}],
    )["namespace"]


def _call(client: httpx.Client, method: str, url: str, body: Any, name: str) -> httpx.Response:
    if body == "namespace":
        body = {"namespace": name, "visibility": "private"}
    return (
        client.request(method, url, json=body) if body is not None else client.request(method, url)
    )


@pytest.mark.parametrize("visibility", ["private", "public"])
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("op", "method", "path", "body", "success"), READS + WRITES)
def test_namespace_operations(
    callers: Callers,
    caller: str,
    visibility: str,
    op: str,
    method: str,
    path: str,
    body: Any,
    success: int,
) -> None:
    name = _namespace(callers, visibility)
    client: httpx.Client = getattr(callers, caller)
    response = _call(client, method, f"{NAMESPACES}/{name}{path}", body, name)
    write = (op, method, path, body, success) in WRITES
    expected = _expected(caller, visibility, success, write)
    assert response.status_code == expected, (op, caller, visibility, response.text)
    if expected >= 400:
        assert response.json()["error"]["code"] == expected
        # Nothing changed: the namespace still holds what it held.
        shown = callers.admin.get(f"{NAMESPACES}/{name}").json()
        assert [t["name"] for t in shown["tags"]] == ["kept"]
        assert [o["name"] for o in shown["objects"]] == ["Thing"]


@pytest.mark.parametrize("caller", CALLERS)
def test_listing_shows_public_and_own_namespaces(callers: Callers, caller: str) -> None:
    private = _namespace(callers, "private")
    public = _namespace(callers, "public")
    foreign = callers.namespace(owner=unique("p"))["namespace"]
    client: httpx.Client = getattr(callers, caller)
    response = client.get(NAMESPACES, params={"limit": 1000})
    if caller in ("anonymous", "unscoped"):
        assert response.status_code == (401 if caller == "anonymous" else 403)
        return
    assert response.status_code == 200
    names = {ns["namespace"] for ns in response.json()["namespaces"]}
    assert public in names
    assert (private in names) == (caller in ("admin", "reader", "member"))
    assert (foreign in names) == (caller == "admin")


@pytest.mark.parametrize("caller", CALLERS)
def test_creating_namespaces_and_listing_resource_types(callers: Callers, caller: str) -> None:
    client: httpx.Client = getattr(callers, caller)
    created = client.post(NAMESPACES, json={"namespace": unique()})
    types = client.get("/v2/metadefs/resource_types")
    if caller == "anonymous":
        assert (created.status_code, types.status_code) == (401, 401)
    elif caller == "admin":
        assert (created.status_code, types.status_code) == (201, 200)
        assert created.json()["owner"]  # the admin's own project
    elif caller == "unscoped":
        assert (created.status_code, types.status_code) == (403, 403)
    else:
        assert (created.status_code, types.status_code) == (403, 200)


@pytest.fixture(scope="module")
def policy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """An operator's policy file in Glance's rule names: members write metadefs, and only
    admins read namespaces one by one."""
    policy = '"metadef_admin": "role:admin or role:member"\n"get_metadef_namespace": "role:admin"\n'
    server = start_policy_server(tmp_path_factory, "md-policy", policy, "")
    yield server
    server.stop()


def test_an_operators_policy_file_applies(policy_server: ServerProcess) -> None:
    with Callers(policy_server.url) as callers:
        name = unique()
        created = callers.member.post(NAMESPACES, json={"namespace": name, "visibility": "public"})
        assert created.status_code == 201, created.text
        assert created.json()["owner"] == callers.project
        assert callers.member.post(f"{NAMESPACES}/{name}/tags/t").status_code == 404
        assert callers.admin.post(f"{NAMESPACES}/{name}/tags/t").status_code == 201
        assert callers.other_reader.get(f"{NAMESPACES}/{name}").status_code == 404
        listed = callers.other_reader.get(NAMESPACES, params={"limit": 1000})
        assert listed.status_code == 200
        assert name not in {ns["namespace"] for ns in listed.json()["namespaces"]}
        assert callers.reader.post(NAMESPACES, json={"namespace": unique()}).status_code == 403
