"""Access logs as JSON lines: one per request, each line of a request with its request id."""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from ops_support import Launch, log_lines, wait_for_lines, wait_for_text

from glimpse.testing import ServerProcess
from helpers import make_image, trusted_headers, upload


@pytest.fixture(scope="module")
def logged(launch: Launch, tmp_path_factory: pytest.TempPathFactory) -> tuple[ServerProcess, Path]:
    log = tmp_path_factory.mktemp("logs") / "glimpse.log"
    server = launch(
        workers=2,
        GLIMPSE_LOGGING__FORMAT="json",
        GLIMPSE_LOGGING__DESTINATION=str(log),
        GLIMPSE_IDENTITY__MODE="trusted-headers",
    )
    return server, log


def _access(lines: list[dict[str, object]], request_id: str) -> list[dict[str, object]]:
    return [
        line
        for line in lines
        if line["logger"] == "glimpse.access" and line["request_id"] == request_id
    ]


def test_one_line_per_request_with_its_facts(logged: tuple[ServerProcess, Path]) -> None:
    server, log = logged
    caller = trusted_headers("p-access", "admin,member")
    with httpx.Client(base_url=server.url, timeout=30, headers=caller) as client:
        image = make_image(client)
        stored = upload(client, image["id"], b"y" * 300)
        fetched = client.get(f"/v2/images/{image['id']}/file")
    assert stored.status_code == 204
    assert fetched.content == b"y" * 300
    put_id = stored.headers["x-openstack-request-id"]
    get_id = fetched.headers["x-openstack-request-id"]
    lines = wait_for_lines(log, lambda found: bool(_access(found, get_id)))
    [put] = _access(lines, put_id)
    [get] = _access(lines, get_id)
    assert put["method"] == "PUT"
    assert put["route"] == "/v2/images/{image_id}/file"
    assert put["path"] == f"/v2/images/{image['id']}/file"
    assert put["status"] == 204
    assert put["bytes_in"] == 300
    assert put["user"] == "user-p-access"
    assert put["project"] == "p-access"
    assert put["client"] == "127.0.0.1"
    assert isinstance(put["duration_ms"], float)
    assert put["worker"] in server.pids()
    assert get["bytes_out"] == 300
    assert get["status"] == 200
    assert get["level"] == "INFO"


def test_refused_requests_are_logged_by_route(logged: tuple[ServerProcess, Path]) -> None:
    server, log = logged
    response = httpx.get(f"{server.url}/v2/images/{uuid.uuid4()}", timeout=30)
    assert response.status_code == 401
    request_id = response.headers["x-openstack-request-id"]
    [line] = _access(
        wait_for_lines(log, lambda found: bool(_access(found, request_id))), request_id
    )
    assert line["route"] == "/v2/images/{image_id}"
    assert line["status"] == 401
    assert line["user"] == "-"


def test_concurrent_requests_keep_their_own_ids(logged: tuple[ServerProcess, Path]) -> None:
    server, log = logged
    caller = trusted_headers("p-many")
    paths = [f"/v2/images/{uuid.uuid4()}" for _ in range(60)]
    with httpx.Client(base_url=server.url, timeout=30, headers=caller) as client:

        def get(path: str) -> tuple[str, str]:
            return path, client.get(path).headers["x-openstack-request-id"]

        with ThreadPoolExecutor(16) as pool:
            answered = list(pool.map(get, paths))
    ids = {request_id for _, request_id in answered}
    lines = wait_for_lines(log, lambda found: ids <= {str(line["request_id"]) for line in found})
    for path, request_id in answered:
        [line] = _access(lines, request_id)
        assert line["path"] == path


def test_every_line_of_a_request_has_its_id(logged: tuple[ServerProcess, Path]) -> None:
    server, log = logged
    caller = trusted_headers("p-lost", "admin,member")
    with httpx.Client(base_url=server.url, timeout=30, headers=caller) as client:
        image = make_image(client)
        assert upload(client, image["id"], b"bytes").status_code == 204
        for path in (server.data_dir / "images").iterdir():
            if image["id"] in path.name:
                path.unlink()
        response = client.get(f"/v2/images/{image['id']}/file")
    request_id = response.headers["x-openstack-request-id"]
    lines = wait_for_lines(log, lambda found: bool(_access(found, request_id)))
    # The service's warning, logged in the thread pool, names the request.
    [warning] = [
        line for line in lines if line["level"] == "WARNING" and image["id"] in str(line["message"])
    ]
    assert warning["request_id"] == request_id
    assert warning["logger"] == "glimpse.service.data"


def test_lines_outside_requests_have_no_id(logged: tuple[ServerProcess, Path]) -> None:
    _, log = logged
    started = [line for line in log_lines(log) if line["logger"] == "glimpse.server"]
    assert started
    assert all(line["request_id"] == "-" for line in started)


def test_text_lines_name_the_request(launch: Launch) -> None:
    server = launch(GLIMPSE_LOGGING__ACCESS_LOG="true")
    response = httpx.get(f"{server.url}/versions", timeout=30)
    request_id = response.headers["x-openstack-request-id"]
    pattern = re.compile(
        rf"INFO glimpse\.access \[{request_id}\] 127\.0\.0\.1 \"GET /versions\" 200 in=0 "
        rf"out=\d+ [0-9.]+ms route=/versions user=- project=- worker=\d+"
    )
    text = wait_for_text(server, pattern)
    assert pattern.search(text), text


def test_access_log_off(launch: Launch, tmp_path_factory: pytest.TempPathFactory) -> None:
    log = tmp_path_factory.mktemp("quiet") / "glimpse.log"
    server = launch(
        GLIMPSE_LOGGING__ACCESS_LOG="false",
        GLIMPSE_LOGGING__FORMAT="json",
        GLIMPSE_LOGGING__DESTINATION=str(log),
    )
    assert httpx.get(f"{server.url}/versions", timeout=30).status_code == 200
    server.stop()  # every line is written by then
    lines = log_lines(log)
    assert [line for line in lines if line["logger"] == "glimpse.server"]
    assert not [line for line in lines if line["logger"] == "glimpse.access"]
