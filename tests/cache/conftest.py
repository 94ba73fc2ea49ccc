"""A node with the cache on, over the test Swift: small bounds, so eviction is cheap to reach."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from cache_support import ADMIN, caller, running_node

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
    with running_node(tmp_path_factory, swift, container, "cached", workers=2) as srv:
        yield srv


@pytest.fixture
def member(node: ServerProcess) -> Iterator[httpx.Client]:
    with caller(node) as client:
        yield client


@pytest.fixture
def admin(node: ServerProcess) -> Iterator[httpx.Client]:
    with caller(node, roles=ADMIN) as client:
        yield client
