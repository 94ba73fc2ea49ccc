"""A trusted-headers server of this package's own, once per registry backend, and callers
of every kind: the admin, a project's reader and member, another project, no project."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from metadef_support import Callers

from glimpse.testing import ServerProcess
from helpers import start_server


@pytest.fixture(scope="package", params=["sqlite", "postgresql"])
def md_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    url = ""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_database")
    server = start_server(
        tmp_path_factory, url, {"GLIMPSE_IDENTITY__MODE": "trusted-headers"}, name="metadefs"
    )
    yield server
    server.stop()


@pytest.fixture
def callers(md_server: ServerProcess) -> Iterator[Callers]:
    with Callers(md_server.url) as found:
        yield found
