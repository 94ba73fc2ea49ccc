"""Authorization matrix at the HTTP boundary: caller x image visibility x operation.

Every cell asserts the exact status a client sees (for the listing: whether the image
appears in the caller's default list), as Glance 33 answers with its secure-RBAC
defaults behind keystonemiddleware. The expectations are derived from Glance 33's code:

- check strings: ``glance/policies/base.py`` and ``glance/policies/image.py``;
- the policy target and the Forbidden -> NotFound rule: ``glance/api/v2/policy.py``
  (``ImageAPIPolicy._enforce``, ``MemberAPIPolicy._enforce``) and
  ``glance/api/policy.py`` (``ImageTarget``: ``project_id`` is the image owner,
  ``member_id`` is ``image.member``);
- ``image.member`` is the caller's project for a ``shared`` image the caller does not
  own, else None (``glance/db/__init__.py:ImageRepo._format_image_from_db``);
- what the database lets a caller see at all, before any policy:
  ``glance/db/utils.py:is_image_visible`` called from
  ``glance/db/sqlalchemy/api.py:_image_get`` (owner, public, community, or a member of
  a ``shared`` image whatever its membership status; an admin sees everything);
- the default list: ``glance/db/sqlalchemy/api.py:_select_images_query`` and
  ``_image_get_all``, then ``get_image`` per image (``glance/api/v2/images.py:index``);
- members: ``glance/api/v2/image_members.py`` (``_check_visibility_and_ownership``
  runs before any member policy; ``_lookup_member`` before ``modify_member``).

Setup of a cell: the admin creates a ``shared`` image owned by OWNER, adds the projects
PENDING, ACCEPTED and REJECTED as members, ACCEPTED and REJECTED answer, then the admin
switches the visibility to the cell's target. Members of a non-shared image must then
grant nothing, since Glance only consults members for ``shared`` images.

Every cell (416 of them, with the post-conditions in ``run_cell``) was also run against
Glance 33.0.0 itself: the reference server of shared/anchors/glance started with
``GLANCE_AUTH_MODE=trusted``, which believes the same identity headers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from glimpse.testing import ServerProcess
from helpers import start_server

PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
DATA = b"glimpse authorization matrix\n"

# Keystone-style project ids, fresh per run so a shared registry cannot collide.
PROJECTS = {
    name: uuid.uuid4().hex
    for name in ("admin", "owner", "pending", "accepted", "rejected", "unrelated")
}


@dataclass(frozen=True)
class Caller:
    """Who sends a request: the identity keystonemiddleware would have confirmed."""

    project: str | None
    roles: tuple[str, ...] = ()

    def headers(self) -> dict[str, str]:
        if self.project is None:
            return {}
        return {
            "X-Identity-Status": "Confirmed",
            "X-User-Id": f"user-{self.project[:8]}-{'-'.join(self.roles)}",
            "X-Project-Id": self.project,
            "X-Roles": ",".join(self.roles),
        }


MEMBER_ROLES = ("member", "reader")
CALLERS = {
    # The admin role in a project that neither owns the image nor is a member of it.
    "admin": Caller(PROJECTS["admin"], ("admin", "member", "reader")),
    "owner_reader": Caller(PROJECTS["owner"], ("reader",)),
    "owner_member": Caller(PROJECTS["owner"], MEMBER_ROLES),
    "pending": Caller(PROJECTS["pending"], MEMBER_ROLES),
    "accepted": Caller(PROJECTS["accepted"], MEMBER_ROLES),
    "rejected": Caller(PROJECTS["rejected"], MEMBER_ROLES),
    "unrelated": Caller(PROJECTS["unrelated"], MEMBER_ROLES),
    "anonymous": Caller(None),
}
ADMIN = CALLERS["admin"]
VISIBILITIES = ("private", "shared", "community", "public")

# Operation -> its column heading in the table below.
COLUMNS = {
    "show": "show",  # GET /v2/images/{id}
    "list": "list",  # does the image appear in GET /v2/images (default filters)?
    "download": "down",  # GET .../file of an active image
    "update": "upd",  # PATCH replace /name
    "delete": "del",  # DELETE /v2/images/{id}
    "upload": "upl",  # PUT .../file to a queued image
    "deactivate": "deac",  # POST .../actions/deactivate on an active image
    "list_members": "mls",  # GET .../members
    "add_member": "addm",  # POST .../members with a fresh project id
    "member_status": "mine",  # PUT .../members/{caller's own project} {"status": "accepted"}
    "other_member_status": "oth",  # PUT .../members/{ACCEPTED} {"status": "accepted"}
    "publicize": "pub",  # PATCH replace /visibility with public
    "communitize": "comm",  # PATCH replace /visibility with community
}

# Rows are (caller, visibility); "yes"/"no" in the list column mean 200 and whether the
# image is in the caller's default list. Comment lines name the Glance code behind
# the cells that are not plain "admin or project member of the owner" results.
_TABLE = """
caller       visibility show list down upd  del  upl  deac mls  addm mine oth  pub  comm

# context_is_admin (role:admin) passes every policy and is_image_visible. Still:
# mls/addm/mine/oth 403 off shared: image_members.py:_check_visibility_and_ownership
#   ("Only shared images have members") runs before any member policy.
# list community "no": _image_get_all keeps other projects' community images out of
#   every default list, admins' included (only ?visibility=community shows them).
# shared mine 404: _lookup_member finds no member named after the admin's project
#   before modify_member is checked (Glimpse may check policy first; then 403).
# shared oth 200: modify_member = ADMIN_OR_SHARED_MEMBER starts with context_is_admin.
admin        private    200  yes  200  200  204  204  204  403  403  403  403  200  200
admin        shared     200  yes  200  200  204  204  204  200  200  404  200  200  200
admin        community  200  no   200  200  204  204  204  403  403  403  403  200  200
admin        public     200  yes  200  200  204  204  204  403  403  403  403  200  200

# role:reader only. get_image passes (owner), so every other denial stays 403
# (ImageAPIPolicy._enforce turns Forbidden into 404 only when get_image fails):
# download_image, modify_image, delete_image, upload_image, deactivate, add_member and
# communitize_image all need role:member; publicize_image is admin only.
# shared mine 404: no member named after the owner's project (_lookup_member; the
#   same ordering caveat as for the admin).
# shared mls 200: get_members = ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER (owner).
# shared oth 403: modify_member's project_id:%(member_id)s compares with
#   image.member, which is None for the owner (ImageRepo._format_image_from_db).
owner_reader private    200  yes  403  403  403  403  403  403  403  403  403  403  403
owner_reader shared     200  yes  403  403  403  403  403  200  403  404  403  403  403
owner_reader community  200  yes  403  403  403  403  403  403  403  403  403  403  403
owner_reader public     200  yes  403  403  403  403  403  403  403  403  403  403  403

# Project member of the owner: ADMIN_OR_PROJECT_MEMBER passes. publicize_image is
# admin only (403, even on an image that is public already: the policy is checked for
# the requested value, images.py:_do_replace -> update_property); communitize_image is
# ADMIN_OR_PROJECT_MEMBER (200). Own community images are in the default list.
# shared mine 404 / oth 403: as for owner_reader. The owner cannot set a member's
#   status.
owner_member private    200  yes  200  200  204  204  204  403  403  403  403  403  200
owner_member shared     200  yes  200  200  204  204  204  200  200  404  403  403  200
owner_member community  200  yes  200  200  204  204  204  403  403  403  403  403  200
owner_member public     200  yes  200  200  204  204  204  403  403  403  403  403  200

# Members see a shared image whatever their status (is_image_visible passes no status)
# and may download it (download_image accepts role:member on a shared image), but the
# default list shows it only with status accepted (_select_images_query,
# member_status='accepted'). Writes are 403: the image is visible.
# private: is_image_visible consults members only for shared images -> 404 everywhere.
# community: visible to all but listed only for its owner (_image_get_all).
# shared mine 200: get_member and modify_member match project_id:%(member_id)s.
# shared mls 200: get_members matches project_id:%(member_id)s; the list holds only
#   the caller's own membership (asserted in run_cell).
# shared oth 404: image_member_find hides other projects' memberships from a
#   non-admin who does not own the image (_image_member_find), so _lookup_member fails.
#   Glance's modify_member target is the image (member_id = the caller), not the path's
#   member; a Glimpse that checks the path's member first would answer 403 instead.
pending      private    404  no   404  404  404  404  404  404  404  404  404  404  404
pending      shared     200  no   200  403  403  403  403  200  403  200  404  403  403
pending      community  200  no   200  403  403  403  403  403  403  403  403  403  403
pending      public     200  yes  200  403  403  403  403  403  403  403  403  403  403

# shared oth 200: for ACCEPTED the "other" member is itself.
accepted     private    404  no   404  404  404  404  404  404  404  404  404  404  404
accepted     shared     200  yes  200  403  403  403  403  200  403  200  200  403  403
accepted     community  200  no   200  403  403  403  403  403  403  403  403  403  403
accepted     public     200  yes  200  403  403  403  403  403  403  403  403  403  403

rejected     private    404  no   404  404  404  404  404  404  404  404  404  404  404
rejected     shared     200  no   200  403  403  403  403  200  403  200  404  403  403
rejected     community  200  no   200  403  403  403  403  403  403  403  403  403  403
rejected     public     200  yes  200  403  403  403  403  403  403  403  403  403  403

# get_image's check string lets any reader see a shared image ("'shared':%(visibility)s")
# but is_image_visible in the database layer does not: 404 (ImageRepo.get turns the
# DB's Forbidden into ImageNotFound). Community and public images are visible: 403.
unrelated    private    404  no   404  404  404  404  404  404  404  404  404  404  404
unrelated    shared     404  no   404  404  404  404  404  404  404  404  404  404  404
unrelated    community  200  no   200  403  403  403  403  403  403  403  403  403  403
unrelated    public     200  yes  200  403  403  403  403  403  403  403  403  403  403

# No X-Identity-Status: Confirmed: ContextMiddleware.process_request answers 401
# (allow_anonymous_access is off by default) before any routing or lookup.
anonymous    private    401  401  401  401  401  401  401  401  401  401  401  401  401
anonymous    shared     401  401  401  401  401  401  401  401  401  401  401  401  401
anonymous    community  401  401  401  401  401  401  401  401  401  401  401  401  401
anonymous    public     401  401  401  401  401  401  401  401  401  401  401  401  401
"""

Expectation = int | bool


def _parse(table: str) -> dict[tuple[str, str], dict[str, Expectation]]:
    rows = [
        line.split()
        for line in table.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    header, *body = rows
    if header != ["caller", "visibility", *COLUMNS.values()]:
        raise ValueError(f"table header {header} does not match COLUMNS")
    expected: dict[tuple[str, str], dict[str, Expectation]] = {}
    for caller, visibility, *cells in body:
        if caller not in CALLERS or visibility not in VISIBILITIES or len(cells) != len(COLUMNS):
            raise ValueError(f"bad table row: {caller} {visibility} {cells}")
        if (caller, visibility) in expected:
            raise ValueError(f"duplicate table row: {caller} {visibility}")
        expected[caller, visibility] = {
            op: cell == "yes" if cell in ("yes", "no") else int(cell)
            for op, cell in zip(COLUMNS, cells, strict=True)
        }
    missing = {(c, v) for c in CALLERS for v in VISIBILITIES} - expected.keys()
    if missing:
        raise ValueError(f"table rows missing: {sorted(missing)}")
    return expected


EXPECTED = _parse(_TABLE)

# The Glance rule behind each column, repeated in failure messages.
RULES = {
    "show": "_image_get/is_image_visible, then get_image; a denial is always 404",
    "list": "_select_images_query + community filter (_image_get_all), then get_image",
    "download": "download_image = admin or role:member and (owner|member|community|"
    "public|shared); 403 when get_image passes, else 404",
    "update": "modify_image = admin or project member of the owner; 403/404 by get_image",
    "delete": "delete_image = admin or project member of the owner; 403/404 by get_image",
    "upload": "upload_image = admin or project member of the owner; 403/404 by get_image",
    "deactivate": "deactivate = admin or project member of the owner; 403/404 by get_image",
    "add_member": "visible (404) -> shared only (403) -> add_member = admin or project "
    "member of the owner",
    "member_status": "visible (404) -> shared only (403) -> get_member + member lookup "
    "(404) -> modify_member = admin or role:member and project_id:%(member_id)s",
    "other_member_status": "as member_status, on ACCEPTED's membership",
    "list_members": "visible (404) -> shared only (403) -> get_members = admin or "
    "role:reader and (owner or project_id:%(member_id)s)",
    "publicize": "publicize_image = admin, checked before modify_image",
    "communitize": "communitize_image = admin or project member of the owner",
}


@dataclass(frozen=True)
class Image:
    id: str
    name: str
    visibility: str


@dataclass(frozen=True)
class Cell:
    """One request to make: who, on which image, and the values it names."""

    caller: Caller
    image: Image
    member: str  # the project a member operation names in its path or body
    new_name: str


def _json(api: httpx.Client, method: str, path: str, body: Any) -> Any:
    """An admin request of the setup, which must succeed."""
    response = api.request(method, path, json=body, headers=ADMIN.headers())
    assert response.status_code in (200, 201, 204), f"setup {method} {path}: {response.text}"
    return response.json() if response.content else None


def _build(api: httpx.Client, visibility: str, *, active: bool) -> Image:
    """A shared image owned by OWNER with three members, then switched to ``visibility``."""
    name = f"matrix-{uuid.uuid4().hex}"
    created = _json(
        api,
        "POST",
        "/v2/images",
        {
            "name": name,
            "owner": PROJECTS["owner"],
            "visibility": "shared",
            "disk_format": "raw",
            "container_format": "bare",
        },
    )
    image_id = created["id"]
    assert created["owner"] == PROJECTS["owner"]
    if active:
        response = api.put(
            f"/v2/images/{image_id}/file",
            content=DATA,
            headers={**ADMIN.headers(), "Content-Type": "application/octet-stream"},
        )
        assert response.status_code == 204, f"setup upload: {response.text}"
    for member in ("pending", "accepted", "rejected"):
        _json(api, "POST", f"/v2/images/{image_id}/members", {"member": PROJECTS[member]})
    for member, status in (("accepted", "accepted"), ("rejected", "rejected")):
        response = api.put(
            f"/v2/images/{image_id}/members/{PROJECTS[member]}",
            json={"status": status},
            headers=CALLERS[member].headers(),
        )
        assert response.status_code == 200, f"setup: {member} answers: {response.text}"
    if visibility != "shared":
        response = _patch(api, ADMIN, image_id, "visibility", visibility)
        assert response.status_code == 200, f"setup: visibility {visibility}: {response.text}"
    return Image(image_id, name, visibility)


def _patch(
    api: httpx.Client, caller: Caller, image_id: str, key: str, value: str
) -> httpx.Response:
    return api.patch(
        f"/v2/images/{image_id}",
        content=json.dumps([{"op": "replace", "path": f"/{key}", "value": value}]),
        headers={**caller.headers(), "Content-Type": PATCH_TYPE},
    )


def _admin_view(api: httpx.Client, path: str, key: str | None) -> object:
    """What the admin sees at ``path``: the status code, and ``key`` of the body on 200."""
    response = api.get(path, headers=ADMIN.headers())
    if response.status_code != 200 or key is None:
        return response.status_code
    return response.status_code, response.json()[key]


@dataclass(frozen=True)
class Operation:
    """How to run one column, on which kind of image, and how to see that it took effect.

    ``target`` is "fixture" (one active image per visibility, built once and left as
    built by these operations), "queued" or "active" (a fresh image per cell).
    ``observe`` returns the admin's view of what the operation changes; it must stay the
    same when the operation is refused, and equal ``applied(cell)`` when it succeeds.
    """

    target: str
    send: Callable[[httpx.Client, Cell], httpx.Response]
    observe: Callable[[httpx.Client, Cell], object] | None = None
    applied: Callable[[Cell], object] | None = None


def _image_path(cell: Cell, suffix: str = "") -> str:
    return f"/v2/images/{cell.image.id}{suffix}"


def _member_path(cell: Cell) -> str:
    return _image_path(cell, f"/members/{cell.member}")


OPERATIONS: dict[str, Operation] = {
    "show": Operation(
        "fixture", lambda api, c: api.get(_image_path(c), headers=c.caller.headers())
    ),
    "list": Operation(
        "fixture",
        lambda api, c: api.get(
            "/v2/images", params={"name": c.image.name, "limit": 1000}, headers=c.caller.headers()
        ),
    ),
    "download": Operation(
        "fixture", lambda api, c: api.get(_image_path(c, "/file"), headers=c.caller.headers())
    ),
    "update": Operation(
        "queued",
        lambda api, c: _patch(api, c.caller, c.image.id, "name", c.new_name),
        lambda api, c: _admin_view(api, _image_path(c), "name"),
        lambda c: (200, c.new_name),
    ),
    "delete": Operation(
        "queued",
        lambda api, c: api.delete(_image_path(c), headers=c.caller.headers()),
        lambda api, c: _admin_view(api, _image_path(c), None),
        lambda c: 404,
    ),
    "upload": Operation(
        "queued",
        lambda api, c: api.put(
            _image_path(c, "/file"),
            content=DATA,
            headers={**c.caller.headers(), "Content-Type": "application/octet-stream"},
        ),
        lambda api, c: _admin_view(api, _image_path(c), "status"),
        lambda c: (200, "active"),
    ),
    "deactivate": Operation(
        "active",
        lambda api, c: api.post(_image_path(c, "/actions/deactivate"), headers=c.caller.headers()),
        lambda api, c: _admin_view(api, _image_path(c), "status"),
        lambda c: (200, "deactivated"),
    ),
    "list_members": Operation(
        "fixture", lambda api, c: api.get(_image_path(c, "/members"), headers=c.caller.headers())
    ),
    "add_member": Operation(
        "fixture",
        lambda api, c: api.post(
            _image_path(c, "/members"), json={"member": c.member}, headers=c.caller.headers()
        ),
        lambda api, c: _admin_view(api, _member_path(c), "status"),
        lambda c: (200, "pending"),
    ),
    "member_status": Operation(
        "queued",
        lambda api, c: api.put(
            _member_path(c), json={"status": "accepted"}, headers=c.caller.headers()
        ),
        lambda api, c: _admin_view(api, _member_path(c), "status"),
        lambda c: (200, "accepted"),
    ),
    # Sets ACCEPTED's status to what it already is, so the fixture image stays as built.
    "other_member_status": Operation(
        "fixture",
        lambda api, c: api.put(
            _image_path(c, f"/members/{PROJECTS['accepted']}"),
            json={"status": "accepted"},
            headers=c.caller.headers(),
        ),
    ),
    "publicize": Operation(
        "queued",
        lambda api, c: _patch(api, c.caller, c.image.id, "visibility", "public"),
        lambda api, c: _admin_view(api, _image_path(c), "visibility"),
        lambda c: (200, "public"),
    ),
    "communitize": Operation(
        "queued",
        lambda api, c: _patch(api, c.caller, c.image.id, "visibility", "community"),
        lambda api, c: _admin_view(api, _image_path(c), "visibility"),
        lambda c: (200, "community"),
    ),
}
if OPERATIONS.keys() != COLUMNS.keys():
    raise ValueError("OPERATIONS and COLUMNS name different operations")


def run_cell(
    api: httpx.Client, images: dict[str, Image], caller_name: str, visibility: str, op: str
) -> None:
    """Run one cell of the matrix against the server behind ``api`` and check it."""
    operation = OPERATIONS[op]
    caller = CALLERS[caller_name]
    if operation.target == "fixture":
        image = images[visibility]
    else:
        image = _build(api, visibility, active=operation.target == "active")
    member = caller.project or uuid.uuid4().hex
    if op == "add_member":
        member = uuid.uuid4().hex
    cell = Cell(caller, image, member, f"renamed-{uuid.uuid4().hex}")
    before = operation.observe(api, cell) if operation.observe else None

    response = operation.send(api, cell)

    expected = EXPECTED[caller_name, visibility][op]
    where = f"{caller_name} {op} on a {visibility} image ({RULES[op]})"
    if isinstance(expected, bool):
        assert response.status_code == 200, f"{where}: {response.status_code} {response.text}"
        listed = [i["id"] for i in response.json()["images"]]
        assert (image.id in listed) is expected, f"{where}: listed={image.id in listed}"
        return
    assert response.status_code == expected, f"{where}: {response.status_code} {response.text}"
    if op == "download" and expected == 200:
        assert response.content == DATA
    if op == "list_members" and expected == 200:
        # The owner and an admin see every member; a member sees only itself
        # (glance/db/sqlalchemy/api.py:_image_member_find).
        listed = {m["member_id"] for m in response.json()["members"]}
        if caller_name in ("admin", "owner_reader", "owner_member"):
            assert {PROJECTS[p] for p in ("pending", "accepted", "rejected")} <= listed, where
        else:
            assert listed == {caller.project}, f"{where}: {listed}"
    if operation.observe and operation.applied:
        after = operation.observe(api, cell)
        if expected in (200, 204):
            assert after == operation.applied(cell), f"{where}: not applied: {after}"
        else:
            assert after == before, f"{where}: refused but changed: {before} -> {after}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def tenant_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server that believes keystonemiddleware's identity headers, per registry."""
    url = ""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_database")
    srv = start_server(
        tmp_path_factory, url, {"GLIMPSE_IDENTITY__MODE": "trusted-headers"}, name="glimpse-auth"
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def tenant_api(tenant_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tenant_server.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def images(tenant_api: httpx.Client) -> dict[str, Image]:
    """One active image per visibility for the operations that leave it as it was."""
    return {v: _build(tenant_api, v, active=True) for v in VISIBILITIES}


@pytest.mark.parametrize(
    ("caller", "visibility", "op"),
    [
        pytest.param(caller, visibility, op, id=f"{caller}-{visibility}-{op}")
        for (caller, visibility), row in EXPECTED.items()
        for op in row
    ],
)
def test_matrix(
    tenant_api: httpx.Client, images: dict[str, Image], caller: str, visibility: str, op: str
) -> None:
    run_cell(tenant_api, images, caller, visibility, op)


def test_version_documents_need_no_credentials(tenant_api: httpx.Client) -> None:
    assert tenant_api.get("/").status_code == 300
    assert tenant_api.get("/versions").status_code == 200


def test_identity_not_confirmed_is_401(tenant_api: httpx.Client, images: dict[str, Image]) -> None:
    # ContextMiddleware believes the headers only with X-Identity-Status: Confirmed,
    # compared exactly (case-sensitive); keystonemiddleware sends "Invalid" for a bad
    # token with delay_auth_decision.
    for status in ("Invalid", "confirmed", ""):
        headers = {**CALLERS["owner_member"].headers(), "X-Identity-Status": status}
        for path in ("/v2/images", f"/v2/images/{images['public'].id}"):
            assert tenant_api.get(path, headers=headers).status_code == 401, (status, path)
