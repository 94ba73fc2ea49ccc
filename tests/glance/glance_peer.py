"""A real Glance 33 for differential tests, on a loopback port, in trusted-headers mode.

Glance is installed from PyPI once into a cached virtualenv of its own (see `peers`); each
test session writes a configuration into a temporary directory (SQLite database, filesystem
store, the identity headers an authenticating proxy would set believed as they come) and
serves `glance.wsgi.api:application` with gunicorn. Its operator properties come from a
`schema-image.json` written from Glimpse's attribute table: the properties Glance's own
default file defines, so both services run the stock image schema.

    with run_glance(tmp_path) as glance:
        httpx.get(f"{glance.url}/v2/images", headers=glance.headers("p1"))
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from glimpse.api.schemas import schema
from helpers import trusted_headers
from peers import (
    PeerUnavailable,
    clean_environment,
    install,
    run_logged,
    serve,
    stop,
    wait_until_answers,
)

GLANCE_VERSION = "33.0.0"
GUNICORN_VERSION = "27.0.1"
REQUIREMENTS = (f"glance=={GLANCE_VERSION}", f"gunicorn=={GUNICORN_VERSION}")
WSGI_APP = "glance.wsgi.api:application"
_MANAGE = "import sys; from glance.cmd.manage import main; sys.exit(main())"


@dataclass(frozen=True)
class Glance:
    """A running Glance: where it is; callers identify with trusted headers."""

    url: str
    log_path: Path

    headers = staticmethod(trusted_headers)


@contextlib.contextmanager
def run_glance(directory: Path) -> Iterator[Glance]:
    """Install Glance if needed, set up a fresh one in `directory`, serve it, and stop it.

    Raises:
        PeerUnavailable: installing, setting up or starting failed.
    """
    venv = install(f"glance-{GLANCE_VERSION}", REQUIREMENTS)
    etc = _write_config(directory)
    environ = clean_environment({"OS_GLANCE_CONFIG_DIR": str(etc)})
    log = directory / "glance.log"
    with (directory / "glance-manage.log").open("wb") as out:
        command = [str(venv / "bin" / "python"), "-c", _MANAGE, "--config-dir", str(etc)]
        run_logged([*command, "db_sync"], out, directory / "glance-manage.log", environ)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        process = serve(venv, WSGI_APP, directory, listener, log, environ)
    try:
        wait_until_answers(process, f"{url}/versions", log, "Glance")
        yield Glance(url, log)
    finally:
        stop(process)


def _write_config(directory: Path) -> Path:
    etc = directory / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    state = directory / "state"
    for name in ("images", "staging", "tasks", "locks"):
        (state / name).mkdir(parents=True, exist_ok=True)
    (etc / "glance-api.conf").write_text(
        f"""\
[DEFAULT]
use_stderr = true
enabled_backends = fs:file

[database]
connection = sqlite:///{state / "glance.sqlite"}

[glance_store]
default_backend = fs

[fs]
filesystem_store_datadir = {state / "images"}

[os_glance_staging_store]
filesystem_store_datadir = {state / "staging"}

[os_glance_tasks_store]
filesystem_store_datadir = {state / "tasks"}

[oslo_concurrency]
lock_path = {state / "locks"}

[paste_deploy]
flavor = trusted
config_file = {etc / "glance-api-paste.ini"}
"""
    )
    # The context middleware believes the identity headers, as behind keystonemiddleware.
    (etc / "glance-api-paste.ini").write_text(
        """\
[pipeline:glance-api-trusted]
pipeline = versionnegotiation context rootapp

[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app

[app:apiversions]
paste.app_factory = glance.api.versions:create_resource

[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory

[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory

[filter:context]
paste.filter_factory = glance.api.middleware.context:ContextMiddleware.factory
"""
    )
    operator = {
        name: {key: value for key, value in spec.items() if key != "is_base"}
        for name, spec in schema("image")["properties"].items()
        if spec.get("is_base") is False
    }
    (etc / "schema-image.json").write_text(json.dumps(operator, indent=2))
    return etc


__all__ = ["Glance", "PeerUnavailable", "run_glance"]
