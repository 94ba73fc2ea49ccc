"""Servers for the import tests: a default file store, a second file store, and a
Swift store nobody answers for (every write to it fails)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from glimpse.testing import ServerProcess
from helpers import start_server

#: Stores of the import servers: where copies go, and a store that always fails.
STORES = {
    "GLIMPSE_STORES__SECOND__DRIVER": '"file"',
    "GLIMPSE_STORES__BROKEN__DRIVER": '"swift"',
    "GLIMPSE_STORES__BROKEN__AUTH_URL": '"http://127.0.0.1:9/auth/v1.0"',
    "GLIMPSE_STORES__BROKEN__USER": '"a:b"',
    "GLIMPSE_STORES__BROKEN__KEY": '"c"',
    "GLIMPSE_STORES__BROKEN__RETRIES": "0",
    "GLIMPSE_STORES__BROKEN__CONNECT_TIMEOUT": "1.0",
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def import_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    url = ""
    if request.param == "postgresql":
        url = request.getfixturevalue("module_postgres_database")
    env = {
        **STORES,
        "GLIMPSE_STORES__SECOND__DIRECTORY": f'"{tmp_path_factory.mktemp("second")}"',
        "GLIMPSE_IMPORTS__METHODS": '["glance-direct", "web-download", "copy-image"]',
    }
    srv = start_server(tmp_path_factory, url, env=env, workers=2, name="imports")
    yield srv
    srv.stop()


@pytest.fixture
def client(import_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=import_server.url, timeout=60) as c:
        yield c
