"""The `keystone` fixture: a real Keystone for this test session, on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness import Keystone, run_keystone

from peers import required


@pytest.fixture(scope="session")
def keystone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keystone]:
    """A fresh Keystone per session (per xdist worker), stopped at the end.

    The suite requires it, so a Keystone that cannot be installed or started fails the tests
    that use it, in CI and elsewhere alike; it never skips them.
    """
    with required(run_keystone(tmp_path_factory.mktemp("keystone")), "Keystone") as running:
        yield running
