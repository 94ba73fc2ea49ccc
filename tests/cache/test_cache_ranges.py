"""Ranged downloads of images the cache does not hold yet: each is answered from the store
at once, and starts (or joins) the one fill of the whole image, so readers that come back
for more ranges, or read in parallel ranges, end up served from the cache."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from cache_support import (
    ADMIN,
    MiB,
    cache_dir,
    cached,
    caller,
    lock_files,
    running_node,
    swift_reads,
    uploaded,
    wait_settled,
)
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from glimpse.testing import ServerProcess
from swift.harness import Swift


@pytest.fixture(scope="module")
def ranged(
    swift: Swift, container: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A node whose fills go on for 8 MiB after their readers left (12 MiB, 6 MiB at most
    an image)."""
    cache = {"BACKGROUND_FILL": str(8 * MiB)}
    with running_node(tmp_path_factory, swift, container, "ranged", workers=2, cache=cache) as srv:
        yield srv


@pytest.fixture
def client(ranged: ServerProcess) -> Iterator[httpx.Client]:
    with caller(ranged) as made:
        yield made


@pytest.fixture
def operator(ranged: ServerProcess) -> Iterator[httpx.Client]:
    with caller(ranged, roles=ADMIN) as made:
        yield made


@pytest.fixture(autouse=True)
def emptied(operator: httpx.Client) -> None:
    """An empty cache for each test: the files earlier tests' hits handed out would hold
    the room for a few seconds."""
    assert operator.delete("/v2/cache").status_code == 204


def counters(node: ServerProcess) -> dict[str, float]:
    text = httpx.get(f"{node.url}/metrics", timeout=30).text
    return {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith("glimpse_cache_")
    }


def get_range(node: ServerProcess, image_id: str, first: int, last: int | None) -> bytes:
    spec = f"bytes={first}-{'' if last is None else last}"
    with caller(node) as reader:
        response = reader.get(f"/v2/images/{image_id}/file", headers={"Range": spec})
    assert response.status_code == 206, response.text
    return response.content


def served_without_swift(client: httpx.Client, swift: Swift, image_id: str, data: bytes) -> None:
    swift.stop_proxy()
    try:
        whole = client.get(f"/v2/images/{image_id}/file")
        assert whole.status_code == 200
        assert whole.content == data
        part = client.get(f"/v2/images/{image_id}/file", headers={"Range": "bytes=5-1004"})
        assert part.status_code == 206
        assert part.content == data[5:1005]
    finally:
        swift.start_proxy()


def test_parallel_ranged_gets_on_a_cold_image_leave_it_cached(
    ranged: ServerProcess,
    client: httpx.Client,
    operator: httpx.Client,
    swift: Swift,
    container: str,
) -> None:
    data = os.urandom(5 * MiB + 7)
    image_id = uploaded(client, data)
    before, reads = counters(ranged), swift_reads(swift, container, image_id)
    step = len(data) // 4 + 1
    parts = [(n * step, min(len(data), (n + 1) * step) - 1) for n in range(4)]
    with ThreadPoolExecutor(4) as pool:
        bodies = list(pool.map(lambda p: get_range(ranged, image_id, *p), parts))
    assert b"".join(bodies) == data
    wait_settled(ranged, image_id)
    assert cached(operator)[image_id]["size"] == len(data)
    assert (cache_dir(ranged) / "images" / image_id).read_bytes() == data
    # Each range from the store, and at most one fill of the whole image.
    assert swift_reads(swift, container, image_id) - reads <= 5
    after = counters(ranged)
    assert after["glimpse_cache_fills_total"] - before["glimpse_cache_fills_total"] == 1
    failed = "glimpse_cache_failed_fills_total"
    assert after.get(failed, 0) == before.get(failed, 0)
    looked = ("glimpse_cache_misses_total", "glimpse_cache_hits_total")
    assert sum(after[k] - before.get(k, 0) for k in looked) == 4
    assert lock_files(ranged) == []
    served_without_swift(client, swift, image_id, data)


def test_a_resumed_download_ends_cached(
    ranged: ServerProcess, client: httpx.Client, operator: httpx.Client, swift: Swift
) -> None:
    data = os.urandom(3 * MiB + 1)
    image_id = uploaded(client, data)
    assert get_range(ranged, image_id, MiB, None) == data[MiB:]
    wait_settled(ranged, image_id)
    assert image_id in cached(operator)
    served_without_swift(client, swift, image_id, data)


def test_a_small_range_starts_a_fill_that_goes_on_within_the_limit(
    ranged: ServerProcess, client: httpx.Client, operator: httpx.Client, swift: Swift
) -> None:
    data = os.urandom(4 * MiB)  # below the background limit: the fill outlives the range
    image_id = uploaded(client, data)
    assert get_range(ranged, image_id, 0, 99) == data[:100]
    wait_settled(ranged, image_id)
    assert image_id in cached(operator)
    served_without_swift(client, swift, image_id, data)


def test_a_range_of_an_image_too_large_to_cache_fills_nothing(
    ranged: ServerProcess, client: httpx.Client, operator: httpx.Client
) -> None:
    data = os.urandom(7 * MiB)  # above max_fraction (0.5) of max_size (12 MiB)
    image_id = uploaded(client, data)
    assert get_range(ranged, image_id, 10, 2 * MiB) == data[10 : 2 * MiB + 1]
    wait_settled(ranged, image_id)
    assert image_id not in cached(operator)
    assert list((cache_dir(ranged) / "incomplete").iterdir()) == []
    assert not (cache_dir(ranged) / "images" / image_id).exists()
    assert lock_files(ranged) == []


@pytest.fixture(scope="module")
def probed(ranged: ServerProcess) -> tuple[str, bytes]:
    with caller(ranged) as client:
        data = os.urandom(MiB + 3)
        return uploaded(client, data), data


_SPEC = st.one_of(
    st.tuples(st.integers(0, MiB + 10), st.none() | st.integers(0, MiB + 10)).map(
        lambda r: f"bytes={r[0]}-{'' if r[1] is None else r[1]}"
    ),
    st.integers(0, MiB + 10).map(lambda n: f"bytes=-{n}"),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
)


@seed(20261303)
@settings(
    database=None,
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(spec=_SPEC, cold=st.booleans())
def test_random_ranges_on_misses_and_hits_answer_the_right_bytes(
    ranged: ServerProcess, operator: httpx.Client, probed: tuple[str, bytes], spec: str, cold: bool
) -> None:
    image_id, data = probed
    if cold:
        assert operator.delete(f"/v2/cache/{image_id}").status_code == 204
    response = operator.get(f"/v2/images/{image_id}/file", headers={"Range": spec})
    assert response.status_code < 500, response.text
    if response.status_code == 206:
        first, last = response.headers["content-range"].split()[1].split("/")[0].split("-")
        assert response.content == data[int(first) : int(last) + 1]
    elif response.status_code == 200:
        assert response.content == data
    else:
        assert response.status_code in (400, 416)
        assert response.json()["error"]["code"] == response.status_code
    wait_settled(ranged, image_id)
    assert list((cache_dir(ranged) / "incomplete").iterdir()) == []
