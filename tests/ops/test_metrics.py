"""GET /metrics over two workers: the values after known traffic, and who may read them."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ops_support import Launch, value

from glimpse.testing import ServerProcess
from helpers import make_image, trusted_headers, upload

IMAGE = "/v2/images/{image_id}"
FILE = "/v2/images/{image_id}/file"


@pytest.fixture(scope="module")
def server(launch: Launch) -> ServerProcess:
    return launch(workers=2, GLIMPSE_METRICS__EXPOSURE="open")


def _once(server: ServerProcess, method: str, path: str, **kwargs: object) -> httpx.Response:
    """One request on a connection of its own, so the workers take turns."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        return client.request(method, path, **kwargs)  # type: ignore[arg-type]


def _scrape(server: ServerProcess) -> str:
    response = _once(server, "GET", "/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def _workers_counted(server: ServerProcess) -> set[str]:
    """The processes that have counted a request: their files in the metrics directory."""
    assert server.process is not None
    directory = server.data_dir / "metrics" / str(server.process.pid)
    return {path.stem.split("_")[-1] for path in Path(directory).glob("counter_*.db")}


def test_counts_are_summed_over_both_workers(server: ServerProcess) -> None:
    before = _scrape(server)
    sent = 0
    # Each request on a new connection, until both workers have served some.
    while sent < 400 and (sent < 20 or len(_workers_counted(server)) < 2):
        assert _once(server, "GET", f"/v2/images/{uuid.uuid4()}").status_code == 404
        sent += 1
    assert len(_workers_counted(server)) == 2, "one worker served every request"
    after = _scrape(server)
    labels = {"route": IMAGE, "method": "GET"}
    counted = value(after, "glimpse_http_requests_total", status=404, **labels)
    assert counted - value(before, "glimpse_http_requests_total", status=404, **labels) == sent
    timed = value(after, "glimpse_http_request_duration_seconds_count", **labels)
    assert timed - value(before, "glimpse_http_request_duration_seconds_count", **labels) == sent
    # Raw paths never become labels.
    assert "/v2/images/0" not in after.replace("/v2/images/{image_id}", "")


def test_bytes_in_and_out_and_statuses_by_route(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        image = make_image(client)
    before = _scrape(server)
    data = b"x" * 1000
    path = f"/v2/images/{image['id']}/file"
    octets = {"Content-Type": "application/octet-stream"}
    assert _once(server, "PUT", path, content=data, headers=octets).status_code == 204
    for _ in range(2):
        assert _once(server, "GET", path).content == data
    after = _scrape(server)

    def delta(name: str, **labels: object) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("glimpse_http_requests_total", route=FILE, method="PUT", status=204) == 1
    assert delta("glimpse_http_requests_total", route=FILE, method="GET", status=200) == 2
    assert delta("glimpse_http_request_body_bytes_total", route=FILE, method="PUT") == 1000
    assert delta("glimpse_http_response_body_bytes_total", route=FILE, method="GET") == 2000
    assert value(after, "glimpse_uploads_in_flight") == 0
    assert value(after, "glimpse_downloads_in_flight") == 0


def test_registry_pool_of_every_worker(server: ServerProcess) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        page = _scrape(server)
        if value(page, "glimpse_registry_pool_size") == 2 * 5:  # two workers, pool_size 5
            break
        time.sleep(0.2)
    assert value(page, "glimpse_registry_pool_size") == 10
    assert 0 <= value(page, "glimpse_registry_pool_checked_out") <= 10


def test_uploads_in_flight(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        image = make_image(client)
    release = threading.Event()

    def slow() -> Iterator[bytes]:
        yield b"first part "
        release.wait(20)
        yield b"last part"

    done: list[int] = []

    def send() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            done.append(upload(client, image["id"], slow()).status_code)  # type: ignore[arg-type]

    sender = threading.Thread(target=send)
    sender.start()
    try:
        deadline = time.monotonic() + 10
        seen = 0.0
        while time.monotonic() < deadline and seen != 1:
            seen = value(_scrape(server), "glimpse_uploads_in_flight")
            time.sleep(0.1)
        assert seen == 1
    finally:
        release.set()
        sender.join()
    assert done == [204]
    assert value(_scrape(server), "glimpse_uploads_in_flight") == 0


def test_store_errors_by_store(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        image = make_image(client)
        assert upload(client, image["id"], b"data").status_code == 204
        for path in (server.data_dir / "images").iterdir():
            if image["id"] in path.name:
                path.unlink()
        before = _scrape(server)
        assert client.get(f"/v2/images/{image['id']}/file").status_code >= 400
    after = _scrape(server)
    labels = {"store": "file", "error": "ObjectNotFound"}
    assert (
        value(after, "glimpse_store_errors_total", **labels)
        - value(before, "glimpse_store_errors_total", **labels)
        == 1
    )


def test_exposure_off_is_404(launch: Launch) -> None:
    off = launch(GLIMPSE_METRICS__EXPOSURE="off")
    response = _once(off, "GET", "/metrics")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == 404


def test_exposure_admins(launch: Launch) -> None:
    admins = launch(GLIMPSE_METRICS__EXPOSURE="admins", GLIMPSE_IDENTITY__MODE="trusted-headers")
    assert _once(admins, "GET", "/metrics").status_code == 401
    member = _once(admins, "GET", "/metrics", headers=trusted_headers("p1"))
    assert member.status_code == 403
    assert member.json()["error"]["code"] == 403
    admin = _once(admins, "GET", "/metrics", headers=trusted_headers("p1", "admin"))
    assert admin.status_code == 200
    assert "glimpse_http_requests_total" in admin.text
