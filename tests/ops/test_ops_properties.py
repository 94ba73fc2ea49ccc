"""Random forwarded headers and query strings to the operators' routes: never a 5xx.

The server trusts the test's own address as a proxy, so every header is parsed, and
lets it read the detailed healthcheck and the metrics. Seeded, so a failure reproduces.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from ops_support import Launch

from glimpse.api.middleware import parse_forwarded
from glimpse.testing import ServerProcess

PROPERTY_SETTINGS = settings(
    database=None,
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# What header values may hold on the wire: visible ASCII, spaces and tabs.
TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.just("\t"), max_size=60)
PIECES = st.sampled_from(
    ["for=", "proto=", "host=", "by=", '"', "\\", ";", ",", "=", " ", "[", "]", ":", "_hidden",
     "unknown", "127.0.0.1", "10.0.0.1", "::1", "[2001:db8::1]:80", "https", "http", "x.example"]
)  # fmt: skip
FORWARDED_LIKE = st.lists(PIECES | TEXT, max_size=8).map("".join)
# h11 sends no value with whitespace around it.
VALUES = FORWARDED_LIKE.map(str.strip)
HEADER_NAMES = st.sampled_from(
    ["Forwarded", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
     "X-Forwarded-Prefix", "Accept", "X-Auth-Token", "Authorization"]
)  # fmt: skip
HEADERS = st.lists(st.tuples(HEADER_NAMES, VALUES), max_size=6)
QUERIES = st.lists(
    st.tuples(st.sampled_from(["detail", "detailed", "x", "password", ""]), TEXT), max_size=3
)
PATHS = st.sampled_from(["/healthcheck", "/metrics", "/versions", "/v2", "/v2/images"])


@pytest.fixture(scope="module")
def server(launch: Launch) -> ServerProcess:
    return launch(
        GLIMPSE_SERVER__TRUSTED_PROXIES='["127.0.0.1", "::1"]',
        GLIMPSE_SERVER__DEBUG_REQUESTS="true",
        GLIMPSE_METRICS__EXPOSURE="open",
        GLIMPSE_HEALTH__DETAIL_NETWORKS='["0.0.0.0/0"]',
    )


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as api:
        yield api


@seed(20261231)
@PROPERTY_SETTINGS
@given(path=PATHS, headers=HEADERS, query=QUERIES)
def test_no_server_error(
    client: httpx.Client,
    path: str,
    headers: list[tuple[str, str]],
    query: list[tuple[str, str]],
) -> None:
    response = client.get(path, headers=headers, params=tuple(query))
    assert response.status_code < 500 or (path == "/healthcheck" and response.status_code == 503), (
        response.text
    )
    if response.status_code >= 400 and response.headers["content-type"] == "application/json":
        body = response.json()
        assert "error" in body or body.get("detailed") is not None


@seed(20261232)
@settings(database=None, max_examples=500, deadline=None)
@given(header=FORWARDED_LIKE)
def test_forwarded_parsing_never_fails(header: str) -> None:
    for element in parse_forwarded(header):
        assert element
        assert all(key == key.lower() and key for key in element)
