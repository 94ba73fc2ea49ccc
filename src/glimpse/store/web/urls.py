"""Import filtering: which URLs web-download and glance-download may fetch.

Glance's six lists (``[import_filtering_opts]``), with its rule that a
non-empty allow-list wins and its deny-list twin is then ignored: schemes,
then hosts, then ports. Glimpse differs in being stricter where Glance leaves
gaps: the port checked is the one connected to (a URL without a port has its
scheme's), host names are compared without a trailing dot and in their ASCII
(IDNA) form, IPv6 addresses in their canonical form, and hosts written as
shorthand or encoded numbers (``127.1``, ``2130706433``, ``0x7f000001``) are
refused outright, as the system resolver would read them as addresses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from glimpse.errors import ConfigError, UrlRefused
from glimpse.store.web.addresses import IPAddress, parse_address

#: The schemes Glimpse can fetch, whatever the lists allow.
FETCHABLE = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?", re.ASCII)
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*", re.ASCII)
_USERINFO = re.compile(r"//[^/?#@\s]*@")


@dataclass(frozen=True)
class Target:
    """A URL that passed filtering: what to connect to, as checked."""

    url: httpx.URL
    scheme: str
    #: ASCII, lower case, no trailing dot; an address in canonical form.
    host: str
    port: int

    @property
    def origin(self) -> tuple[str, str, int]:
        """What credentials are bound to: they never travel to another origin."""
        return (self.scheme, self.host, self.port)


class UrlFilter:
    """Glance's import filtering lists; ``check`` refuses with the reason."""

    def __init__(
        self,
        *,
        allowed_schemes: Iterable[str] = FETCHABLE,
        disallowed_schemes: Iterable[str] = (),
        allowed_hosts: Iterable[str] = (),
        disallowed_hosts: Iterable[str] = (),
        allowed_ports: Iterable[int] = (80, 443),
        disallowed_ports: Iterable[int] = (),
        where: str = "import_filtering",
    ) -> None:
        self.allowed_schemes = frozenset(s.strip().lower() for s in allowed_schemes)
        self.allowed_hosts = _hosts(allowed_hosts, f"{where}.allowed_hosts")
        self.allowed_ports = _ports(allowed_ports, f"{where}.allowed_ports")
        denied_schemes = frozenset(s.strip().lower() for s in disallowed_schemes)
        denied_hosts = _hosts(disallowed_hosts, f"{where}.disallowed_hosts")
        denied_ports = _ports(disallowed_ports, f"{where}.disallowed_ports")
        # An allow-list, when set, wins: its deny-list twin is not consulted (as Glance).
        self.disallowed_schemes = frozenset() if self.allowed_schemes else denied_schemes
        self.disallowed_hosts = frozenset() if self.allowed_hosts else denied_hosts
        self.disallowed_ports = frozenset() if self.allowed_ports else denied_ports

    @property
    def denied_addresses(self) -> frozenset[IPAddress]:
        """Addresses of ``disallowed_hosts``: a name resolving to one is refused too."""
        found = (parse_address(host) for host in self.disallowed_hosts)
        return frozenset(a for a in found if a is not None)

    def trusts(self, host: str) -> bool:
        """Whether ``allowed_hosts`` names ``host`` (as a URL writes it), so that it may
        resolve to any address."""
        try:
            return normalize_host(host) in self.allowed_hosts
        except UrlRefused:
            return False

    def check(self, url: str | httpx.URL) -> Target:
        """``url`` parsed and checked: scheme, then host, then port. UrlRefused otherwise."""
        parsed = parse_url(url)
        scheme = parsed.scheme
        if not scheme:
            raise UrlRefused(f"not an absolute URL: {redact(str(url))}")
        if (self.allowed_schemes and scheme not in self.allowed_schemes) or (
            scheme in self.disallowed_schemes
        ):
            raise UrlRefused(f"URL scheme {scheme} is not allowed")
        if scheme not in FETCHABLE:
            raise UrlRefused(f"URL scheme {scheme} is not supported: only http and https are")
        host = normalize_host(parsed.raw_host.decode("ascii"))
        if (self.allowed_hosts and host not in self.allowed_hosts) or (
            host in self.disallowed_hosts
        ):
            raise UrlRefused(f"host {host} is not allowed")
        port = parsed.port if parsed.port is not None else DEFAULT_PORTS[scheme]
        if not 0 < port < 65536:
            raise UrlRefused(f"port {port} is not a valid port")
        if (self.allowed_ports and port not in self.allowed_ports) or (
            port in self.disallowed_ports
        ):
            raise UrlRefused(f"port {port} is not allowed")
        return Target(parsed, scheme, host, port)


def parse_url(url: str | httpx.URL) -> httpx.URL:
    """``url`` as the httpx URL that will be requested; UrlRefused if it does not parse.

    The URL checked is the very object sent, so no second parser can read it
    differently; the standard library must accept it too.
    """
    if isinstance(url, httpx.URL):
        return url
    try:
        urlsplit(url).port  # noqa: B018 - parsing the port is the check
        return httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise UrlRefused(f"not a valid URL: {redact(url)}") from None


def normalize_host(raw: str) -> str:
    """A URL's host (ASCII) as the lists compare it; UrlRefused if it is no host at all.

    Addresses come back canonical (an IPv4-mapped IPv6 address as IPv4); names
    lower case without a trailing dot. Numbers that are not standard
    dotted-quad or IPv6 notation are refused: resolvers would take
    ``2130706433`` or ``0x7f.1`` for addresses that no list names.
    """
    if not raw:
        raise UrlRefused("the URL names no host")
    shown = _printable(raw)
    address = parse_address(raw) if "%" not in raw else None
    if address is not None:
        mapped = getattr(address, "ipv4_mapped", None)
        return str(mapped or address)
    name = raw.lower()
    name = name[:-1] if name.endswith(".") else name
    labels = name.split(".")
    if (
        not name
        or len(name) > 253
        or not all(_LABEL.fullmatch(label) for label in labels)
        or _NUMERIC_LABEL.fullmatch(labels[-1])
    ):
        raise UrlRefused(f"host {shown} is not a valid host name or IP address")
    return name


def redact(location: str) -> str:
    """``location`` fit for messages and logs: no userinfo, no query (it may hold a
    signature or a token), no fragment, and control characters escaped (a newline
    in a location must not forge a log line)."""
    # Escaped first: urlsplit would silently drop tabs and newlines.
    location = _printable(location)
    try:
        parts = urlsplit(location)
    except ValueError:
        return _USERINFO.sub("//***@", location.partition("?")[0].partition("#")[0])
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    shown = f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme or netloc else parts.path
    return shown + ("?..." if parts.query else "")


def describe(exc: BaseException) -> str:
    """An exception's text for a message, with any userinfo in URLs it quotes hidden."""
    text = str(exc) or type(exc).__name__
    return _USERINFO.sub("//***@", _printable(text))


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _hosts(hosts: Iterable[str], where: str) -> frozenset[str]:
    found = set()
    for entry in hosts:
        text = entry.strip().lower()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        try:
            ascii_form = httpx.URL(f"http://{'[' + text + ']' if ':' in text else text}/")
            found.add(normalize_host(ascii_form.raw_host.decode("ascii")))
        except (httpx.InvalidURL, UrlRefused):
            raise ConfigError(
                f"setting {where}: {entry!r} is not a host name or IP address"
            ) from None
    return frozenset(found)


def _ports(ports: Iterable[int], where: str) -> frozenset[int]:
    found = frozenset(ports)
    for port in found:
        if not 0 < port < 65536:
            raise ConfigError(f"setting {where}: {port} is not a port (1 to 65535)")
    return found
