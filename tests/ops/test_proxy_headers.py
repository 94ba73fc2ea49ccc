"""Behind a reverse proxy: forwarded scheme, host, prefix and client, from trusted proxies only."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from ops_support import Launch, wait_for_lines

from glimpse.testing import ServerProcess

FORWARDED = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "images.example.com",
    "X-Forwarded-For": "203.0.113.9",
}


@pytest.fixture(scope="module")
def proxied(launch: Launch, tmp_path_factory: pytest.TempPathFactory) -> tuple[ServerProcess, Path]:
    log = tmp_path_factory.mktemp("proxied") / "glimpse.log"
    server = launch(
        GLIMPSE_SERVER__TRUSTED_PROXIES='["127.0.0.1"]',
        GLIMPSE_LOGGING__FORMAT="json",
        GLIMPSE_LOGGING__DESTINATION=str(log),
    )
    return server, log


def _hrefs(response: httpx.Response) -> set[str]:
    return {link["href"] for v in response.json()["versions"] for link in v["links"]}


def test_x_forwarded_headers_make_the_public_url(proxied: tuple[ServerProcess, Path]) -> None:
    server, log = proxied
    response = httpx.get(f"{server.url}/versions", headers=FORWARDED, timeout=30)
    assert _hrefs(response) == {"https://images.example.com/v2/"}
    request_id = response.headers["x-openstack-request-id"]
    lines = wait_for_lines(log, lambda found: any(x["request_id"] == request_id for x in found))
    [line] = [x for x in lines if x["request_id"] == request_id]
    assert line["client"] == "203.0.113.9"


def test_forwarded_and_a_prefix(proxied: tuple[ServerProcess, Path]) -> None:
    server, _ = proxied
    headers = {
        "Forwarded": 'for="[2001:db8::7]";proto=https;host=cloud.example:8443',
        "X-Forwarded-Prefix": "/image",
    }
    response = httpx.get(f"{server.url}/v2", headers=headers, timeout=30)
    assert response.json()["version"]["links"][0]["href"] == "https://cloud.example:8443/image/v2/"


def test_location_of_a_new_image(proxied: tuple[ServerProcess, Path]) -> None:
    server, _ = proxied
    created = httpx.post(
        f"{server.url}/v2/images",
        json={"name": "proxied", "disk_format": "raw", "container_format": "bare"},
        headers=FORWARDED,
        timeout=30,
    )
    assert created.status_code == 201
    image_id = created.json()["id"]
    assert created.headers["location"] == f"https://images.example.com/v2/images/{image_id}"


def test_untrusted_peers_are_not_believed(launch: Launch) -> None:
    server = launch(GLIMPSE_SERVER__TRUSTED_PROXIES='["10.9.9.9", "192.0.2.0/24"]')
    headers = {**FORWARDED, "Forwarded": "proto=https;host=evil.example"}
    response = httpx.get(f"{server.url}/versions", headers=headers, timeout=30)
    assert _hrefs(response) == {f"{server.url}/v2/"}


def test_no_trusted_proxies_by_default(launch: Launch) -> None:
    server = launch()
    response = httpx.get(f"{server.url}/versions", headers=FORWARDED, timeout=30)
    assert _hrefs(response) == {f"{server.url}/v2/"}


def test_a_forwarded_client_counts_for_detail_networks(launch: Launch) -> None:
    server = launch(
        GLIMPSE_IDENTITY__MODE="trusted-headers",
        GLIMPSE_SERVER__TRUSTED_PROXIES='["127.0.0.1"]',
        GLIMPSE_HEALTH__DETAIL_NETWORKS='["127.0.0.0/8", "198.51.100.0/24"]',
    )
    inside = {"X-Forwarded-For": "198.51.100.20"}
    outside = {"X-Forwarded-For": "203.0.113.1"}
    assert httpx.get(f"{server.url}/healthcheck?detail", headers=inside).status_code == 200
    # The proxy itself is in a detail network, but the client it forwards is not.
    assert httpx.get(f"{server.url}/healthcheck?detail", headers=outside).status_code == 401
