"""The `glance` fixture: a real Glance 33 for this test session, on a loopback port."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest
from glance_peer import Glance, PeerUnavailable, run_glance

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def glance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Glance]:
    """A fresh Glance per session (per xdist worker); required, never skipped."""
    with contextlib.ExitStack() as stack:
        try:
            running = stack.enter_context(run_glance(tmp_path_factory.mktemp("glance")))
        except PeerUnavailable as exc:
            where = "in CI" if IN_CI else "by the test suite"
            pytest.fail(f"Glance is required {where} but did not start: {exc}", pytrace=False)
        yield running
