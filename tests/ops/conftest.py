"""Servers of the operations tests, each with the settings its module needs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ops_support import Launch

from glimpse.testing import ServerProcess


@pytest.fixture(scope="module")
def launch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launch]:
    """Start ``glimpse serve`` with ``GLIMPSE_*`` settings given as keywords; all are
    stopped when the module is done."""
    started: list[ServerProcess] = []

    def start(workers: int = 1, **env: str) -> ServerProcess:
        server = ServerProcess(data_dir=tmp_path_factory.mktemp("ops"), workers=workers, env=env)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()
