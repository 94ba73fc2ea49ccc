"""Start-up checks and the listening socket: each failure is one line naming its cause.

Settings that cannot work raise ConfigError (the command exits 2); the rest
raise ServeError (exit 1): the port in use, a host that is not this machine's,
a data directory that cannot be written, a registry that does not answer.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from glimpse.errors import ConfigError, GlimpseError
from glimpse.registry import db
from glimpse.settings import ServerSettings, Settings

if TYPE_CHECKING:
    from glimpse.store.stores import Stores

T = TypeVar("T")

log = logging.getLogger("glimpse.server")


class ServeError(Exception):
    """The server cannot start, or had to stop; the message names the cause in one line."""


def check(settings: Settings) -> None:
    """Refuse server settings that cannot work, naming the key (and the file, for TLS)."""
    server = settings.server
    if server.port > 65535:
        raise ConfigError(f"setting server.port must be at most 65535, not {server.port}")
    if bool(server.tls_cert) != bool(server.tls_key):
        raise ConfigError("server.tls_cert and server.tls_key must be set together")
    if server.tls_client_ca and not server.tls_cert:
        raise ConfigError("server.tls_client_ca needs server.tls_cert and server.tls_key")
    if not server.tls_cert:
        return
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    for key, path in (("tls_cert", server.tls_cert), ("tls_key", server.tls_key)):
        _readable(key, path)
    try:
        context.load_verify_locations(cafile=server.tls_cert)
    except ssl.SSLError as exc:
        raise ConfigError(
            f"server.tls_cert {server.tls_cert} holds no PEM certificate: {_reason(exc)}"
        ) from None
    try:
        # A password that cannot be right: an encrypted key fails here instead of
        # prompting on the terminal.
        context.load_cert_chain(server.tls_cert, server.tls_key, password=b"\0")
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise ConfigError(
                f"server.tls_key {server.tls_key} does not match server.tls_cert {server.tls_cert}"
            ) from None
        raise ConfigError(
            f"server.tls_key {server.tls_key} is not an unencrypted PEM private key: {_reason(exc)}"
        ) from None
    if server.tls_client_ca:
        _readable("tls_client_ca", server.tls_client_ca)
        try:
            context.load_verify_locations(cafile=server.tls_client_ca)
        except ssl.SSLError as exc:
            raise ConfigError(
                f"server.tls_client_ca {server.tls_client_ca} holds no PEM certificate: "
                f"{_reason(exc)}"
            ) from None


def _readable(key: str, path: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"server.{key} {path} cannot be read: {exc.strerror}") from None


def _reason(exc: ssl.SSLError) -> str:
    return str(exc.reason or exc).lower().replace("_", " ")


def listen(server: ServerSettings) -> socket.socket:
    """Bind and listen on ``server.host``:``server.port``, exclusively.

    ``SO_REUSEADDR`` only lets a restart bind while old connections linger in
    TIME_WAIT; unlike ``SO_REUSEPORT`` it never lets two servers share the port.
    """
    host = server.host.strip("[]")
    shown = f"[{host}]:{server.port}" if ":" in host else f"{host}:{server.port}"
    try:
        found = socket.getaddrinfo(
            host or None, server.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ServeError(
            f"cannot listen on {shown}: {(exc.strerror or str(exc)).lower()}"
        ) from None
    family, kind, proto, _, address = found[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # '::' serves IPv4 too
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tune(sock, server)
        sock.bind(address)
        sock.listen(server.backlog)
    except OSError as exc:
        sock.close()
        why = (exc.strerror or str(exc)).lower()
        raise ServeError(f"cannot listen on {shown}: {why}") from None
    return sock


def tune(sock: socket.socket, server: ServerSettings) -> None:
    """The connection options accepted sockets inherit from the listening one."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, server.tcp_keepidle)
    # Sent data unacknowledged this long (a peer gone, or one that stopped reading
    # and keeps its window shut) aborts the connection; 0 is the system's default.
    sock.setsockopt(
        socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, server.client_socket_timeout * 1000
    )


def prepare(settings: Settings) -> Stores:
    """Everything start-up (and a reload) must find working before workers start;
    the stores it built, for ``report``.

    The data directory exists and is writable, the registry answers (an embedded
    one is migrated), and the whole app builds: a bad driver or setting stops
    here, before any worker exists. Workers are forked from this process, so the
    imports done here also save every worker their cost.
    """
    prepare_data_dir(settings)
    from glimpse.app import build_app, build_stores

    _step("the registry cannot be used", lambda: db.prepare(settings.registry_url))
    stores = _step("the stores cannot be built", lambda: build_stores(settings))
    _step("the application cannot be built", lambda: build_app(settings, stores))
    return stores


def _step(what: str, call: Callable[[], T]) -> T:
    """Run one start-up step; its failure as one line saying ``what`` went wrong."""
    try:
        return call()
    except ConfigError:
        raise
    except GlimpseError as exc:
        raise ServeError(f"{what}: {exc.message}") from None
    except Exception as exc:  # a driver's own error: one line, as the others
        log.debug("%s", what, exc_info=True)
        raise ServeError(f"{what}: {first_line(exc)}") from None


def prepare_data_dir(settings: Settings) -> None:
    """Create the data directory (private, as the registry in it) and check it is writable."""
    data_dir = Path(settings.data_dir).resolve()
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ServeError(f"data directory {data_dir} cannot be created: {exc.strerror}") from None
    try:
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except OSError as exc:
        raise ServeError(f"data directory {data_dir} is not writable: {exc.strerror}") from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def report(settings: Settings, stores: Stores) -> None:
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
    for name, why in stores.unreachable().items():
        log.warning("store %s does not answer: %s; the server starts without it", name, why)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
