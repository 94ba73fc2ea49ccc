"""Glance's cache API on a cached node: who may use it, what it answers, the clear targets,
the prefetcher; and the cache's counters on /metrics."""

from __future__ import annotations

import os
import time

import httpx
import pytest
from cache_support import MiB, cached, caller, uploaded, wait_settled

from glimpse.testing import ServerProcess
from helpers import make_image

ROUTES = [
    ("GET", "/v2/cache"),
    ("DELETE", "/v2/cache"),
    ("PUT", "/v2/cache/{id}"),
    ("DELETE", "/v2/cache/{id}"),
    ("POST", "/v2/cache/prune"),
    ("POST", "/v2/cache/clean"),
]


def queued(admin: httpx.Client) -> list[str]:
    found: list[str] = admin.get("/v2/cache").json()["queued_images"]
    return found


def wait_cached(admin: httpx.Client, image_id: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while image_id not in cached(admin):
        assert time.monotonic() < deadline, "the prefetcher did not cache the image"
        time.sleep(0.1)


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_non_admins_get_403(member: httpx.Client, method: str, path: str) -> None:
    image_id = uploaded(member, b"x" * 100)
    response = member.request(method, path.format(id=image_id))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == 403


def test_listing_has_glance_shape(
    node: ServerProcess, member: httpx.Client, admin: httpx.Client
) -> None:
    data = os.urandom(MiB)
    image_id = uploaded(member, data)
    before = time.time()
    assert member.get(f"/v2/images/{image_id}/file").content == data
    wait_settled(node, image_id)
    listing = admin.get("/v2/cache").json()
    assert set(listing) == {"cached_images", "queued_images"}
    entry = next(e for e in listing["cached_images"] if e["image_id"] == image_id)
    assert set(entry) == {"image_id", "hits", "last_accessed", "last_modified", "size"}
    assert entry["size"] == len(data)
    assert entry["hits"] == 0
    assert isinstance(entry["last_accessed"], float)
    assert entry["last_accessed"] >= before - 1
    member.get(f"/v2/images/{image_id}/file")
    assert cached(admin)[image_id]["hits"] == 1


def test_queue_prefetches_and_delete_removes(
    node: ServerProcess, member: httpx.Client, admin: httpx.Client
) -> None:
    data = os.urandom(MiB)
    image_id = uploaded(member, data)
    assert admin.put(f"/v2/cache/{image_id}").status_code == 202
    wait_cached(admin, image_id)
    assert image_id not in queued(admin)
    assert (node.data_dir / "cache" / "images" / image_id).read_bytes() == data
    assert admin.delete(f"/v2/cache/{image_id}").status_code == 204
    assert image_id not in cached(admin)
    assert member.get(f"/v2/images/{image_id}/file").content == data


def test_queue_refuses_what_cannot_be_cached(member: httpx.Client, admin: httpx.Client) -> None:
    missing = admin.put("/v2/cache/6d3a0f43-5b7e-4b8e-9b8f-7b1b1b1b1b1b")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == 404
    empty = make_image(member)["id"]
    refused = admin.put(f"/v2/cache/{empty}")
    assert refused.status_code == 400
    assert "active" in refused.json()["error"]["message"]
    assert admin.put("/v2/cache/not%20an%20id").status_code == 404


def test_clear_targets(node: ServerProcess, member: httpx.Client, admin: httpx.Client) -> None:
    # The prefetcher is held off by queueing while its slots are taken by the test.
    slots = [(node.data_dir / "cache" / "locks" / f".prefetch-{n}") for n in range(2)]
    import fcntl

    held = []
    for slot in slots:
        fd = os.open(slot, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        held.append(fd)
    try:
        first, second = (uploaded(member, os.urandom(1000)) for _ in range(2))
        member.get(f"/v2/images/{first}/file")
        wait_settled(node, first)
        assert admin.put(f"/v2/cache/{second}").status_code == 202
        assert second in queued(admin)

        bad = admin.delete("/v2/cache", headers={"x-image-cache-clear-target": "everything"})
        assert bad.status_code == 400
        assert "x-image-cache-clear-target" in bad.json()["error"]["message"]

        assert (
            admin.delete("/v2/cache", headers={"x-image-cache-clear-target": "queue"}).status_code
            == 204
        )
        assert queued(admin) == []
        assert first in cached(admin)
        assert admin.put(f"/v2/cache/{second}").status_code == 202
        assert (
            admin.delete("/v2/cache", headers={"x-image-cache-clear-target": "CACHE"}).status_code
            == 204
        )
        assert cached(admin) == {}
        assert second in queued(admin)
        member.get(f"/v2/images/{first}/file")
        wait_settled(node, first)
        assert admin.delete("/v2/cache").status_code == 204
        assert cached(admin) == {}
        assert queued(admin) == []
    finally:
        for fd in held:
            os.close(fd)


def test_prune_and_clean_answer(admin: httpx.Client) -> None:
    pruned = admin.post("/v2/cache/prune")
    assert pruned.status_code == 200
    assert pruned.json() == {"total_files_pruned": 0, "total_bytes_pruned": 0}
    cleaned = admin.post("/v2/cache/clean")
    assert cleaned.status_code == 200
    assert set(cleaned.json()) == {"total_files_cleaned"}


def test_metrics_count_the_cache(
    node: ServerProcess, member: httpx.Client, admin: httpx.Client
) -> None:
    data = os.urandom(MiB)
    image_id = uploaded(member, data)
    member.get(f"/v2/images/{image_id}/file")
    wait_settled(node, image_id)
    member.get(f"/v2/images/{image_id}/file")
    text = httpx.get(f"{node.url}/metrics").text
    values = {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith("glimpse_cache_")
    }
    assert values["glimpse_cache_hits_total"] >= 1
    assert values["glimpse_cache_misses_total"] >= 1
    assert values["glimpse_cache_fills_total"] >= 1
    assert values["glimpse_cache_served_bytes_total"] >= len(data)
    assert "glimpse_cache_failed_fills_total" in values
    assert "glimpse_cache_evictions_total" in values
    assert values["glimpse_cache_size_bytes"] >= len(data)


def test_a_node_without_a_cache_answers_404(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.get("/v2/cache")
        assert response.status_code == 404
        assert response.json()["error"]["message"] == (
            "Caching via API is not supported at this site."
        )
        assert client.delete("/v2/cache").status_code == 404


def test_admins_of_other_projects_manage_too(node: ServerProcess) -> None:
    with caller(node, "ops", "admin", timeout=30) as ops:
        assert ops.get("/v2/cache").status_code == 200
