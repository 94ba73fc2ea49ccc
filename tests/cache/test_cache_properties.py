"""Random bad requests to the cache's admin routes, as an admin and not: every answer is
below 500 and every error is Glimpse's JSON body. Seeded, so a failure reproduces."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from cache_support import ADMIN, caller
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from glimpse.testing import ServerProcess

SETTINGS = settings(
    database=None,
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
_TEXT = st.text(max_size=80)
_HEADER = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.strip)


@pytest.fixture
def clients(node: ServerProcess) -> Iterator[list[httpx.Client]]:
    with caller(node, roles=ADMIN) as admin, caller(node) as member:
        yield [admin, member]


def _clean(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["error"]["code"] == response.status_code


@seed(20261301)
@SETTINGS
@given(
    who=st.integers(0, 1),
    method=st.sampled_from(["GET", "PUT", "DELETE", "POST", "PATCH", "HEAD"]),
    image_id=_TEXT,
    target=st.none() | _HEADER | st.sampled_from(["cache", "queue", "", "Queue", "both"]),
    body=st.none() | st.binary(max_size=64),
    tail=st.sampled_from(["", "/clean", "/prune", "/x/y"]),
)
def test_cache_routes_never_fail(
    clients: list[httpx.Client],
    who: int,
    method: str,
    image_id: str,
    target: str | None,
    body: bytes | None,
    tail: str,
) -> None:
    client = clients[who]
    extra = {} if target is None else {"x-image-cache-clear-target": target}
    path = f"/v2/cache/{quote(image_id, safe='')}" if image_id else "/v2/cache"
    response = client.request(method, path + tail, headers=extra, content=body)
    if method != "HEAD":
        _clean(response)
    else:
        assert response.status_code < 500
