"""Connections as a client meets them: IPv6, header limits, keep-alive, and the clients
``client_socket_timeout`` cuts off (idle, stalled uploads, readers that stopped) or spares
(an upload that is slow but moving)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from serving import error_body, wait_for

from glimpse.testing import ServerProcess
from helpers import make_image


def exchange(server: ServerProcess, request: bytes, linger: float = 2) -> tuple[bytes, bool]:
    """Send ``request`` raw; the answer, and whether the server closed the connection
    within ``linger`` seconds of it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        closed = False
        while not _complete(received):
            chunk = sock.recv(65536)
            if not chunk:
                closed = True
                break
            received += chunk
        if not closed:
            sock.settimeout(linger)
            try:
                closed = sock.recv(1) == b""
            except TimeoutError:
                closed = False
        return received, closed


def read_answer(sock: socket.socket) -> bytes:
    """One whole answer (its Content-Length worth of body) from ``sock``."""
    received = b""
    while not _complete(received):
        chunk = sock.recv(65536)
        assert chunk, f"the connection ended inside the answer: {received[:200]!r}"
        received += chunk
    return received


def _complete(received: bytes) -> bool:
    head, sep, body = received.partition(b"\r\n\r\n")
    if not sep:
        return False
    if head.split(b" ", 2)[1] in (b"204", b"304"):
        return True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def split(response: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def access_line(server: ServerProcess, request_id: str) -> str:
    """The access log's line for ``request_id``, once it is written."""
    found: list[str] = []

    def written() -> bool:
        found[:] = [
            line
            for line in server.log().splitlines()
            if "glimpse.access" in line and f"[{request_id}]" in line
        ]
        return bool(found)

    wait_for(written, timeout=10, what=f"the access line of {request_id}")
    [line] = found
    return line


def get(path: str, *headers: str) -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        data_dir=tmp_path_factory.mktemp("limited"),
        env={
            "GLIMPSE_SERVER__MAX_HEADER_LINE": "1024",
            "GLIMPSE_SERVER__MAX_HEADER_SIZE": "4096",
            "GLIMPSE_SERVER__CLIENT_SOCKET_TIMEOUT": "2",
            "GLIMPSE_SERVER__KEEPALIVE_TIMEOUT": "1",
            "GLIMPSE_SERVER__TCP_KEEPIDLE": "77",
        },
    )
    server.start()
    yield server
    server.stop()


def test_ipv6_loopback(start: Callable[..., ServerProcess]) -> None:
    server = start(host="::1")
    assert server.url.startswith("http://[::1]:")
    response = httpx.get(f"{server.url}/v2/images", timeout=10)
    assert response.status_code == 200
    assert response.json()["images"] == []
    # The IPv4 loopback is another address: nothing listens there.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


def test_header_line_too_long_is_431_json(limited: ServerProcess) -> None:
    answer, closed = exchange(limited, get("/v2/images", "X-Long: " + "a" * 1100))
    status, headers, body = split(answer)
    assert status == 431
    assert headers["content-type"] == "application/json"
    assert headers["x-openstack-request-id"].startswith("req-")
    error = error_body(body)
    assert error["code"] == 431
    assert error["title"] == "Request Header Fields Too Large"
    assert "x-long" in str(error["message"]).lower()
    assert closed
    assert '"GET /v2/images" 431 ' in access_line(limited, headers["x-openstack-request-id"])


def test_headers_too_large_in_total_is_431_json(limited: ServerProcess) -> None:
    many = [f"X-Part-{i}: {'b' * 900}" for i in range(5)]  # each line fits, together not
    status, _, body = split(exchange(limited, get("/v2/images", *many))[0])
    assert status == 431
    assert "4096" in str(error_body(body)["message"])


def test_headers_within_the_limits_pass(limited: ServerProcess) -> None:
    fine = [f"X-Part-{i}: {'c' * 900}" for i in range(3)]
    status, _, _ = split(exchange(limited, get("/v2/images", *fine))[0])
    assert status == 200


def test_keep_alive_on_by_default(limited: ServerProcess) -> None:
    answer, closed = exchange(limited, get("/versions"), linger=0.3)
    status, headers, _ = split(answer)
    assert status == 200
    assert headers.get("connection") != "close"
    assert not closed


def test_keep_alive_off_closes_every_connection(start: Callable[..., ServerProcess]) -> None:
    server = start(GLIMPSE_SERVER__HTTP_KEEPALIVE="false")
    for path in ("/versions", "/v2/images"):
        answer, closed = exchange(server, get(path))
        status, headers, _ = split(answer)
        assert status == 200
        assert headers["connection"] == "close"
        assert closed


def test_idle_connection_is_closed(limited: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", limited.port), timeout=10) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""  # never sent a byte: closed all the same
        assert time.monotonic() - started < 5
    with socket.create_connection(("127.0.0.1", limited.port), timeout=10) as sock:
        sock.sendall(get("/versions"))
        read_answer(sock)
        assert sock.recv(1) == b""  # idle after an answer


def test_keepalive_probes_use_tcp_keepidle(limited: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", limited.port), timeout=10) as sock:
        sock.sendall(get("/versions"))
        read_answer(sock)
        mine = f"{sock.getsockname()[1]:04X}"
        # The server's end of this connection: its keep-alive timer (kind 2) is armed
        # with about 77 s, in the kernel's clock ticks.
        ticks = 100
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, timer = fields[1], fields[2], fields[5]
            if local.endswith(f":{limited.port:04X}") and remote.endswith(f":{mine}"):
                kind, when = timer.split(":")
                assert kind == "02"
                assert 70 * ticks <= int(when, 16) <= 77 * ticks
                return
    pytest.fail("the server's end of the connection is not in /proc/net/tcp")


def _start_upload(server: ServerProcess, size: int) -> tuple[socket.socket, str]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        image = make_image(client)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    sock.sendall(
        f"PUT /v2/images/{image['id']}/file HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n".encode()
    )
    return sock, image["id"]


def _status_of(server: ServerProcess, image_id: str) -> str:
    status: str = httpx.get(f"{server.url}/v2/images/{image_id}", timeout=10).json()["status"]
    return status


def test_stalled_upload_is_cut_off(limited: ServerProcess) -> None:
    sock, image_id = _start_upload(limited, 10 << 20)
    with sock:
        sock.sendall(b"x" * (1 << 20))
        started = time.monotonic()
        received = b""
        while chunk := sock.recv(65536):  # nothing more sent: the server ends it
            received += chunk
        assert time.monotonic() - started < 10
    status, headers, body = split(received)
    assert status == 408
    assert headers["connection"] == "close"
    assert error_body(body)["code"] == 408
    # Logged as what the client was told, with the id it was given.
    line = access_line(limited, headers["x-openstack-request-id"])
    assert f'"PUT /v2/images/{image_id}/file" 408 ' in line
    wait_for(lambda: _status_of(limited, image_id) == "queued", what="the upload undone")


def test_slow_upload_that_moves_is_not_cut(limited: ServerProcess) -> None:
    chunk, count = 64 << 10, 5
    sock, image_id = _start_upload(limited, chunk * count)
    with sock:
        for _ in range(count):  # 1.5 s between pieces, 6 s in all, timeout 2 s
            sock.sendall(b"y" * chunk)
            time.sleep(1.5)
        received = read_answer(sock)
    assert split(received)[0] == 204
    assert _status_of(limited, image_id) == "active"


def test_reader_that_stopped_is_cut_off(limited: ServerProcess) -> None:
    size = 64 << 20
    with httpx.Client(base_url=limited.url, timeout=30) as client:
        image = make_image(client)
        done = client.put(
            f"/v2/images/{image['id']}/file",
            content=b"z" * size,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 204
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 10)  # a window that fills fast
    sock.settimeout(30)
    with sock:
        sock.connect(("127.0.0.1", limited.port))
        sock.sendall(get(f"/v2/images/{image['id']}/file"))
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        time.sleep(6)  # read nothing: the window stays shut past client_socket_timeout
        received = 0
        with pytest.raises(ConnectionResetError):  # noqa: PT012 - reading until the reset
            while chunk := sock.recv(1 << 20):
                received += len(chunk)
            pytest.fail(f"the whole image came ({received} bytes): the reader was not cut off")
    assert received < size
    assert httpx.get(f"{limited.url}/versions", timeout=10).status_code == 200
