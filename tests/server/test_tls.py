"""TLS and mutual TLS with a CA made by the tests: the real clients over HTTPS, and
clients without a certificate of that CA refused."""

from __future__ import annotations

import http.client
import io
import os
import signal
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from glanceclient.v2.client import Client as GlanceClient
from serving import Authority, Issued, make_authority, wait_for

from glimpse.testing import ServerProcess
from helpers import BIN, property_table

#: requests prefers these to a client's own CA file (psf/requests#3829); a shell may set them.
CA_OVERRIDES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def glance(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """The `glance` command against ``server``, in an environment that lets --os-cacert count."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_") and k not in CA_OVERRIDES}
    return subprocess.run(
        [str(BIN / "glance"), "--os-image-url", server.url, "--os-auth-token", "x", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def client_context(authority: Authority, issued: Issued | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(authority.cert))
    if issued is not None:
        context.load_cert_chain(str(issued.cert), str(issued.key))
    return context


def tls_server(
    directory: Path, authority: Authority, client_ca: Path | None = None
) -> ServerProcess:
    issued = authority.issue(f"server-{directory.name}", server=True)
    env = {"GLIMPSE_SERVER__TLS_CERT": str(issued.cert), "GLIMPSE_SERVER__TLS_KEY": str(issued.key)}
    client = None
    if client_ca is not None:
        env["GLIMPSE_SERVER__TLS_CLIENT_CA"] = str(client_ca)
        client = authority.issue(f"probe-{directory.name}", server=False)
    return ServerProcess(data_dir=directory, env=env, tls=client_context(authority, client))


@pytest.fixture(scope="module")
def https(
    tmp_path_factory: pytest.TempPathFactory, authority: Authority
) -> Iterator[ServerProcess]:
    server = tls_server(tmp_path_factory.mktemp("https"), authority)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mutual(
    tmp_path_factory: pytest.TempPathFactory, authority: Authority
) -> Iterator[ServerProcess]:
    server = tls_server(tmp_path_factory.mktemp("mutual"), authority, client_ca=authority.cert)
    server.start()
    yield server
    server.stop()


def status(server: ServerProcess, context: ssl.SSLContext, path: str = "/versions") -> int:
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=10, context=context)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def test_glance_over_https(https: ServerProcess, authority: Authority, tmp_path: Path) -> None:
    assert https.url.startswith("https://")
    data = tmp_path / "disk.raw"
    data.write_bytes(b"\x01" * 100_000)
    ca = ["--os-cacert", str(authority.cert)]
    done = glance(
        https,
        *ca,
        *("image-create", "--name", "over-tls", "--disk-format", "raw"),
        *("--container-format", "bare", "--file", str(data)),
    )
    assert done.returncode == 0, done.stderr
    created = property_table(done.stdout)
    assert created["status"] == "active"
    assert created["size"] == "100000"
    fetched = tmp_path / "fetched.raw"
    done = glance(https, *ca, "image-download", "--file", str(fetched), created["id"])
    assert done.returncode == 0, done.stderr
    assert fetched.read_bytes() == data.read_bytes()


def test_a_client_without_the_ca_refuses_the_server(https: ServerProcess) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        status(https, ssl.create_default_context())  # the system's CAs only


def test_plain_http_on_the_tls_port_gets_no_answer(https: ServerProcess) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", https.port, timeout=10)
    conn.request("GET", "/versions")
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        conn.getresponse()
    conn.close()


def test_mutual_tls_admits_a_client_of_the_ca(mutual: ServerProcess, authority: Authority) -> None:
    client = authority.issue("client-admitted", server=False)
    assert status(mutual, client_context(authority, client), "/v2/images") == 200


def test_mutual_tls_refuses_a_client_without_a_certificate(
    mutual: ServerProcess, authority: Authority
) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError)):
        status(mutual, client_context(authority))


def test_mutual_tls_refuses_a_certificate_of_another_ca(
    mutual: ServerProcess, authority: Authority, tmp_path: Path
) -> None:
    stranger = make_authority(tmp_path, "stranger").issue("client-stranger", server=False)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        status(mutual, client_context(authority, stranger))


def test_glanceclient_with_a_client_certificate(
    mutual: ServerProcess, authority: Authority, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The library, not the `glance` command: with --os-image-url and a token the
    # command drops --os-cert and --os-key (it hands on cert= and key=, and its HTTP
    # client reads cert_file= and key_file=).
    for name in CA_OVERRIDES:
        monkeypatch.delenv(name, raising=False)
    client = authority.issue("client-glanceclient", server=False)
    glance_api = GlanceClient(
        mutual.url,
        token="x",
        cacert=str(authority.cert),
        cert_file=str(client.cert),
        key_file=str(client.key),
    )
    image = glance_api.images.create(name="mutual", disk_format="raw", container_format="bare")
    glance_api.images.upload(image.id, io.BytesIO(b"\x02" * 5000))
    assert glance_api.images.get(image.id).status == "active"
    assert b"".join(glance_api.images.data(image.id)) == b"\x02" * 5000
    refused = glance(mutual, "--os-cacert", str(authority.cert), "image-list")
    assert refused.returncode != 0


def test_sighup_picks_up_a_renewed_certificate(
    authority: Authority, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = tls_server(tmp_path_factory.mktemp("renewed"), authority)
    cert = Path(server.env["GLIMPSE_SERVER__TLS_CERT"])
    key = Path(server.env["GLIMPSE_SERVER__TLS_KEY"])
    server.start()
    try:
        assert _served_name(server, authority) == f"server-{server.data_dir.name}"
        renewed = authority.issue("renewed-server", server=True)
        cert.write_bytes(renewed.cert.read_bytes())  # renewed in place, as certbot does
        key.write_bytes(renewed.key.read_bytes())
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGHUP)
        wait_for(lambda: _served_name(server, authority) == "renewed-server", timeout=30)
    finally:
        server.stop()


def _served_name(server: ServerProcess, authority: Authority) -> str:
    context = client_context(authority)
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        peer = tls.getpeercert()
    subject = dict(item[0] for item in peer["subject"]) if peer else {}
    return str(subject.get("commonName", ""))
