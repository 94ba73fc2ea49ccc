"""The outer ASGI layers every request passes before routing.

``RequestFrame`` sits outside Starlette so that even a crash response carries
``x-openstack-request-id`` (and every log line of the request names it: see
``glimpse.logs``); it also maps versioned prefixes (``/v2.1/...``) to
``/v2/...`` and answers unknown API versions with the version list, as Glance's
version negotiation does, and drains bodies answered before they were read.
``ProxyHeaders`` (only with ``server.trusted_proxies``) believes a reverse
proxy's ``Forwarded`` and ``X-Forwarded-*`` headers, as oslo.middleware's
``http_proxy_to_wsgi`` does for Glance. ``IdentityLayer`` identifies the caller
of every request but the public paths, as Glance's authentication middleware
does: without valid credentials even an unknown path is 401.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Collection, Iterable, Sequence

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glimpse.api import errors
from glimpse.api.body import UnreadBody
from glimpse.auth.identity import Identity
from glimpse.errors import ConfigError, GlimpseError
from glimpse.logs import REQUEST_ID, new_request_id

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_VERSION_PREFIX = re.compile(r"^/v(\d+)(?:\.\d+)?(?=/|$)")


class RequestFrame:
    """Outermost ASGI layer: request ids, version negotiation, and draining unread bodies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        match = _VERSION_PREFIX.match(scope["path"])
        if match is not None:
            rest = scope["path"][match.end() :]
            path = f"/v2{rest}" if match.group(1) == "2" else "/"
            scope = {**scope, "path": path, "raw_path": path.encode()}
        text_id = new_request_id()
        request_id = text_id.encode()
        context = REQUEST_ID.set(text_id)
        body = UnreadBody(scope["headers"], receive)
        status = 0
        complete = False  # the whole response went out

        async def send_with_id(message: Message) -> None:
            nonlocal status, complete
            kind = message["type"]
            if kind == "http.response.start":
                headers = [*message.get("headers", []), (b"x-openstack-request-id", request_id)]
                if body.pending and not any(name == b"connection" for name, _ in headers):
                    # Answered before the body was read: the connection ends after this
                    # response, so say so, or a client may send its next request on it.
                    headers.append((b"connection", b"close"))
                message["headers"] = headers
                status = message["status"]
            elif kind == "http.response.pathsend" or (
                kind == "http.response.body" and not message.get("more_body", False)
            ):
                complete = True
            await send(message)

        try:
            await self.app(scope, body.receive, send_with_id)
        except Exception:
            # Starlette re-raises what its error handler logged (with the traceback and
            # this request's id) and answered with a JSON 500; the server would log it
            # again, without the id. Anything else, or a response cut short, goes on up.
            if not (complete and status == 500):
                raise
        finally:
            REQUEST_ID.reset(context)
        await body.drain()


class IdentityLayer:
    """Identify the caller once per request and keep the Actor in ``scope["state"]``.

    Drivers that wait on I/O (the token registry, Keystone) run in the thread
    pool; header-only drivers run inline. Failures answer here, before routing.
    """

    def __init__(self, app: ASGIApp, identity: Identity, public_paths: Collection[str]) -> None:
        self.app = app
        self.identity = identity
        self.public_paths = public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public_paths:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            if self.identity.blocking:
                actor = await run_in_threadpool(self.identity.identify, headers)
            else:
                actor = self.identity.identify(headers)
        except GlimpseError as exc:
            response = await errors.glimpse_error(Request(scope), exc)
            await response(scope, receive, send)
            return
        except Exception as exc:  # a driver's fault: logged, and a JSON 500 as elsewhere
            response = await errors.unexpected_error(Request(scope), exc)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["actor"] = actor
        await self.app(scope, receive, send)


def parse_networks(values: Iterable[str], key: str) -> tuple[IPNetwork, ...]:
    """Addresses and CIDR networks of a setting; ConfigError naming ``key`` for a bad one."""
    found = []
    for value in values:
        try:
            found.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ConfigError(f"setting {key}: {value!r} is not an IP address or network") from None
    return tuple(found)


def address_of(host: object) -> IPAddress | None:
    """The IP address in ``host`` (IPv4-mapped IPv6 as IPv4), or None if it holds none."""
    if not isinstance(host, str):
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def within(host: object, networks: Sequence[IPNetwork]) -> bool:
    """Whether ``host`` (a scope's client host) is an address in one of ``networks``."""
    address = address_of(host)
    return address is not None and any(address in network for network in networks)


# RFC 7239: forwarded-pair = token "=" ( token / quoted-string ), pairs joined by ";",
# elements by ",".
_PAIR = re.compile(
    r"""[\s,;]*([!#$%&'*+.^_`|~0-9A-Za-z-]+)=("(?:[^"\\]|\\.)*"|[^;,"\s]*)\s*([;,]?)"""
)
_QUOTED = re.compile(r"\\(.)")
_HOST = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::[0-9]{1,5})?$")
_PREFIX = re.compile(r"^(?:/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+$")
_PROXY_HEADERS = frozenset(
    {
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-prefix",
    }
)
_HOP = re.compile(r"^\[([0-9A-Fa-f:.]+)\](?::([0-9]{1,5}))?$|^([0-9.]+):([0-9]{1,5})$")


def parse_forwarded(value: str) -> list[dict[str, str]]:
    """The elements of a ``Forwarded`` header, left (the client) to right (the nearest proxy).

    Keys are lower-cased; a key repeated in an element keeps its first value.
    A header that does not parse gives no elements, and is then ignored.
    """
    elements: list[dict[str, str]] = [{}]
    position = 0
    value = value.strip()
    while position < len(value):
        match = _PAIR.match(value, position)
        if match is None or match.end() == position:
            return []
        key, raw, separator = match.groups()
        if raw.startswith('"'):
            raw = _QUOTED.sub(r"\1", raw[1:-1])
        elements[-1].setdefault(key.lower(), raw)
        position = match.end()
        if separator == ",":
            elements.append({})
    return [element for element in elements if element]


def _hop(node: str) -> tuple[str, int]:
    """A ``for=`` node or an X-Forwarded-For entry as host and port (0 when not given)."""
    node = node.strip()
    match = _HOP.match(node)
    if match is None:
        return node, 0
    if match.group(1) is not None:
        return match.group(1), int(match.group(2) or 0)
    return match.group(3), int(match.group(4))


class ProxyHeaders:
    """Take the scheme, host, client and path prefix a trusted reverse proxy forwards.

    Only when the direct peer is in ``trusted``: anyone else's headers are
    ignored, or a client could name any host in the links it is sent, or any
    address for the logs and ``health.detail_networks``. ``Forwarded`` (RFC
    7239) wins over ``X-Forwarded-For``/``-Proto``/``-Host``; ``X-Forwarded-Prefix``
    is a path the proxy serves Glimpse under (version documents and
    ``Location`` headers then include it).

    The client is found as proxies append themselves: from the right, the
    first hop that is not a trusted proxy; the scheme and host are the ones
    that hop used (the same ``Forwarded`` element; with ``X-Forwarded-*``, the
    entry at the same position when the lists are as long, else the nearest
    proxy's). Values that are not a scheme (http, https), a host[:port] or a
    path are ignored.
    """

    def __init__(self, app: ASGIApp, trusted: Sequence[IPNetwork]) -> None:
        self.app = app
        self.trusted = tuple(trusted)
        # Peers and clients repeat: remember the answer for the recent ones.
        self._trusted = functools.lru_cache(maxsize=4096)(self._is_trusted)

    def _is_trusted(self, host: str) -> bool:
        return within(host, self.trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] == "http" and client and self._trusted(client[0]):
            scope = self.forwarded(scope)
        await self.app(scope, receive, send)

    def forwarded(self, scope: Scope) -> Scope:
        """``scope`` with what its trusted proxy forwarded (unchanged when nothing is)."""
        found: dict[bytes, list[str]] = {}
        for name, value in scope["headers"]:
            if name in _PROXY_HEADERS:
                found.setdefault(name, []).append(value.decode("latin-1"))
        if not found:
            return scope
        proto = host = None
        client: tuple[str, int] | None = None
        forwarded = found.get(b"forwarded")
        elements = parse_forwarded(",".join(forwarded)) if forwarded else []
        if elements:
            chosen = self._client_index([element.get("for", "") for element in elements])
            element = elements[chosen]
            proto, host = element.get("proto"), element.get("host")
            if "for" in element:
                client = _hop(element["for"])
        else:
            hops = _entries(found.get(b"x-forwarded-for", []))
            chosen = self._client_index(hops) if hops else 0
            if hops:
                client = _hop(hops[chosen])
            proto = _aligned(_entries(found.get(b"x-forwarded-proto", [])), hops, chosen)
            host = _aligned(_entries(found.get(b"x-forwarded-host", [])), hops, chosen)
        prefix = found.get(b"x-forwarded-prefix", [""])[0].strip().rstrip("/")
        changed: dict[str, object] = {}
        if proto is not None and proto.lower() in ("http", "https"):
            changed["scheme"] = proto.lower()
        if host is not None and _HOST.match(host):
            raw = [(k, v) for k, v in scope["headers"] if k != b"host"]
            changed["headers"] = [(b"host", host.encode("latin-1")), *raw]
        if client is not None and client[0]:
            changed["client"] = client
        if prefix and _PREFIX.match(prefix) and ".." not in prefix:
            changed["root_path"] = prefix + scope.get("root_path", "")
        return {**scope, **changed} if changed else scope

    def _client_index(self, hops: Sequence[str]) -> int:
        """The position of the client among ``hops``: the rightmost not a trusted proxy."""
        for index in range(len(hops) - 1, -1, -1):
            if not self._trusted(_hop(hops[index])[0]):
                return index
        return 0


def _entries(values: Sequence[str]) -> list[str]:
    return [entry.strip() for value in values for entry in value.split(",") if entry.strip()]


def _aligned(entries: Sequence[str], hops: Sequence[str], chosen: int) -> str | None:
    if not entries:
        return None
    if len(entries) == len(hops):
        return entries[chosen]
    return entries[-1]
