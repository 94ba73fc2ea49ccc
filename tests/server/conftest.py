"""Fixtures of the server tests: real `glimpse serve` processes, and a test CA."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from serving import Authority, make_authority

from glimpse.testing import ServerProcess


@pytest.fixture(scope="session")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return make_authority(tmp_path_factory.mktemp("ca"), "main")


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start servers for this test (stopped after it): ``start(workers=1, **env)``."""
    started: list[ServerProcess] = []

    def _start(
        workers: int = 1, host: str = "127.0.0.1", go: bool = True, **env: str
    ) -> ServerProcess:
        server = ServerProcess(
            data_dir=tmp_path / f"data-{len(started)}", workers=workers, env=env, host=host
        )
        started.append(server)
        if go:
            server.start()
        return server

    yield _start
    for server in started:
        server.stop()
