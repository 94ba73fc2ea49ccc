"""Helpers of the cache tests: a cached node's settings, callers, and what its cache holds."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cluster.support import store_env, swift_options
from glimpse.cache.locks import held
from glimpse.testing import ServerProcess
from helpers import make_image, start_server, trusted_headers, upload
from swift.harness import Swift

MiB = 1 << 20
MAX_SIZE = 12 * MiB
ADMIN = "admin,member,reader"


def headers(project: str = "cache-project", roles: str = "member,reader") -> dict[str, str]:
    return trusted_headers(project, roles)


def node_env(swift: Swift, container: str, **cache: str) -> dict[str, str]:
    """Settings of a cached node: trusted headers, Swift as the only store, ``[cache]``."""
    settings = {
        "ENABLED": "true",
        "MAX_SIZE": str(MAX_SIZE),
        "MAX_FRACTION": "0.5",
        "BACKGROUND_FILL": "0",
        "PREFETCH_INTERVAL": "1",
        **cache,
    }
    return {
        "GLIMPSE_IDENTITY__MODE": "trusted-headers",
        "GLIMPSE_SCRUB__INTERVAL": "0",
        "GLIMPSE_METRICS__EXPOSURE": '"open"',
        **store_env("cloud", swift_options(swift, container), default=True),
        **{f"GLIMPSE_CACHE__{k}": v for k, v in settings.items()},
    }


@contextlib.contextmanager
def running_node(
    tmp_path_factory: pytest.TempPathFactory,
    swift: Swift,
    container: str,
    name: str,
    *,
    workers: int = 1,
    cache: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[ServerProcess]:
    """A started cached node of its own data directory, stopped on the way out.

    Its settings are ``node_env(swift, container, **cache)`` with ``env`` over them. It may
    be stopped and started again inside the block: it keeps its data directory and port.
    """
    settings = {**node_env(swift, container, **(cache or {})), **(env or {})}
    node = start_server(tmp_path_factory, env=settings, workers=workers, name=name)
    try:
        yield node
    finally:
        node.stop()


def caller(
    node: ServerProcess,
    project: str = "cache-project",
    roles: str = "member,reader",
    timeout: float = 60,
) -> httpx.Client:
    """A client of ``node`` that its trusted headers make a caller of ``project`` with ``roles``."""
    return httpx.Client(base_url=node.url, headers=headers(project, roles), timeout=timeout)


def uploaded(client: httpx.Client, data: bytes, **fields: object) -> str:
    image_id = str(make_image(client, **fields)["id"])
    response = upload(client, image_id, data)
    assert response.status_code == 204, response.text
    return image_id


def cache_dir(node: ServerProcess) -> Path:
    return node.data_dir / "cache"


def cached(admin: httpx.Client) -> dict[str, dict[str, Any]]:
    response = admin.get("/v2/cache")
    assert response.status_code == 200, response.text
    return {entry["image_id"]: entry for entry in response.json()["cached_images"]}


def wait_settled(node: ServerProcess, image_id: str, timeout: float = 30.0) -> None:
    """Until no fill of the image runs on the node: its lock is free (a fill lets go of it
    last, after it published or removed its file)."""
    deadline = time.monotonic() + timeout
    directory = cache_dir(node)
    while held(directory / "locks" / image_id) or (directory / "incomplete" / image_id).exists():
        assert time.monotonic() < deadline, "the fill did not end"
        time.sleep(0.05)


def swift_reads(swift: Swift, container: str, image_id: str) -> int:
    """GETs of the image's object (not its segments) the Swift proxy has logged."""
    marker = f"GET /v1/AUTH_test/{container}/{image_id} "
    text = swift.log("proxy").read_text(errors="replace")
    return text.count(marker)


def lock_files(node: ServerProcess) -> list[str]:
    """The fills' lock files in the node's cache (the prefetch slots' are fixed and kept)."""
    locks = cache_dir(node) / "locks"
    return sorted(p.name for p in locks.iterdir() if not p.name.startswith(".prefetch-"))
