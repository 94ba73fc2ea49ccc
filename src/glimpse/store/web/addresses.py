"""Which addresses a fetch may connect to, and resolving a host once into checked addresses.

A URL given by a caller must not make Glimpse read its own loopback, the
private network it sits in, or the cloud's metadata service. Every address a
host name resolves to is checked (not only the first: the connection may use
any), and the addresses checked are the ones connected to (``transport``), so a
name whose records change between the check and the connection gains nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from glimpse.errors import AddressRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Cloud metadata services, named as such in refusals (all are non-public anyway).
_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Resolver(Protocol):
    """``socket.getaddrinfo``'s shape: the seam tests use to answer differently each time."""

    def __call__(
        self, host: str, port: int, family: int = ..., type: int = ...
    ) -> Sequence[tuple[Any, Any, Any, Any, tuple[Any, ...]]]: ...


def kind_of(address: IPAddress) -> str | None:
    """The kind of non-public address ``address`` is, or None for a public one.

    IPv6 forms that carry an IPv4 address (mapped, 6to4, NAT64) are judged by
    the IPv4 address they lead to.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return kind_of(embedded)
    if address in _METADATA:
        return "metadata service"
    if address.is_unspecified or address in _THIS_NETWORK:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address in _SHARED:
        return "shared"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "non-public"
    return None


def parse_address(text: str) -> IPAddress | None:
    """``text`` as an IP address in standard notation, or None (names, shorthand forms)."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class AddressRules:
    """Which resolved addresses a fetch may connect to.

    ``allow_private``: any address. Otherwise only public ones, except for
    hosts ``trusted`` names (an operator's allow-list), which may resolve to
    anything. ``denied`` addresses are refused whatever the other rules say.
    """

    allow_private: bool = False
    trusted: Callable[[str], bool] = lambda host: False
    denied: frozenset[IPAddress] = frozenset()

    def resolve(self, host: str, port: int, resolver: Resolver) -> tuple[IPAddress, ...]:
        """Every address of ``host`` (a name or an address literal), each one checked.

        Raises AddressRefused when any address is not allowed, and OSError when
        the name does not resolve.
        """
        literal = parse_address(host)
        if literal is not None:
            addresses: tuple[IPAddress, ...] = (literal,)
        else:
            infos = resolver(host, port, 0, socket.SOCK_STREAM)
            # A scope (fe80::1%eth0) names an interface, not another address.
            found = (parse_address(str(info[4][0]).split("%", 1)[0]) for info in infos)
            addresses = tuple(dict.fromkeys(a for a in found if a is not None))
            if not addresses:
                raise OSError(f"no address found for {host}")
        for address in addresses:
            self._check(host, address)
        return addresses

    def _check(self, host: str, address: IPAddress) -> None:
        plain = _unmapped(address)
        shown = "" if str(plain) == host else f" ({plain})"
        if plain in self.denied:
            raise AddressRefused(
                f"host {host} resolves to a disallowed address{shown}",
                host,
                str(address),
                "disallowed",
            )
        if self.allow_private or self.trusted(host):
            return
        kind = kind_of(address)
        if kind is not None:
            article = "an" if kind[0] in "aeiou" else "a"
            raise AddressRefused(
                f"host {host} resolves to {article} {kind} address{shown}",
                host,
                str(address),
                kind,
            )


def _unmapped(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address as the IPv4 address it is; others unchanged."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
