"""GET /healthcheck as oslo.middleware's: OK for load balancers, 503 while the disable file
exists, and a detailed form for admins and configured networks."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ops_support import Launch

from glimpse.testing import ServerProcess
from helpers import trusted_headers

SECRET = "sekrit-key-never-shown"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def disable_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("health") / "healthcheck_disable"


@pytest.fixture(scope="module")
def server(launch: Launch, disable_file: Path) -> ServerProcess:
    return launch(
        GLIMPSE_IDENTITY__MODE="trusted-headers",
        GLIMPSE_HEALTH__DISABLE_FILE=str(disable_file),
    )


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as api:
        yield api


def test_ok_without_credentials(client: httpx.Client) -> None:
    response = client.get("/healthcheck")
    assert response.status_code == 200
    assert response.text == "OK"
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["x-openstack-request-id"].startswith("req-")
    assert client.head("/healthcheck").status_code == 204
    as_json = client.get("/healthcheck", headers={"Accept": "application/json"})
    assert as_json.json() == {"detailed": False, "reasons": ["OK"]}


def test_disable_file_takes_the_node_out(client: httpx.Client, disable_file: Path) -> None:
    disable_file.touch()
    try:
        response = client.get("/healthcheck")
        assert response.status_code == 503
        assert response.text == "DISABLED BY FILE"
        assert client.head("/healthcheck").status_code == 503
        detail = client.get("/healthcheck?detail", headers=trusted_headers("p", "admin"))
        assert detail.status_code == 503
        assert detail.json()["reasons"] == ["DISABLED BY FILE"]
    finally:
        disable_file.unlink()
    assert client.get("/healthcheck").status_code == 200


def test_detail_for_admins(client: httpx.Client) -> None:
    response = client.get("/healthcheck?detail", headers=trusted_headers("p", "admin"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["detailed"] is True
    assert body["reasons"] == ["OK"]
    registry = body["registry"]
    assert registry["available"] is True
    assert registry["backend"] == "sqlite"
    assert isinstance(registry["latency_ms"], float)
    assert registry["revision"]
    store = body["stores"]["file"]
    assert store == {
        "available": True,
        "latency_ms": store["latency_ms"],
        "driver": "file",
        "default": True,
    }


def test_detail_refused_to_others(client: httpx.Client) -> None:
    assert client.get("/healthcheck?detail").status_code == 401
    member = client.get("/healthcheck?detail", headers=trusted_headers("p"))
    assert member.status_code == 403
    assert "detail_networks" in member.json()["error"]["message"]
    # detail=0 is the plain form, for anyone.
    assert client.get("/healthcheck?detail=0").text == "OK"


def test_detail_for_a_configured_network(launch: Launch) -> None:
    server = launch(
        GLIMPSE_IDENTITY__MODE="trusted-headers",
        GLIMPSE_HEALTH__DETAIL_NETWORKS='["127.0.0.0/8"]',
    )
    response = httpx.get(f"{server.url}/healthcheck?detail", timeout=30)
    assert response.status_code == 200
    assert response.json()["registry"]["available"] is True


def test_a_store_out_of_reach_is_reported_without_credentials(launch: Launch) -> None:
    server = launch(
        GLIMPSE_STORES__FAR__DRIVER="s3",
        GLIMPSE_STORES__FAR__ENDPOINT_URL=f"http://127.0.0.1:{_closed_port()}",
        GLIMPSE_STORES__FAR__ACCESS_KEY="AKIDEXAMPLE",
        GLIMPSE_STORES__FAR__SECRET_KEY=SECRET,
        GLIMPSE_STORES__FAR__CONNECT_TIMEOUT="1.0",
    )
    assert httpx.get(f"{server.url}/healthcheck", timeout=30).text == "OK"
    response = httpx.get(f"{server.url}/healthcheck?detail", timeout=60)  # admins: mode none
    assert response.status_code == 503
    body = response.json()
    far = body["stores"]["far"]
    assert far["available"] is False
    assert far["driver"] == "s3"
    assert far["error"]
    assert body["stores"]["file"]["available"] is True
    assert body["registry"]["available"] is True
    assert body["reasons"] == [f"store far unavailable: {far['error']}"]
    assert SECRET not in response.text
    assert "AKIDEXAMPLE" not in response.text
