"""Fixtures of the Pictures API tests: clients of the shared servers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from glimpse.testing import ServerProcess


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as api:
        yield api
