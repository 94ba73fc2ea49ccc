"""A node with the cache on, over the test Swift: small bounds, so eviction is cheap to reach."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from cache_support import ADMIN, headers, node_env

from cluster.support import Placement, unique
from glimpse.testing import ServerProcess
from swift.harness import Swift


@pytest.fixture(scope="module")
def container(swift: Swift) -> Iterator[str]:
    name = unique("glimpse-cache")
    yield name
    Placement(swift, "swift", name).remove()


@pytest.fixture(scope="module")
def node(
    swift: Swift, container: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    srv = ServerProcess(
        data_dir=tmp_path_factory.mktemp("cached"), env=node_env(swift, container), workers=2
    )
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def member(node: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, headers=headers(), timeout=60) as client:
        yield client


@pytest.fixture
def admin(node: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, headers=headers(roles=ADMIN), timeout=60) as client:
        yield client
