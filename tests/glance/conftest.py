"""The `glance` fixture: a real Glance 33 for this test session, on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from glance_peer import Glance, run_glance

from peers import required


@pytest.fixture(scope="session")
def glance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Glance]:
    """A fresh Glance per session (per xdist worker); required, never skipped."""
    with required(run_glance(tmp_path_factory.mktemp("glance")), "Glance") as running:
        yield running
