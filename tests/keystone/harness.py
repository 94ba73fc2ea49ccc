"""A real Keystone (OpenStack Identity v3) for the tests, on a loopback port.

Keystone is installed from PyPI once, into a virtualenv of its own, because its dependency tree
(oslo.*, Flask, its own SQLAlchemy and keystonemiddleware pins) must not mix with Glimpse's. The
virtualenv is cached between runs under `$XDG_CACHE_HOME/glimpse-tests/`.

The install also runs `keystone-manage db_sync`, `fernet_setup` and `credential_setup` once, into
a template. Each test session copies that SQLite database and those keys into a temporary
directory, runs `keystone-manage bootstrap` for its own port and admin password, and serves
Keystone with gunicorn. `Keystone` carries the URLs and credentials, and a small admin API:
projects, users, roles, the image service's catalog entry, and tokens.

    with run_keystone(tmp_path) as keystone:
        keystone.create_project("demo")
        keystone.create_user("alice", "secret", "demo", roles=["member"])
        token = keystone.token_for("alice", "secret", "demo")
"""

from __future__ import annotations

import contextlib
import dataclasses
import grp
import os
import pwd
import secrets
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from keystoneauth1 import session as ksa_session
from keystoneauth1.identity import v3

import peers
from peers import PeerUnavailable

KEYSTONE_VERSION = "30.0.0"
# gunicorn is pure Python, so installing it never compiles anything; pinned like Keystone so
# that a cached virtualenv is the same everywhere. Changing a pin rebuilds the cache.
GUNICORN_VERSION = "27.0.1"
REQUIREMENTS = (f"keystone=={KEYSTONE_VERSION}", f"gunicorn=={GUNICORN_VERSION}")
# Keystone's own WSGI module (what its uwsgi sample serves); it reads its configuration files
# from OS_KEYSTONE_CONFIG_FILES.
WSGI_APP = "keystone.wsgi.api:application"

REGION = "RegionOne"
DOMAIN = "default"
ADMIN_USER = "admin"
ADMIN_PROJECT = "admin"
SERVICE_PROJECT = "service"
SERVICE_ROLE = "service"
SERVICE_USER = "glimpse"
IMAGE_SERVICE_NAME = "glimpse"
INTERFACES = ("public", "internal", "admin")
# Implications the default policies rely on. Keystone 30's bootstrap makes them, with `manager`
# in between (admin -> manager -> member -> reader, and admin -> member directly).
IMPLIED_ROLES = (("admin", "member"), ("member", "reader"))

_TEMPLATE = "template"
# Run through `python -c` instead of the console script: the virtualenv is built under a
# temporary name and renamed, which leaves stale interpreter paths in the scripts' shebangs.
_MANAGE = "import sys; from keystone.cmd.manage import main; sys.exit(main())"


#: Installing or starting Keystone failed; the message ends with its log.
KeystoneUnavailable = PeerUnavailable


@dataclass(frozen=True)
class Account:
    """A user in the Default domain, with its password and the project its tokens are for."""

    user_id: str
    name: str
    password: str
    project_id: str
    project: str


@dataclass(frozen=True)
class Keystone:
    """A running Keystone: where it is, who administers it, and an admin API for tests.

    Names are in the Default domain. Admin calls go through `admin_session`, a keystoneauth1
    session scoped to the bootstrap admin's project; errors are keystoneauth1's HTTP exceptions
    (`keystoneauth1.exceptions.Forbidden`, `NotFound`, ...).
    """

    url: str
    auth_url: str
    region: str
    admin: Account
    service: Account
    log_path: Path
    admin_session: ksa_session.Session = field(repr=False, compare=False)

    def create_project(self, name: str | None = None) -> str:
        """Create a project (a random name by default) and return its id."""
        body = {"project": {"name": name or f"project-{secrets.token_hex(4)}", "domain_id": DOMAIN}}
        created: str = self._post("/projects", body)["project"]["id"]
        return created

    def create_user(
        self, name: str, password: str, project: str, roles: Sequence[str] = ("member",)
    ) -> Account:
        """Create a user whose default project is `project` (a name) and give it `roles` there.

        Raises:
            LookupError: the project or a role does not exist.
        """
        project_id = self._find("projects", project)
        body = {
            "user": {
                "name": name,
                "password": password,
                "domain_id": DOMAIN,
                "default_project_id": project_id,
            }
        }
        user_id: str = self._post("/users", body)["user"]["id"]
        for role in roles:
            self._put(f"/projects/{project_id}/users/{user_id}/roles/{self._find('roles', role)}")
        return Account(user_id, name, password, project_id, project)

    def ensure_role(self, name: str) -> str:
        """Return the id of the global role `name`, creating the role if it does not exist."""
        with contextlib.suppress(LookupError):
            return self._find("roles", name)
        created: str = self._post("/roles", {"role": {"name": name}})["role"]["id"]
        return created

    def assign_role(self, user: str, project: str, role: str) -> None:
        """Give `user` the role `role` on `project` (all names)."""
        project_id, user_id = self._find("projects", project), self._find("users", user)
        self._put(f"/projects/{project_id}/users/{user_id}/roles/{self._find('roles', role)}")

    def assign_system_role(self, user: str, role: str) -> None:
        """Give `user` the role `role` on the whole system, so it can get system-scoped tokens."""
        user_id, role_id = self._find("users", user), self._find("roles", role)
        self._put(f"/system/users/{user_id}/roles/{role_id}")

    def assign_domain_role(self, user: str, role: str) -> None:
        """Give `user` the role `role` on the Default domain, so it can get domain-scoped tokens."""
        user_id, role_id = self._find("users", user), self._find("roles", role)
        self._put(f"/domains/{DOMAIN}/users/{user_id}/roles/{role_id}")

    def domain_token(self, user: str, password: str) -> str:
        """Issue a token scoped to the Default domain: it names no project."""
        return self._issue(
            v3.Password(
                auth_url=self.auth_url,
                username=user,
                password=password,
                user_domain_id=DOMAIN,
                domain_id=DOMAIN,
            )
        )

    def register_image_service(self, url: str, name: str = IMAGE_SERVICE_NAME) -> str:
        """Put an `image` service with public, internal and admin endpoints at `url` in the catalog.

        Any `image` service already there is removed first, so the catalog names one image
        endpoint per interface. Returns the service id.
        """
        self.remove_image_service()
        service = self._post("/services", {"service": {"type": "image", "name": name}})
        service_id: str = service["service"]["id"]
        for interface in INTERFACES:
            endpoint = {
                "service_id": service_id,
                "interface": interface,
                "url": url,
                "region_id": self.region,
            }
            self._post("/endpoints", {"endpoint": endpoint})
        return service_id

    def remove_image_service(self) -> None:
        """Remove every `image` service from the catalog, with its endpoints."""
        # Keystone deletes a service's endpoints with it.
        for service in self._get("/services?type=image")["services"]:
            self.admin_session.delete(f"{self.auth_url}/services/{service['id']}")

    def token_for(self, user: str, password: str, project: str) -> str:
        """Issue a token for `user`, scoped to `project`, as a client would get it."""
        return self._issue(self.password_auth(user, password, project=project))

    def system_token(self, user: str, password: str) -> str:
        """Issue a system-scoped token; `user` needs a role from `assign_system_role` first."""
        return self._issue(self.password_auth(user, password, system=True))

    def password_auth(
        self, user: str, password: str, project: str | None = None, system: bool = False
    ) -> v3.Password:
        """A keystoneauth1 password plugin for `user`: scoped to `project`, the system, or not."""
        return v3.Password(
            auth_url=self.auth_url,
            username=user,
            password=password,
            user_domain_id=DOMAIN,
            project_name=project,
            project_domain_id=DOMAIN if project is not None else None,
            system_scope="all" if system and project is None else None,
        )

    @contextlib.contextmanager
    def session_as(self, account: Account) -> Iterator[ksa_session.Session]:
        """A keystoneauth1 session authenticated as `account` in its project, closed afterwards."""
        session = ksa_session.Session(
            auth=self.password_auth(account.name, account.password, project=account.project)
        )
        try:
            yield session
        finally:
            session.close()

    def validate(self, token: str) -> dict[str, Any]:
        """Validate `token` as Glimpse would, as the service user; return the `token` body."""
        with self.session_as(self.service) as session:
            response = session.get(
                f"{self.auth_url}/auth/tokens", headers={"X-Subject-Token": token}
            )
            body: dict[str, Any] = response.json()["token"]
            return body

    def implied_roles(self) -> set[tuple[str, str]]:
        """Every (prior, implied) pair of role names that Keystone knows."""
        found: set[tuple[str, str]] = set()
        for inference in self._get("/role_inferences")["role_inferences"]:
            prior = inference["prior_role"]["name"]
            found |= {(prior, implied["name"]) for implied in inference["implies"]}
        return found

    def _issue(self, auth: v3.Password) -> str:
        session = ksa_session.Session(auth=auth)
        try:
            token = session.get_token()
        finally:
            session.close()
        assert token is not None
        return token

    def _find(self, kind: str, name: str) -> str:
        """The id of the project, user or global role called `name`."""
        query = {"name": name} if kind == "roles" else {"name": name, "domain_id": DOMAIN}
        found = self._get(f"/{kind}?{urllib.parse.urlencode(query)}")[kind]
        if not found:
            raise LookupError(f"Keystone has no {kind[:-1]} named {name!r}")
        found_id: str = found[0]["id"]
        return found_id

    def _get(self, path: str) -> dict[str, Any]:
        body: dict[str, Any] = self.admin_session.get(f"{self.auth_url}{path}").json()
        return body

    def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self.admin_session.post(f"{self.auth_url}{path}", json=body).json()
        return answer

    def _put(self, path: str) -> None:
        self.admin_session.put(f"{self.auth_url}{path}")


def install(root: Path | None = None) -> Path:
    """Return a virtualenv holding Keystone and gunicorn, installing it on first use
    (see `peers.install`), with the database and keys template made once in it.

    Raises:
        KeystoneUnavailable: the install failed; the message ends with pip's output.
    """
    return peers.install(f"keystone-{KEYSTONE_VERSION}", REQUIREMENTS, root, _make_template)


@contextlib.contextmanager
def run_keystone(directory: Path, cache: Path | None = None) -> Iterator[Keystone]:
    """Install Keystone if needed, bootstrap a fresh one in `directory`, serve it, and stop it.

    It listens on a free port of 127.0.0.1 only. The server logs to `directory/keystone.log`,
    and `keystone-manage` to `directory/keystone-manage.log`.

    Raises:
        KeystoneUnavailable: installing, bootstrapping or starting failed.
    """
    venv = install(cache)
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "keystone.log"
    conf = _write_config(directory)
    shutil.copytree(venv / _TEMPLATE, directory, dirs_exist_ok=True, ignore=_only_state)
    admin_password = secrets.token_urlsafe(16)
    session: ksa_session.Session | None = None
    # The socket is bound here and handed to gunicorn, so no other process can take the port
    # between choosing it and serving on it.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        process = peers.serve(venv, WSGI_APP, conf.parent, listener, log, _environment(conf))
    try:
        # Loading Keystone's app needs no bootstrap, so the two run at the same time.
        _bootstrap(venv, conf, url, admin_password, directory / "keystone-manage.log")
        peers.wait_until_answers(process, f"{url}/v3", log, "Keystone")
        session = ksa_session.Session(
            auth=v3.Password(
                auth_url=f"{url}/v3",
                username=ADMIN_USER,
                password=admin_password,
                user_domain_id=DOMAIN,
                project_name=ADMIN_PROJECT,
                project_domain_id=DOMAIN,
            )
        )
        yield _provision(url, admin_password, log, session)
    finally:
        if session is not None:
            session.close()
        peers.stop(process)


def _provision(url: str, admin_password: str, log: Path, session: ksa_session.Session) -> Keystone:
    """Check the bootstrap's roles and create the `service` project, role and Glimpse's user."""
    user_id, project_id = session.get_user_id(), session.get_project_id()
    assert user_id is not None
    assert project_id is not None
    admin = Account(user_id, ADMIN_USER, admin_password, project_id, ADMIN_PROJECT)
    # The admin stands in for the service user until that user exists.
    keystone = Keystone(url, f"{url}/v3", REGION, admin, admin, log, session)
    # Keystone's bootstrap has created these implications since Rocky; a token for `member`
    # then also carries `reader`, which the default policies expect.
    known = keystone.implied_roles()
    for prior, implied in IMPLIED_ROLES:
        if (prior, implied) not in known:
            prior_id, implied_id = keystone._find("roles", prior), keystone._find("roles", implied)
            keystone._put(f"/roles/{prior_id}/implies/{implied_id}")
    # Keystone's policy for validating tokens admits `role:service`; Glimpse's user needs no more.
    keystone.ensure_role(SERVICE_ROLE)
    keystone.create_project(SERVICE_PROJECT)
    service = keystone.create_user(
        SERVICE_USER, secrets.token_urlsafe(16), SERVICE_PROJECT, roles=[SERVICE_ROLE]
    )
    return dataclasses.replace(keystone, service=service)


def _write_config(directory: Path) -> Path:
    conf = directory / "keystone.conf"
    conf.write_text(
        f"""\
[DEFAULT]
use_stderr = true

[database]
connection = sqlite:///{directory / "keystone.db"}

[token]
provider = fernet

[fernet_tokens]
key_repository = {directory / "fernet-keys"}

[fernet_receipts]
key_repository = {directory / "fernet-keys"}

[credential]
key_repository = {directory / "credential-keys"}

[identity]
# bcrypt's cheapest cost: every token request checks a password, and these are test passwords.
password_hash_rounds = 4

[cache]
# Keystone's own tests cache in memory too: it makes each request several times faster. It is
# per process, so it stays coherent only while gunicorn runs a single worker.
enabled = true
backend = oslo_cache.dict
"""
    )
    return conf


def _make_template(venv: Path, out: IO[bytes], log: Path) -> None:
    """Create Keystone's schema and keys once, in `venv/template`, for sessions to copy.

    These do not depend on the session, and each `keystone-manage` run costs about two seconds
    of imports, so doing them per session would triple its start-up time.
    """
    template = venv / _TEMPLATE
    template.mkdir()
    conf = _write_config(template)
    manage = [str(venv / "bin" / "python"), "-c", _MANAGE, "--config-file", str(conf)]
    owner = [
        "--keystone-user",
        pwd.getpwuid(os.getuid()).pw_name,
        "--keystone-group",
        grp.getgrgid(os.getgid()).gr_name,
    ]
    environ = _environment(conf)
    for command in (["db_sync"], ["fernet_setup", *owner], ["credential_setup", *owner]):
        peers.run_logged([*manage, *command], out, log, environ)


def _only_state(directory: str, names: list[str]) -> set[str]:
    """Copy the template's database and keys, not its keystone.conf, which names its paths."""
    return {"keystone.conf"} & set(names)


def _bootstrap(venv: Path, conf: Path, url: str, admin_password: str, log: Path) -> None:
    """Create the admin, its project and roles, and the identity service's endpoints at `url`."""
    manage = [str(venv / "bin" / "python"), "-c", _MANAGE, "--config-file", str(conf)]
    bootstrap = [
        "bootstrap",
        "--bootstrap-username", ADMIN_USER,
        "--bootstrap-project-name", ADMIN_PROJECT,
        "--bootstrap-role-name", "admin",
        "--bootstrap-service-name", "keystone",
        "--bootstrap-region-id", REGION,
        "--bootstrap-admin-url", url,
        "--bootstrap-internal-url", url,
        "--bootstrap-public-url", url,
    ]  # fmt: skip
    # From the environment rather than the command line, which every local user can read.
    environ = {**_environment(conf), "OS_BOOTSTRAP_PASSWORD": admin_password}
    with log.open("ab") as out:
        peers.run_logged([*manage, *bootstrap], out, log, environ)


def _environment(conf: Path) -> dict[str, str]:
    """The environment for Keystone's processes: ours, minus what would leak into its venv."""
    return peers.clean_environment({"OS_KEYSTONE_CONFIG_FILES": str(conf)})
