"""The production server: Granian running the ASGI app in N worker processes.

Granian was chosen by measurement (see benchmarks/README.md): its Rust HTTP core
moves upload bodies with less CPU than the pure-Python servers, and it offers
the ASGI ``pathsend`` extension for zero-copy downloads. Workers load the app
through ``glimpse.app:from_environment``, so the settings reach them as the
``GLIMPSE_*`` environment this process sets up. SIGHUP respawns the workers
gracefully (a reload); SIGTERM and SIGINT drain and stop.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path

from glimpse.errors import ConfigError
from glimpse.registry import db
from glimpse.settings import Settings

log = logging.getLogger(__name__)


def run(settings: Settings, environ: dict[str, str]) -> None:
    """Serve until stopped. ``environ`` is what workers need to rebuild ``settings``."""
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.http import HTTP1Settings

    db.prepare(settings.registry_url)
    os.environ.update(environ)
    # Build the application once here: a bad driver or setting stops start-up
    # before any worker exists. Workers are forked from this process, so the
    # imports done here also save every worker their cost.
    from glimpse.app import build_app

    build_app(settings)
    _report(settings)

    server = settings.server
    tls = {}
    if server.tls_cert or server.tls_key:
        if not (server.tls_cert and server.tls_key):
            raise ConfigError("server.tls_cert and server.tls_key must be set together")
        tls = {"ssl_cert": Path(server.tls_cert), "ssl_key": Path(server.tls_key)}
    Granian(
        "glimpse.app:from_environment",
        address=server.host,
        port=server.port,
        interface=Interfaces.ASGI,
        workers=server.workers,
        factory=True,
        backlog=server.backlog,
        loop=Loops.auto,
        http1_settings=HTTP1Settings(header_read_timeout=server.keepalive_timeout * 1000),
        log_access=False,
        respawn_failed_workers=True,
        **tls,  # type: ignore[arg-type]
    ).serve()


def _report(settings: Settings) -> None:
    """Say at start-up what an operator must know: who is trusted, and what is exposed."""
    mode = settings.identity.mode
    host = settings.server.host
    log.info("identity mode: %s", mode)
    if not _loopback(host):
        if mode == "none":
            log.warning(
                "identity mode 'none' makes every caller an admin, and the server listens "
                "on %s, beyond loopback",
                host,
            )
        if not settings.server.public_endpoint:
            log.warning(
                "server.public_endpoint is not set: version documents and Location headers "
                "name the host each request's Host header claims"
            )
    for warning in db.exposed_files(settings.registry_url):
        log.warning("%s", warning)
    from glimpse.app import build_stores

    for name, why in build_stores(settings).unreachable().items():
        log.warning("store %s does not answer: %s; the server starts without it", name, why)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
