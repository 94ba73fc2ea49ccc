"""Import filtering: Glance's six lists with its semantics, host normalization, address kinds.

No network: ``check`` reads only the URL, and the address rules are given a
resolver that answers from the test.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

from glimpse import settings as glimpse_settings
from glimpse.errors import AddressRefused, ConfigError, UrlRefused
from glimpse.settings import ImportFilteringSettings
from glimpse.store.web import AddressRules, UrlFilter, WebFetcher, kind_of
from glimpse.store.web.urls import normalize_host


def _check(url: str, **lists: Any) -> str:
    """``url`` through a filter of ``lists``: "ok", or the refusal's message."""
    try:
        WebFetcher(ImportFilteringSettings(**lists)).check(url)
    except UrlRefused as exc:
        return exc.message
    return "ok"


# -- Glance's defaults ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "outcome"),
    [
        ("http://images.example.org/disk.img", "ok"),
        ("https://images.example.org/disk.img", "ok"),
        ("HTTPS://Images.Example.ORG:443/disk.img", "ok"),
        ("http://images.example.org:443/disk.img", "ok"),
        ("http://images.example.org:80/disk.img", "ok"),
        ("http://images.example.org:8080/disk.img", "port 8080 is not allowed"),
        ("https://images.example.org:9292/v2/images/x/file", "port 9292 is not allowed"),
        ("ftp://images.example.org/disk.img", "URL scheme ftp is not allowed"),
        ("file:///etc/passwd", "URL scheme file is not allowed"),
        ("gopher://images.example.org/", "URL scheme gopher is not allowed"),
        ("images.example.org/disk.img", "not an absolute URL: images.example.org/disk.img"),
        ("", "not an absolute URL: "),
        ("http:///disk.img", "the URL names no host"),
        ("http://images.example.org:99999/", "not a valid URL: http://images.example.org:99999/"),
        ("http://images.example.org:0/", "port 0 is not a valid port"),
        ("http://h\n/x", "not a valid URL: http://h\\n/x"),
    ],
)
def test_glance_defaults(url: str, outcome: str) -> None:
    assert _check(url) == outcome


def test_the_defaults_are_glances() -> None:
    defaults = ImportFilteringSettings()
    assert defaults.allowed_schemes == ("http", "https")
    assert defaults.disallowed_schemes == ()
    assert defaults.allowed_hosts == ()
    assert defaults.disallowed_hosts == ()
    assert defaults.allowed_ports == (80, 443)
    assert defaults.disallowed_ports == ()
    assert defaults.allow_private_addresses is False


# -- schemes ---------------------------------------------------------------------------


def test_an_allowed_scheme_list_wins_over_the_disallowed_one() -> None:
    lists = {"allowed_schemes": ("http",), "disallowed_schemes": ("http",)}
    assert _check("http://a.example/", **lists) == "ok"
    assert _check("https://a.example/", **lists) == "URL scheme https is not allowed"


def test_the_disallowed_scheme_list_applies_without_an_allowed_one() -> None:
    lists = {"allowed_schemes": (), "disallowed_schemes": ("http",)}
    assert _check("http://a.example/", **lists) == "URL scheme http is not allowed"
    assert _check("https://a.example/", **lists) == "ok"
    # Let through by the lists, but Glimpse fetches http and https only.
    assert _check("ftp://a.example/", **lists, allowed_ports=()) == (
        "URL scheme ftp is not supported: only http and https are"
    )


# -- hosts -----------------------------------------------------------------------------


def test_an_allowed_host_list_wins_over_the_disallowed_one() -> None:
    lists = {"allowed_hosts": ("a.example",), "disallowed_hosts": ("a.example",)}
    assert _check("http://a.example/", **lists) == "ok"
    assert _check("http://b.example/", **lists) == "host b.example is not allowed"
    # Exact names, no subdomains (as Glance).
    assert _check("http://sub.a.example/", **lists) == "host sub.a.example is not allowed"


def test_the_disallowed_host_list_applies_without_an_allowed_one() -> None:
    lists = {"disallowed_hosts": ("a.example", "10.0.0.1", "[2001:db8::1]")}
    assert _check("http://a.example/", **lists) == "host a.example is not allowed"
    assert _check("http://b.example/", **lists) == "ok"
    assert _check("http://10.0.0.1/", **lists) == "host 10.0.0.1 is not allowed"
    assert _check("http://[2001:db8:0:0::1]/", **lists) == "host 2001:db8::1 is not allowed"
    assert _check("http://[::ffff:10.0.0.1]/", **lists) == "host 10.0.0.1 is not allowed"


@pytest.mark.parametrize(
    "url",
    [
        "http://A.Example/",
        "http://a.example./",
        "http://user:pw@a.example/",
        "http://a.example:80/",
        "http://other.example@a.example/",
        "http://127.0.0.1\\@a.example/",
    ],
)
def test_hosts_are_compared_as_they_are_connected_to(url: str) -> None:
    assert _check(url, disallowed_hosts=("a.example",)) == "host a.example is not allowed"


def test_trusted_hosts_are_recognized_however_they_are_written() -> None:
    filtering = UrlFilter(allowed_hosts=("a.example", "10.0.0.1"))
    for host in ("a.example", "A.Example", "a.example.", "10.0.0.1", "::ffff:10.0.0.1"):
        assert filtering.trusts(host), host
    for host in ("b.example", "sub.a.example", "10.0.0.2", "", "%31"):
        assert not filtering.trusts(host), host


def test_international_names_match_in_either_form() -> None:
    for listed in ("bücher.example", "xn--bcher-kva.example"):
        for url in ("http://bücher.example/", "http://xn--bcher-kva.example/"):
            assert _check(url, allowed_hosts=(listed,)) == "ok"
            assert _check(url, disallowed_hosts=(listed,)) == (
                "host xn--bcher-kva.example is not allowed"
            )


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",
        "0x7f000001",
        "0x7f.0.0.1",
        "127.1",
        "017700000001",
        "0177.0.0.1",
        "127.0.0.01",
        "10.1",
        "images.0x1",
        "%31%32%37.0.0.1",
        "a..example",
        "-.example",
        "a b",
    ],
)
def test_hosts_written_as_encoded_numbers_or_not_names_are_refused(host: str) -> None:
    outcome = _check(f"http://{host}/x", allowed_hosts=(), allow_private_addresses=True)
    # httpx refuses some of these itself, the host rules the rest.
    assert outcome.startswith("not a valid URL") or outcome.endswith(
        "is not a valid host name or IP address"
    ), outcome


def test_normalized_hosts() -> None:
    assert normalize_host("EXAMPLE.org.") == "example.org"
    assert normalize_host("::FFFF:127.0.0.1") == "127.0.0.1"
    assert normalize_host("2001:DB8:0::1") == "2001:db8::1"
    assert normalize_host("10.0.0.1") == "10.0.0.1"
    for bad in ("", "fe80::1%25eth0", "a" * 64 + ".example", "x." * 127 + "example"):
        with pytest.raises(UrlRefused):
            normalize_host(bad)


# -- ports -----------------------------------------------------------------------------


def test_an_allowed_port_list_wins_over_the_disallowed_one() -> None:
    lists = {"allowed_ports": (8080,), "disallowed_ports": (8080,)}
    assert _check("http://a.example:8080/", **lists) == "ok"
    assert _check("http://a.example:8081/", **lists) == "port 8081 is not allowed"
    # A URL without a port connects to its scheme's, and that is what is checked.
    assert _check("http://a.example/", **lists) == "port 80 is not allowed"


def test_the_disallowed_port_list_applies_without_an_allowed_one() -> None:
    lists = {"allowed_ports": (), "disallowed_ports": (80, 22)}
    assert _check("http://a.example:22/", **lists) == "port 22 is not allowed"
    assert _check("http://a.example/", **lists) == "port 80 is not allowed"
    assert _check("https://a.example/", **lists) == "ok"
    assert _check("http://a.example:9292/", **lists) == "ok"


def test_no_port_list_allows_every_port() -> None:
    assert _check("http://a.example:1/", allowed_ports=()) == "ok"
    assert _check("http://a.example:65535/", allowed_ports=()) == "ok"


def test_lists_load_from_settings(tmp_path: Any) -> None:
    path = tmp_path / "glimpse.toml"
    path.write_text(
        "[import_filtering]\n"
        'allowed_hosts = ["images.example.org"]\n'
        "allowed_ports = [8080, 443]\n"
        'disallowed_schemes = ["http"]\n'
    )
    loaded = glimpse_settings.load(path, {}).import_filtering
    assert loaded.allowed_ports == (8080, 443)
    fetcher = WebFetcher(loaded)
    fetcher.check("https://images.example.org/x")
    with pytest.raises(UrlRefused, match="port 80 is not allowed"):
        fetcher.check("http://images.example.org/x")
    path.write_text('[import_filtering]\nallowed_ports = ["80"]\n')
    with pytest.raises(ConfigError, match=r"import_filtering\.allowed_ports must be a list of int"):
        glimpse_settings.load(path, {})
    environ = {"GLIMPSE_IMPORT_FILTERING__DISALLOWED_PORTS": "[22, 25]"}
    assert glimpse_settings.load(None, environ).import_filtering.disallowed_ports == (22, 25)


# -- addresses -------------------------------------------------------------------------


def _answering(*addresses: str) -> Any:
    def resolve(host: str, port: int, family: int = 0, type: int = 0) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


def test_address_kinds() -> None:
    assert kind_of(ipaddress.ip_address("8.8.8.8")) is None
    assert kind_of(ipaddress.ip_address("2606:4700::1111")) is None
    assert kind_of(ipaddress.ip_address("64:ff9b::808:808")) is None  # NAT64 of a public one
    assert kind_of(ipaddress.ip_address("127.0.0.1")) == "loopback"
    assert kind_of(ipaddress.ip_address("0.1.2.3")) == "unspecified"
    assert kind_of(ipaddress.ip_address("100.100.100.200")) == "metadata service"


def test_rules_check_every_address_of_a_name() -> None:
    rules = AddressRules()
    assert rules.resolve("a.example", 80, _answering("8.8.8.8", "1.1.1.1")) == (
        ipaddress.ip_address("8.8.8.8"),
        ipaddress.ip_address("1.1.1.1"),
    )
    with pytest.raises(AddressRefused, match=r"a\.example resolves to a private address"):
        rules.resolve("a.example", 80, _answering("8.8.8.8", "10.0.0.7"))
    assert AddressRules(allow_private=True).resolve("a.example", 80, _answering("10.0.0.7"))
    trusted = AddressRules(trusted=lambda host: host == "a.example")
    assert trusted.resolve("a.example", 80, _answering("127.0.0.1"))
    with pytest.raises(OSError, match="no address found"):
        rules.resolve("a.example", 80, _answering())


def test_a_disallowed_address_refuses_the_names_that_resolve_to_it() -> None:
    fetcher = WebFetcher(ImportFilteringSettings(disallowed_hosts=("8.8.8.8",)))
    fetcher.check("http://dns.example/")  # the name itself is not listed
    with pytest.raises(AddressRefused, match="resolves to a disallowed address"):
        fetcher.rules.resolve("dns.example", 80, _answering("1.1.1.1", "8.8.8.8"))


# -- random URLs: only refusals come out -------------------------------------------------

_SCHEMES = st.sampled_from(["http", "https"]) | st.sampled_from(
    ["http", "https", "HTTP", "Https", "ftp", "file", "gopher", "data", "javascript", "", "h"]
)
_LABELS = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=12)
_NAMES = st.lists(_LABELS, min_size=1, max_size=4).map(".".join)
_IPV4 = st.ip_addresses(v=4).map(str)
_IPV6 = st.ip_addresses(v=6).map(lambda a: f"[{a}]")
_ODD_HOSTS = st.sampled_from(
    [
        "",
        "[",
        "[::1",
        "::1",
        "[fe80::1%25eth0]",
        "2130706433",
        "0x7f000001",
        "127.1",
        "%31%32%37.0.0.1",
        "localhost",
        "LOCALHOST.",
        "bücher.de",
        "xn--",
        "a..b",
        "[::ffff:127.0.0.1]",
        "[v1.x]",
        "@",
        " ",
    ]
)
_HOSTS = st.one_of(_NAMES, _IPV4, _IPV6, _ODD_HOSTS, st.text(max_size=15))
_PORTS = st.one_of(
    st.sampled_from(["", ":80", ":443", ":8080"]),
    st.integers(0, 70000).map(lambda p: f":{p}"),
    st.sampled_from([":", ":x", ":-1", ":80:80", ": 80"]),
)
_USERINFO = st.one_of(
    st.just(""),
    st.text(alphabet=string.ascii_letters + "%:@!$", max_size=10).map(lambda u: f"{u}@"),
)
_PATHS = st.one_of(
    st.just("/"),
    st.text(alphabet=string.printable, max_size=20).map(lambda p: "/" + p),
    st.sampled_from(["/%2e%2e/%2e%2e/etc/passwd", "/a?b=c#d", "#x", "?", "\\x"]),
)


@st.composite
def _urls(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=60))
    scheme = draw(_SCHEMES)
    separator = draw(st.just("://") | st.sampled_from([":", ":///", "//", ":\\\\"]))
    return scheme + separator + draw(_USERINFO) + draw(_HOSTS) + draw(_PORTS) + draw(_PATHS)


_LISTS = st.fixed_dictionaries(
    {
        "allowed_schemes": st.sampled_from([(), ("http",), ("http", "https", "ftp")]),
        "disallowed_schemes": st.sampled_from([(), ("https",)]),
        "allowed_hosts": st.just(()) | st.sampled_from([("localhost", "a.example"), ("10.0.0.1",)]),
        "disallowed_hosts": st.sampled_from([(), ("a.example", "::1")]),
        "allowed_ports": st.sampled_from([(), (80, 443), (8080,)]),
        "disallowed_ports": st.sampled_from([(), (80,)]),
        "allow_private_addresses": st.booleans(),
    }
)
_ANSWERS = st.lists(st.ip_addresses().map(str), min_size=1, max_size=3)


@functools.cache
def _fetcher_of(lists: tuple[tuple[str, Any], ...]) -> WebFetcher:
    return WebFetcher(ImportFilteringSettings(**dict(lists)))


@seed(20260521)
@settings(
    database=None,
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(url=_urls(), lists=_LISTS, answers=_ANSWERS)
def test_random_urls_are_only_ever_refused(
    url: str, lists: dict[str, Any], answers: list[str]
) -> None:
    fetcher = _fetcher_of(tuple(sorted(lists.items())))
    try:
        target = fetcher.filter.check(url)
    except UrlRefused as exc:
        event("refused by the lists")
        message = exc.message
    else:
        message = ""
    if message:
        assert "\n" not in message
        return
    # What passed is exactly what the lists allow, and reads the same a second time.
    filtering = fetcher.filter
    assert target.scheme in ("http", "https")
    assert not filtering.allowed_schemes or target.scheme in filtering.allowed_schemes
    assert target.scheme not in filtering.disallowed_schemes
    assert not filtering.allowed_hosts or target.host in filtering.allowed_hosts
    assert target.host not in filtering.disallowed_hosts
    assert 0 < target.port < 65536
    assert not filtering.allowed_ports or target.port in filtering.allowed_ports
    assert target.port not in filtering.disallowed_ports
    again = fetcher.filter.check(str(target.url))
    # A default port may be written or not (https://a:443/ is https://a/): the same target.
    assert (again.scheme, again.host, again.port) == (target.scheme, target.host, target.port)
    assert again.url.raw_path == target.url.raw_path
    try:
        addresses = fetcher.rules.resolve(target.host, target.port, _answering(*answers))
    except AddressRefused as exc:
        event(f"refused: {exc.kind}")
        return
    event("would connect")
    for address in addresses:
        assert (
            lists["allow_private_addresses"]
            or fetcher.filter.trusts(target.host)
            or kind_of(address) is None
        )


def test_a_filter_built_directly_has_glances_defaults() -> None:
    plain = UrlFilter()
    assert plain.check("https://a.example/x").port == 443
    with pytest.raises(UrlRefused, match="port 8443 is not allowed"):
        plain.check("https://a.example:8443/x")
