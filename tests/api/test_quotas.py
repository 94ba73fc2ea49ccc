"""Per-project quotas at the HTTP boundary: they hold while bytes stream, and under races."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from glimpse.testing import ServerProcess
from helpers import make_image, start_server, store_files

MIB = 1 << 20

# Projects with limits of their own; every other project has none.
LIMITS = {
    "qsize": {"IMAGE_SIZE_TOTAL": "3"},
    "qrace": {"IMAGE_SIZE_TOTAL": "5"},
    "qchunk": {"IMAGE_SIZE_TOTAL": "5"},
    "qcount": {"IMAGE_COUNT_TOTAL": "2"},
    "qup": {"IMAGE_COUNT_UPLOADING": "1"},
    "qstream": {"IMAGE_SIZE_TOTAL": "2"},
    **{f"qsix{n}": {"IMAGE_SIZE_TOTAL": "2"} for n in range(4)},
    "qorder": {"IMAGE_SIZE_TOTAL": "2"},
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def quota_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """Two workers sharing one registry: the quota lock must hold across processes."""
    env = {"GLIMPSE_IDENTITY__MODE": "trusted-headers"}
    for project, limits in LIMITS.items():
        for name, value in limits.items():
            env[f"GLIMPSE_QUOTAS__PROJECTS__{project.upper()}__{name}"] = value
    url = ""
    if request.param == "postgresql":
        url = request.getfixturevalue("module_postgres_database")
    server = start_server(tmp_path_factory, url, env, workers=2, name="quota")
    yield server
    server.stop()


def caller(server: ServerProcess, project: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        timeout=60,
        headers={
            "X-Identity-Status": "Confirmed",
            "X-Project-Id": project,
            "X-User-Id": f"user-{project}",
            "X-Roles": "member,reader",
        },
    )


def put_file(client: httpx.Client, image_id: str, data: bytes | Iterator[bytes]) -> httpx.Response:
    return client.put(
        f"/v2/images/{image_id}/file",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )


def chunks(total: int, size: int = 256 * 1024) -> Iterator[bytes]:
    """A chunked body with no declared size."""
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b"q" * piece


def usage(client: httpx.Client) -> dict[str, dict[str, int]]:
    response = client.get("/v2/info/usage")
    assert response.status_code == 200, response.text
    found: dict[str, dict[str, int]] = response.json()["usage"]
    return found


def files_of(server: ServerProcess, image_ids: list[str]) -> list[str]:
    """Store files (complete or partial) that belong to the given images."""
    return [p.name for p in store_files(server) if any(i in p.name for i in image_ids)]


def test_usage_reports_limits_and_use_in_mib(quota_server: ServerProcess) -> None:
    with caller(quota_server, "qsize") as api:
        before = usage(api)
        assert before["image_size_total"]["limit"] == 3
        assert before["image_count_total"]["limit"] == -1
        assert set(before) == {
            "image_size_total",
            "image_stage_total",
            "image_count_total",
            "image_count_uploading",
        }
        image = make_image(api)
        assert put_file(api, image["id"], b"x" * MIB).status_code == 204
        after = usage(api)
        assert after["image_size_total"]["usage"] == before["image_size_total"]["usage"] + 1
        assert after["image_count_total"]["usage"] == before["image_count_total"]["usage"] + 1
        assert after["image_count_uploading"]["usage"] == 0
        assert api.delete(f"/v2/images/{image['id']}").status_code == 204
        assert usage(api)["image_size_total"]["usage"] == before["image_size_total"]["usage"]


@pytest.mark.parametrize("declared", [True, False], ids=["sized", "chunked"])
def test_crossing_the_size_quota_stores_nothing(
    quota_server: ServerProcess, declared: bool
) -> None:
    with caller(quota_server, "qsize") as api:
        image = make_image(api)
        body: bytes | Iterator[bytes] = b"z" * (5 * MIB) if declared else chunks(5 * MIB)
        response = put_file(api, image["id"], body)
        assert response.status_code == 413, response.text
        message = response.json()["error"]["message"]
        assert "image_size_total" in message
        assert str(3 * MIB) in message  # the limit, in bytes
        assert "qsize" in message
        shown = api.get(f"/v2/images/{image['id']}").json()
        assert shown["status"] == "queued"
        assert shown["size"] is None
        assert files_of(quota_server, [image["id"]]) == []
        assert usage(api)["image_size_total"]["usage"] == 0
        # What fits still goes in afterwards.
        assert put_file(api, image["id"], b"z" * (2 * MIB)).status_code == 204
        assert api.delete(f"/v2/images/{image['id']}").status_code == 204


def test_upload_is_stopped_where_it_crosses_not_after(quota_server: ServerProcess) -> None:
    """The server answers 413 while the client is still sending, long before the end."""
    with caller(quota_server, "qstream") as api:
        image = make_image(api)
        headers = dict(api.headers)
    url = urlsplit(quota_server.url)
    total = 256 * MIB
    piece = b"s" * (64 * 1024)
    sent = 0
    answer = b""
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        head = [
            f"PUT /v2/images/{image['id']}/file HTTP/1.1",
            f"Host: {url.netloc}",
            "Content-Type: application/octet-stream",
            "Transfer-Encoding: chunked",
            *[f"{k}: {v}" for k, v in headers.items() if k.lower().startswith("x-")],
        ]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sock.setblocking(False)
        while sent < total:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                time.sleep(0.005)
            else:
                sent += len(piece)
            try:
                answer += sock.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                break
            if b"\r\n\r\n" in answer:
                break
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 64 * MIB, f"the server let {sent} bytes through a 2 MiB quota"
    with caller(quota_server, "qstream") as api:
        assert api.get(f"/v2/images/{image['id']}").json()["status"] == "queued"
        assert usage(api)["image_size_total"]["usage"] == 0
    assert files_of(quota_server, [image["id"]]) == []


def _race(server: ServerProcess, project: str, bodies: list[bytes | Iterator[bytes]]) -> list[int]:
    with caller(server, project) as api:
        ids = [make_image(api)["id"] for _ in bodies]
    codes: list[int] = [0] * len(bodies)
    start = threading.Barrier(len(bodies))

    def upload(index: int) -> None:
        with caller(server, project) as api:
            start.wait()
            codes[index] = put_file(api, ids[index], bodies[index]).status_code

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with caller(server, project) as api:
        statuses = [api.get(f"/v2/images/{i}").json()["status"] for i in ids]
        used = usage(api)["image_size_total"]
    # Whatever the interleaving, the quota is never overshot and nothing half-written stays.
    assert used["usage"] <= used["limit"]
    assert statuses == ["active" if c == 204 else "queued" for c in codes]
    assert set(codes) <= {204, 413}
    assert len(files_of(server, ids)) == codes.count(204)
    return codes


def test_two_sized_uploads_racing_one_quota(quota_server: ServerProcess) -> None:
    """4 MiB + 4 MiB against 5 MiB: the whole declared size is reserved first, so one wins."""
    codes = _race(quota_server, "qrace", [b"a" * (4 * MIB), b"b" * (4 * MIB)])
    assert sorted(codes) == [204, 413]


def test_chunked_uploads_racing_one_quota_never_overshoot(quota_server: ServerProcess) -> None:
    codes = _race(quota_server, "qchunk", [chunks(4 * MIB), chunks(4 * MIB), chunks(4 * MIB)])
    assert codes.count(204) <= 1


@pytest.mark.parametrize("project", [f"qsix{n}" for n in range(4)])
def test_one_of_six_chunked_uploads_that_fit_alone_wins(
    quota_server: ServerProcess, project: str
) -> None:
    """Six chunked 1.5 MiB uploads against 2 MiB: each would fit on its own, so exactly
    one succeeds; none is refused for room that the others then give back.

    Which upload loses depends on timing, so the race runs in four projects.
    """
    everyone_holds_room = threading.Barrier(6, timeout=20)

    def body() -> Iterator[bytes]:
        # One whole block first, so that every upload has asked for room before
        # any of them asks for more; then the rest.
        yield from chunks(MIB)
        with contextlib.suppress(threading.BrokenBarrierError):
            everyone_holds_room.wait()
        time.sleep(0.3)
        yield from chunks(MIB // 2)

    codes = _race(quota_server, project, [body() for _ in range(6)])
    assert sorted(codes) == [204] + [413] * 5
    with caller(quota_server, project) as api:
        assert usage(api)["image_size_total"]["usage"] == 1  # MiB, rounded down


def test_an_edit_does_not_move_an_upload_back_in_line(quota_server: ServerProcess) -> None:
    """Competing uploads are ordered by when they started: renaming the older one while
    it uploads leaves it first, so it waits for room and the younger one gives way."""
    with caller(quota_server, "qorder") as api:
        older, younger = make_image(api), make_image(api)
    go = {"older": threading.Event(), "younger": threading.Event()}
    codes: dict[str, int] = {}

    def body(name: str) -> Iterator[bytes]:
        yield from chunks(MIB)  # one whole block: the first request for room
        go[name].wait(30)
        yield from chunks(MIB // 2)

    def upload(name: str, image: dict[str, Any]) -> None:
        with caller(quota_server, "qorder") as api:
            codes[name] = put_file(api, image["id"], body(name)).status_code

    def held_mib(api: httpx.Client) -> int:
        return usage(api)["image_size_total"]["usage"]

    threads = {n: threading.Thread(target=upload, args=(n, i)) for n, i in
               (("older", older), ("younger", younger))}  # fmt: skip
    with caller(quota_server, "qorder") as api:
        threads["older"].start()
        _wait_for(lambda: held_mib(api) >= 1)
        threads["younger"].start()
        _wait_for(lambda: held_mib(api) >= 2)
        rename = [{"op": "replace", "path": "/name", "value": "renamed"}]
        patched = api.patch(
            f"/v2/images/{older['id']}",
            json=rename,
            headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
        )
        assert patched.status_code == 200, patched.text
    go["older"].set()  # the older asks for more room, and must wait for it
    time.sleep(0.5)
    go["younger"].set()  # the younger asks too, and gives its room back
    for thread in threads.values():
        thread.join(60)
    assert codes == {"older": 204, "younger": 413}


def _wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_image_count_quota(quota_server: ServerProcess) -> None:
    with caller(quota_server, "qcount") as api:
        first = make_image(api)
        make_image(api)
        response = api.post("/v2/images", json={"name": "third"})
        assert response.status_code == 413
        message = response.json()["error"]["message"]
        assert "image_count_total" in message
        assert "2" in message
        assert api.delete(f"/v2/images/{first['id']}").status_code == 204
        make_image(api)
        # Another project is not affected.
    with caller(quota_server, "unlimited") as other:
        make_image(other)


def test_uploads_at_once_quota(quota_server: ServerProcess) -> None:
    """With image_count_uploading = 1, a second upload waits for the first to end."""
    with caller(quota_server, "qup") as api:
        slow = make_image(api)
        second = make_image(api)
    release = threading.Event()
    started = threading.Event()

    def slow_body() -> Iterator[bytes]:
        yield b"1" * (256 * 1024)
        started.set()
        release.wait(30)
        yield b"2" * (256 * 1024)

    result: dict[str, int] = {}

    def upload_slowly() -> None:
        with caller(quota_server, "qup") as api:
            result["slow"] = put_file(api, slow["id"], slow_body()).status_code

    thread = threading.Thread(target=upload_slowly)
    thread.start()
    try:
        assert started.wait(30)
        with caller(quota_server, "qup") as api:
            deadline = time.monotonic() + 30
            while api.get(f"/v2/images/{slow['id']}").json()["status"] != "saving":
                assert time.monotonic() < deadline
                time.sleep(0.02)
            response = put_file(api, second["id"], b"x" * 1024)
            assert response.status_code == 413
            assert "image_count_uploading" in response.json()["error"]["message"]
            assert api.get(f"/v2/images/{second['id']}").json()["status"] == "queued"
    finally:
        release.set()
        thread.join()
    assert result["slow"] == 204
    with caller(quota_server, "qup") as api:
        assert put_file(api, second["id"], b"x" * 1024).status_code == 204
