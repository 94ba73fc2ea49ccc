"""Image data: streamed upload, hashes, ranged download, and every failure leaving nothing."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from glimpse.testing import ServerProcess
from helpers import make_image, store_files, upload


def _chunks(data: bytes, size: int = 65536) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_upload_sized_then_download(api: httpx.Client) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    image = make_image(api)
    response = upload(api, image["id"], data, **{"x-openstack-image-size": str(len(data))})
    assert response.status_code == 204
    assert response.content == b""
    shown = api.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "active"
    assert shown["size"] == len(data)
    assert shown["virtual_size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_algo"] == "sha512"
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    got = api.get(f"/v2/images/{image['id']}/file")
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-md5"] == hashlib.md5(data).hexdigest()
    assert got.headers["content-length"] == str(len(data))


def test_upload_chunked(api: httpx.Client) -> None:
    data = os.urandom(2 * 1024 * 1024 + 3)
    image = make_image(api)
    response = api.put(
        f"/v2/images/{image['id']}/file",
        content=_chunks(data),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 204
    assert api.get(f"/v2/images/{image['id']}/file").content == data


def test_empty_upload_is_active_with_zero_size(api: httpx.Client) -> None:
    image = make_image(api)
    assert upload(api, image["id"], b"").status_code == 204
    shown = api.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "active"
    assert shown["size"] == 0
    assert shown["checksum"] == hashlib.md5(b"").hexdigest()


def test_download_of_queued_image_is_204(api: httpx.Client) -> None:
    image = make_image(api)
    response = api.get(f"/v2/images/{image['id']}/file")
    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.parametrize(
    ("header", "status", "expect"),
    [
        ("bytes=0-9", 206, (0, 9)),
        ("bytes=10-", 206, (10, 99)),
        ("bytes=-5", 206, (95, 99)),
        ("bytes=90-200", 206, (90, 99)),
        ("bytes=100-", 416, None),
        ("bytes=5-2", 416, None),
        ("bytes=0-1,5-6", 400, None),
        ("pages=1-2", 416, None),  # an unknown unit cannot be satisfied, as Glance answers
    ],
)
def test_range(api: httpx.Client, header: str, status: int, expect: tuple[int, int] | None) -> None:
    data = bytes(range(100))
    image = make_image(api)
    upload(api, image["id"], data)
    response = api.get(f"/v2/images/{image['id']}/file", headers={"Range": header})
    assert response.status_code == status, response.text
    if expect is not None:
        start, end = expect
        assert response.content == data[start : end + 1]
        assert response.headers["content-range"] == f"bytes {start}-{end}/100"
        # Content-MD5 is the whole image's, even on a partial answer.
        assert response.headers["content-md5"] == hashlib.md5(data).hexdigest()
    if status == 416:
        assert response.headers["content-range"] == "bytes */100"


def test_legacy_content_range_request(api: httpx.Client) -> None:
    data = bytes(range(50))
    image = make_image(api)
    upload(api, image["id"], data)
    response = api.get(f"/v2/images/{image['id']}/file", headers={"Content-Range": "bytes 5-9/*"})
    assert response.status_code == 206
    assert response.content == data[5:10]


def _assert_untouched(api: httpx.Client, server: ServerProcess, image_id: str) -> None:
    shown = api.get(f"/v2/images/{image_id}").json()
    assert shown["status"] == "queued"
    assert shown["size"] is None
    assert shown["checksum"] is None
    assert not [p for p in store_files(server) if image_id in p.name]


def test_wrong_content_type_is_415(api: httpx.Client, server: ServerProcess) -> None:
    image = make_image(api)
    response = api.put(
        f"/v2/images/{image['id']}/file", content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    _assert_untouched(api, server, image["id"])


@pytest.mark.parametrize("declared", ["5", "500", "abc"])
def test_declared_size_must_match(api: httpx.Client, server: ServerProcess, declared: str) -> None:
    image = make_image(api)
    response = upload(api, image["id"], b"0123456789", **{"x-openstack-image-size": declared})
    assert response.status_code == 400
    _assert_untouched(api, server, image["id"])


def test_upload_without_formats_is_400(api: httpx.Client, server: ServerProcess) -> None:
    response = api.post("/v2/images", json={"name": "no-formats"})
    image = response.json()
    response = upload(api, image["id"], b"data")
    assert response.status_code == 400
    assert "disk_format" in response.json()["error"]["message"]
    _assert_untouched(api, server, image["id"])


def test_second_upload_is_409(api: httpx.Client) -> None:
    image = make_image(api)
    assert upload(api, image["id"], b"first").status_code == 204
    response = upload(api, image["id"], b"second")
    assert response.status_code == 409
    assert api.get(f"/v2/images/{image['id']}/file").content == b"first"


def test_upload_to_missing_image_is_404(api: httpx.Client) -> None:
    response = upload(api, "00000000-0000-0000-0000-000000000001", b"x")
    assert response.status_code == 404


@pytest.mark.parametrize("target", ["missing", "over-cap", "no-formats"])
def test_early_refusals_of_large_uploads_reach_the_client(
    limited_server: ServerProcess, target: str
) -> None:
    """Refused before its bytes are read, a big upload still gets its answer, not a reset."""
    body = b"r" * (24 * 1024 * 1024)  # far more than the sockets buffer
    expected = {"missing": 404, "over-cap": 413, "no-formats": 400}[target]
    with httpx.Client(base_url=limited_server.url, timeout=30) as client:
        if target == "missing":
            image_id = "00000000-0000-0000-0000-000000000002"
        elif target == "over-cap":
            image_id = make_image(client)["id"]
        else:
            image_id = client.post("/v2/images", json={"name": "bare"}).json()["id"]
        for _ in range(3):
            response = upload(client, image_id, body)
            assert response.status_code == expected, response.text
            assert response.json()["error"]["code"] == expected
            # The unread body spoils the connection: the client is told not to reuse it.
            assert response.headers["connection"] == "close"
            assert client.get(f"/v2/images/{image_id}").status_code in (200, 404)


def test_answers_after_reading_the_body_keep_the_connection(limited_server: ServerProcess) -> None:
    with httpx.Client(base_url=limited_server.url, timeout=30) as client:
        image = make_image(client)
        response = upload(client, image["id"], b"k" * 1024)
        assert response.status_code == 204
        assert response.headers.get("connection", "").lower() != "close"


def test_size_cap_stops_the_stream(limited_server: ServerProcess) -> None:
    with httpx.Client(base_url=limited_server.url, timeout=30) as client:
        image = make_image(client)
        data = os.urandom(2 * 1024 * 1024)
        try:
            response = client.put(
                f"/v2/images/{image['id']}/file",
                content=_chunks(data),
                headers={"Content-Type": "application/octet-stream"},
            )
            assert response.status_code == 413
        except httpx.TransportError:
            pass  # the server may close the connection before reading the rest
        _assert_untouched(client, limited_server, image["id"])
        declared = upload(client, image["id"], b"x", **{"x-openstack-image-size": str(2 << 20)})
        assert declared.status_code == 413
        _assert_untouched(client, limited_server, image["id"])


def _raw_put(server: ServerProcess, image_id: str, headers: str, body: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(
        f"PUT /v2/images/{image_id}/file HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/octet-stream\r\n{headers}\r\n".encode()
        + body
    )
    return sock


def _wait_for_status(api: httpx.Client, image_id: str, status: str) -> dict[str, object]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        shown: dict[str, object] = api.get(f"/v2/images/{image_id}").json()
        if shown["status"] == status:
            return shown
        time.sleep(0.05)
    raise AssertionError(f"image {image_id} never reached {status}")


def test_client_disconnect_returns_image_to_queued(
    api: httpx.Client, server: ServerProcess
) -> None:
    image = make_image(api)
    sock = _raw_put(server, image["id"], "Content-Length: 10000000\r\n", os.urandom(3 << 20))
    _wait_for_status(api, image["id"], "saving")
    # A second upload while the first streams is refused.
    assert upload(api, image["id"], b"racer").status_code == 409
    sock.close()
    _wait_for_status(api, image["id"], "queued")
    _assert_untouched(api, server, image["id"])
    # And the image can be uploaded again.
    assert upload(api, image["id"], b"again").status_code == 204


def test_delete_during_upload_leaves_nothing(api: httpx.Client, server: ServerProcess) -> None:
    image = make_image(api)
    sock = _raw_put(server, image["id"], "Transfer-Encoding: chunked\r\n", b"")
    block = os.urandom(1 << 20)
    for _ in range(3):
        sock.sendall(f"{len(block):x}\r\n".encode() + block + b"\r\n")
    _wait_for_status(api, image["id"], "saving")
    assert api.delete(f"/v2/images/{image['id']}").status_code == 204
    sock.sendall(f"{len(block):x}\r\n".encode() + block + b"\r\n0\r\n\r\n")
    sock.settimeout(30)
    reply = sock.recv(4096)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 410"), reply[:200]
    assert api.get(f"/v2/images/{image['id']}").status_code == 404
    assert not [p for p in store_files(server) if image["id"] in p.name]
