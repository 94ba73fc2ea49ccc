"""Fetching remote URLs for imports, against real web servers on loopback.

The servers (``glimpse.testing.web_server``, and an https one made here)
listen on 127.0.0.1, which the fetcher refuses unless a setting allows it:
the tests either expect that refusal or allow it. Names other than
``localhost`` are answered by a scripted resolver passed where
``socket.getaddrinfo`` is used, so a name can change its answer between two
lookups, as a rebinding DNS server would.
"""

from __future__ import annotations

import dataclasses
import datetime
import http.server
import os
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from glimpse.errors import (
    AddressRefused,
    ConfigError,
    FetchFailed,
    GlimpseError,
    TooLarge,
    UrlRefused,
)
from glimpse.settings import ImportFilteringSettings
from glimpse.store.web import RemoteData, WebFetcher
from glimpse.store.web.fetch import READ_CHUNK
from glimpse.testing import free_port
from glimpse.testing.web_server import WebServer, serve_directory

BIG = 3 * READ_CHUNK + 4321
#: A public address no test server listens on: connecting to it fails (or reaches
#: something that is not the loopback server), but never the loopback server.
PUBLIC = "192.88.99.1"
PASSWORD = "pa55-w0rd"
TOKEN = "gAAAA-secret-token"


class Script:
    """A resolver: each scripted name answers the next of its answers (the last one
    again once they run out); ``localhost`` and others go to the system resolver."""

    def __init__(self, answers: Mapping[str, Sequence[Sequence[str]]]) -> None:
        self.answers = answers
        self.calls: Counter[str] = Counter()

    def __call__(
        self, host: str, port: int, family: int = 0, type: int = 0
    ) -> list[tuple[Any, Any, int, str, tuple[Any, ...]]]:
        if host not in self.answers:
            return socket.getaddrinfo(host, port, family, type)
        turns = self.answers[host]
        answer = turns[min(self.calls[host], len(turns) - 1)]
        self.calls[host] += 1
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in answer
        ]


def _settings(**overrides: Any) -> ImportFilteringSettings:
    # The test servers listen on random ports: no port list unless a test sets one.
    base: dict[str, Any] = {"allowed_ports": (), "connect_timeout": 2.0, "read_timeout": 2.0}
    return ImportFilteringSettings(**{**base, **overrides})


def _fetcher(resolver: Script | None = None, **overrides: Any) -> WebFetcher:
    if resolver is None:
        return WebFetcher(_settings(**overrides))
    return WebFetcher(_settings(**overrides), resolver=resolver)


def _read(data: RemoteData) -> bytes:
    with data:
        return b"".join(data.chunks())


@pytest.fixture
def www(tmp_path: Path) -> Path:
    directory = tmp_path / "www"
    directory.mkdir()
    (directory / "image.bin").write_bytes(os.urandom(BIG))
    (directory / "small.txt").write_bytes(b"0123456789")
    return directory


@pytest.fixture
def web(www: Path) -> Iterator[WebServer]:
    with serve_directory(www, credentials=("alice", PASSWORD)) as server:
        yield server


def _port(web: WebServer) -> int:
    return int(web.host.rpartition(":")[2])


# -- addresses ------------------------------------------------------------------------


def test_loopback_is_refused_by_default(web: WebServer) -> None:
    with pytest.raises(AddressRefused, match=r"^host 127\.0\.0\.1 resolves to a loopback address$"):
        _fetcher().open(web.url_for("small.txt"))
    assert web.seen() == []


def test_loopback_is_fetched_when_allowed(web: WebServer, www: Path) -> None:
    data = _fetcher(allow_private_addresses=True).open(web.url_for("image.bin"))
    assert data.size == BIG
    assert data.address == "127.0.0.1"
    assert _read(data) == (www / "image.bin").read_bytes()
    assert [r.method for r in web.seen()] == ["GET"]
    assert web.seen()[0].headers["Accept-Encoding"] == "identity"


def test_a_host_named_in_allowed_hosts_may_be_loopback(web: WebServer) -> None:
    fetcher = _fetcher(allowed_hosts=("127.0.0.1",))
    assert _read(fetcher.open(web.url_for("small.txt"))) == b"0123456789"


def test_localhost_is_a_name_resolving_to_loopback(web: WebServer) -> None:
    url = f"http://localhost:{_port(web)}/small.txt"
    with pytest.raises(AddressRefused, match=r"^host localhost resolves to a loopback address \("):
        _fetcher().open(url)
    assert web.seen() == []
    # Named, it is trusted whatever it resolves to, however the URL writes it.
    assert _read(_fetcher(allowed_hosts=("localhost",)).open(url)) == b"0123456789"
    upper = f"http://LocalHost:{_port(web)}/small.txt"
    assert _read(_fetcher(allowed_hosts=("LOCALHOST.",)).open(upper)) == b"0123456789"


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("[fd12:3456::1]", "private"),
        ("[::1]", "loopback"),
        ("127.255.0.1", "loopback"),
        ("169.254.169.254", "metadata service"),
        ("[fd00:ec2::254]", "metadata service"),
        ("169.254.1.1", "link-local"),
        ("[fe80::1]", "link-local"),
        ("100.64.0.1", "shared"),
        ("0.0.0.0", "unspecified"),
        ("[::]", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("[ff02::1]", "multicast"),
        ("240.0.0.1", "reserved"),
        ("198.18.0.1", "private"),
        ("192.0.2.1", "private"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("[::ffff:10.0.0.1]", "private"),
        ("[::ffff:169.254.169.254]", "metadata service"),
        ("[64:ff9b::a00:1]", "private"),
        ("[2002:7f00:1::]", "loopback"),
    ],
)
def test_non_public_address_literals_are_refused(host: str, kind: str) -> None:
    with pytest.raises(AddressRefused, match=f"resolves to an? {kind} address") as caught:
        _fetcher(allowed_ports=(80,)).open(f"http://{host}/disk.img")
    assert caught.value.kind == kind


def test_every_resolved_address_is_checked_not_only_the_first(web: WebServer) -> None:
    resolver = Script({"mixed.test": [[PUBLIC, "127.0.0.1"]]})
    url = f"http://mixed.test:{_port(web)}/small.txt"
    with pytest.raises(
        AddressRefused, match=r"^host mixed.test resolves to a loopback address \(127.0.0.1\)$"
    ):
        _fetcher(resolver).open(url)
    assert web.seen() == []


def test_the_connection_goes_to_the_address_checked(web: WebServer) -> None:
    # The first lookup says 127.0.0.1 (where the server is), any later one 127.0.0.2
    # (where nothing listens): the fetch works only if it connects to what it checked.
    resolver = Script({"pinned.test": [["127.0.0.1"], ["127.0.0.2"]]})
    url = f"http://pinned.test:{_port(web)}/small.txt"
    data = _fetcher(resolver, allow_private_addresses=True).open(url)
    assert data.address == "127.0.0.1"
    assert _read(data) == b"0123456789"
    assert resolver.calls["pinned.test"] == 1
    # The request still names the host: virtual hosts and TLS see the name.
    assert web.seen()[0].headers["Host"] == f"pinned.test:{_port(web)}"


def test_dns_rebinding_never_reaches_loopback(web: WebServer) -> None:
    # Checked, the name is public; asked again, it would be loopback.
    resolver = Script({"rebind.test": [[PUBLIC], ["127.0.0.1"]]})
    url = f"http://rebind.test:{_port(web)}/small.txt"
    fetcher = _fetcher(resolver, connect_timeout=1.0, read_timeout=1.0)
    try:
        data = fetcher.open(url)
    except FetchFailed as exc:
        outcome = str(exc)
    else:
        outcome = f"connected to {data.address}"
        data.close()
    assert PUBLIC in outcome or "timed out" in outcome, outcome
    assert web.seen() == []
    assert resolver.calls["rebind.test"] == 1


def test_a_name_that_does_not_resolve_fails_cleanly() -> None:
    with pytest.raises(FetchFailed, match=r"cannot resolve glimpse-test\.invalid"):
        _fetcher(allowed_ports=(80,)).open("http://glimpse-test.invalid/x")


def test_a_server_that_does_not_listen_fails_cleanly() -> None:
    port = free_port()
    with pytest.raises(FetchFailed, match=f"cannot connect to 127.0.0.1 port {port}"):
        _fetcher(allow_private_addresses=True).open(f"http://127.0.0.1:{port}/x")


# -- redirects -------------------------------------------------------------------------


def test_redirects_are_followed(web: WebServer) -> None:
    data = _fetcher(allow_private_addresses=True).open(web.url_for("redirect/3/small.txt"))
    assert data.location == web.url_for("small.txt")
    assert _read(data) == b"0123456789"


def test_a_redirect_from_an_allowed_server_to_loopback_is_refused(web: WebServer) -> None:
    resolver = Script({"origin.test": [["127.0.0.1"]]})
    port = _port(web)
    target = f"http://127.0.0.1:{port}/small.txt"
    url = f"http://origin.test:{port}/goto?to={quote(target, safe='')}"
    with pytest.raises(
        UrlRefused, match=f"^redirect to {target} refused: host 127.0.0.1 is not allowed$"
    ):
        _fetcher(resolver, allowed_hosts=("origin.test",)).open(url)
    assert len(web.seen()) == 1


def test_a_redirect_to_a_name_resolving_to_a_refused_address_is_refused(web: WebServer) -> None:
    # Every hop is resolved and checked like the first, all of its addresses.
    resolver = Script({"inside.test": [["127.0.0.1", "127.0.0.2"]]})
    port = _port(web)
    target = f"http://inside.test:{port}/small.txt"
    fetcher = _fetcher(resolver, allow_private_addresses=True, disallowed_hosts=("127.0.0.2",))
    with pytest.raises(
        AddressRefused,
        match=(
            f"^redirect to {target} refused: host inside.test resolves to a disallowed "
            r"address \(127.0.0.2\)$"
        ),
    ):
        fetcher.open(web.url_for(f"goto?to={quote(target, safe='')}"))
    assert len(web.seen()) == 1


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("file:///etc/passwd", "URL scheme file is not allowed"),
        ("ftp://example.org/x", "URL scheme ftp is not allowed"),
        ("http://10.0.0.1/", "host 10.0.0.1 resolves to a private address"),
        ("http://169.254.169.254/latest/meta-data/", "metadata service address"),
        ("http://[::1]:22/", "loopback address"),
        ("http://2130706433/", "host 2130706433 is not a valid host name or IP address"),
    ],
)
def test_redirects_to_refused_urls_are_refused(web: WebServer, target: str, reason: str) -> None:
    # Only the first host is trusted, so that the redirect is judged by the address
    # rules (a host list would refuse every host it does not name).
    resolver = Script({"origin.test": [["127.0.0.1"]]})
    fetcher = _fetcher(resolver)
    fetcher.rules = dataclasses.replace(fetcher.rules, trusted=lambda host: host == "origin.test")
    url = f"http://origin.test:{_port(web)}/goto?to={quote(target, safe='')}"
    with pytest.raises(UrlRefused, match=f"^redirect to .* refused: .*{reason}"):
        fetcher.open(url)
    assert len(web.seen()) == 1


def test_a_redirect_loop_is_an_error(web: WebServer) -> None:
    # Location "#again" names the very URL that answered it.
    url = web.url_for("goto?to=%23again")
    with pytest.raises(FetchFailed, match=r"redirect loop: .* redirects back to itself"):
        _fetcher(allow_private_addresses=True).open(url)


def test_too_many_redirects_are_an_error(web: WebServer) -> None:
    fetcher = _fetcher(allow_private_addresses=True, max_redirects=3)
    with pytest.raises(FetchFailed, match=r"too many redirects \(more than 3\)"):
        fetcher.open(web.url_for("redirect/4/small.txt"))
    assert _read(fetcher.open(web.url_for("redirect/3/small.txt"))) == b"0123456789"


def test_credentials_go_to_their_own_origin_only(www: Path) -> None:
    with (
        serve_directory(www, credentials=("alice", PASSWORD)) as web,
        serve_directory(www, credentials=("alice", PASSWORD)) as other,
    ):
        fetcher = _fetcher(allow_private_addresses=True)
        here = web.url_for("redirect/1/private/small.txt", userinfo=f"alice:{PASSWORD}")
        data = fetcher.open(here, headers={"X-Auth-Token": TOKEN})
        assert _read(data) == b"0123456789"
        assert all(r.headers.get("X-Auth-Token") == TOKEN for r in web.seen())
        away = web.url_for(
            f"goto?to={quote(other.url_for('private/small.txt'), safe='')}",
            userinfo=f"alice:{PASSWORD}",
        )
        with pytest.raises(FetchFailed, match="answered 401") as caught:
            fetcher.open(away, headers={"X-Auth-Token": TOKEN})
        assert "Authorization" not in other.seen()[-1].headers
        assert "X-Auth-Token" not in other.seen()[-1].headers
        assert caught.value.status == 401
        assert PASSWORD not in str(caught.value)


# -- time, size and broken answers -------------------------------------------------------


def test_a_slow_server_times_out(web: WebServer) -> None:
    fetcher = _fetcher(allow_private_addresses=True, read_timeout=0.3)
    with pytest.raises(FetchFailed, match=r"^timed out after 0.3 seconds waiting for http"):
        fetcher.open(web.url_for("hang/x"))
    data = fetcher.open(web.url_for("stall/image.bin"))
    with pytest.raises(FetchFailed, match=r"^timed out after 0.3 seconds"):
        _read(data)


def test_a_server_that_does_not_accept_times_out_connecting() -> None:
    # A listening socket whose one-place queue is taken: the kernel lets further
    # handshakes wait unanswered.
    with socket.socket() as listening, socket.socket() as first:
        listening.bind(("127.0.0.1", 0))
        listening.listen(0)
        port = listening.getsockname()[1]
        first.connect(("127.0.0.1", port))
        fetcher = _fetcher(allow_private_addresses=True, connect_timeout=0.3)
        with pytest.raises(
            FetchFailed,
            match=rf"^timed out after 0\.3 seconds connecting to 127\.0\.0\.1 port {port}$",
        ):
            fetcher.open(f"http://127.0.0.1:{port}/x")


def test_the_total_time_limit_ends_a_fetch_that_keeps_the_connection_busy(
    web: WebServer,
) -> None:
    fetcher = _fetcher(allow_private_addresses=True, read_timeout=30.0, total_timeout=0.5)
    data = fetcher.open(web.url_for("stall/image.bin"))
    with pytest.raises(FetchFailed, match=r"^timed out after 0.5 seconds, the time limit"):
        _read(data)


def test_the_size_cap_stops_a_body_without_length_at_the_crossing_byte(
    web: WebServer, www: Path
) -> None:
    fetcher = _fetcher(allow_private_addresses=True, size_cap=READ_CHUNK + 1)
    data = fetcher.open(web.url_for("nolength/image.bin"))
    assert data.size is None
    got: list[bytes] = []
    with pytest.raises(
        TooLarge, match=f"^image larger than the size cap of {READ_CHUNK + 1} bytes"
    ):
        got.extend(data.chunks())
    assert sum(map(len, got)) <= READ_CHUNK + 1
    assert b"".join(got) == (www / "image.bin").read_bytes()[: sum(map(len, got))]


def test_the_size_cap_refuses_an_announced_length_before_reading(web: WebServer) -> None:
    fetcher = _fetcher(allow_private_addresses=True, size_cap=9)
    with pytest.raises(TooLarge, match=r"size cap of 9 bytes: .* announces 10"):
        fetcher.open(web.url_for("small.txt"))
    # Exactly at the cap is fine, with or without a length; the call's own cap is lower.
    assert _read(_fetcher(allow_private_addresses=True, size_cap=10).open(web.url_for("small.txt")))
    assert _read(
        _fetcher(allow_private_addresses=True, size_cap=10).open(web.url_for("nolength/small.txt"))
    )
    with pytest.raises(TooLarge, match="size cap of 4 bytes"):
        _read(_fetcher(allow_private_addresses=True).open(web.url_for("small.txt"), size_cap=4))


@pytest.mark.parametrize("path", ["cut/image.bin", "nolength/cut/image.bin"])
def test_a_body_cut_short_is_an_error(web: WebServer, path: str) -> None:
    data = _fetcher(allow_private_addresses=True).open(web.url_for(path))
    with pytest.raises(FetchFailed, match="was cut short after"):
        _read(data)


def test_the_expected_size_is_enforced(web: WebServer) -> None:
    fetcher = _fetcher(allow_private_addresses=True)
    with pytest.raises(FetchFailed, match="announces 10 bytes, not the 11 expected"):
        fetcher.open(web.url_for("small.txt"), expected_size=11)
    data = fetcher.open(web.url_for("nolength/small.txt"), expected_size=11)
    with pytest.raises(FetchFailed, match="sent 10 bytes, not the 11 expected"):
        _read(data)


@pytest.mark.parametrize(("code", "status"), [("404", 404), ("500", 500), ("206", 206)])
def test_error_answers_are_errors_with_their_status(web: WebServer, code: str, status: int) -> None:
    with pytest.raises(FetchFailed, match=f"answered {status}") as caught:
        _fetcher(allow_private_addresses=True).open(web.url_for(f"status/{code}"))
    assert caught.value.status == status


def test_the_data_is_read_once(web: WebServer) -> None:
    data = _fetcher(allow_private_addresses=True).open(web.url_for("small.txt"))
    assert _read(data) == b"0123456789"
    with pytest.raises(FetchFailed, match="read already"):
        data.chunks()


def test_messages_never_show_credentials(web: WebServer) -> None:
    for path in ["status/404", "hang/x", "redirect/40/small.txt", "goto?to=ftp://x/"]:
        url = web.url_for(f"{path}?token={TOKEN}", userinfo=f"alice:{PASSWORD}")
        fetcher = _fetcher(allow_private_addresses=True, read_timeout=0.3)
        with pytest.raises(GlimpseError) as caught:
            fetcher.open(url, headers={"X-Auth-Token": TOKEN}).close()
        text = str(caught.value)
        assert PASSWORD not in text
        assert TOKEN not in text
        assert "alice" not in text


def test_no_thread_or_connection_is_left_behind(www: Path) -> None:
    before = set(threading.enumerate())
    with serve_directory(www) as web:
        fetcher = _fetcher(allow_private_addresses=True, read_timeout=0.3)
        _read(fetcher.open(web.url_for("image.bin")))
        with pytest.raises(FetchFailed):
            _read(fetcher.open(web.url_for("stall/image.bin")))
        data = fetcher.open(web.url_for("image.bin"))
        next(data.chunks())
        data.close()
    assert set(threading.enumerate()) <= before


# -- settings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"connect_timeout": 0.0}, "import_filtering.connect_timeout must be more than 0"),
        ({"read_timeout": -1.0}, "import_filtering.read_timeout must be more than 0"),
        ({"total_timeout": -1.0}, "import_filtering.total_timeout must be at least 0"),
        ({"allowed_ports": (0,)}, "import_filtering.allowed_ports: 0 is not a port"),
        ({"disallowed_ports": (70000,)}, "import_filtering.disallowed_ports: 70000 is not"),
        ({"allowed_hosts": ("a b",)}, "import_filtering.allowed_hosts: 'a b' is not a host"),
        ({"disallowed_hosts": ("127.1",)}, "import_filtering.disallowed_hosts: '127.1'"),
        ({"ca_file": "/nonexistent/ca.pem"}, "import_filtering.ca_file: cannot load"),
    ],
)
def test_bad_settings_stop_startup(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WebFetcher(ImportFilteringSettings(**overrides))


def test_only_import_methods_that_fetch_have_fetchers() -> None:
    with pytest.raises(ConfigError, match="no import method 'copy-image' fetches URLs"):
        WebFetcher(ImportFilteringSettings(), method="copy-image")


def test_glance_download_has_its_own_address_rule() -> None:
    settings = ImportFilteringSettings()
    assert not WebFetcher(settings).rules.allow_private
    assert WebFetcher(settings, method="glance-download").rules.allow_private
    strict = ImportFilteringSettings(glance_download_allow_private_addresses=False)
    assert not WebFetcher(strict, method="glance-download").rules.allow_private


# -- https: the name is checked on the certificate, the checked address connected to -----


@dataclass
class TlsServer:
    url: str
    port: int
    ca: Path
    names: list[str | None] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)


def _certificates(directory: Path, name: str) -> tuple[Path, Path, Path]:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Glimpse fetch test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / "ca.pem", directory / "leaf.pem", directory / "leaf.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TlsServer]:
    """An https server on 127.0.0.1 whose certificate names images.test only."""
    ca, cert, key = _certificates(tmp_path, "images.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    seen = TlsServer(url="", port=0, ca=ca)

    def remember(sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: Any) -> None:
        seen.names.append(name)

    context.sni_callback = remember

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.hosts.append(self.headers.get("Host", ""))
            self.send_response(200)
            self.send_header("Content-Length", "6")
            self.end_headers()
            self.wfile.write(b"secure")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self) -> tuple[socket.socket, Any]:
            conn, address = super().get_request()
            return context.wrap_socket(conn, server_side=True), address

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # refused handshakes are what some tests cause

    server = Server(("127.0.0.1", 0), Handler)
    seen.port = server.server_address[1]
    seen.url = f"https://images.test:{seen.port}/disk.img"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_https_checks_the_certificate_for_the_host_name(tls_server: TlsServer) -> None:
    resolver = Script({"images.test": [["127.0.0.1"]], "other.test": [["127.0.0.1"]]})
    fetcher = _fetcher(resolver, allow_private_addresses=True, ca_file=str(tls_server.ca))
    data = fetcher.open(tls_server.url)
    assert data.address == "127.0.0.1"
    assert _read(data) == b"secure"
    assert tls_server.names == ["images.test"]  # SNI: the name, not the address
    assert tls_server.hosts == [f"images.test:{tls_server.port}"]
    # The same server under a name its certificate does not carry is refused.
    with pytest.raises(FetchFailed, match=r"cannot connect to other\.test .*certificate"):
        fetcher.open(f"https://other.test:{tls_server.port}/disk.img")
    # And a certificate from an unknown CA too.
    with pytest.raises(FetchFailed, match="certificate verify failed"):
        _fetcher(resolver, allow_private_addresses=True).open(tls_server.url)
    assert len(tls_server.hosts) == 1
