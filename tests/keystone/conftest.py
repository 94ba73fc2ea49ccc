"""The `keystone` fixture: a real Keystone for this test session, on a loopback port."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest
from harness import Keystone, KeystoneUnavailable, run_keystone

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def keystone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keystone]:
    """A fresh Keystone per session (per xdist worker), stopped at the end.

    The suite requires it, so a Keystone that cannot be installed or started fails the tests
    that use it, in CI and elsewhere alike; it never skips them.
    """
    with contextlib.ExitStack() as stack:
        try:
            running = stack.enter_context(run_keystone(tmp_path_factory.mktemp("keystone")))
        except KeystoneUnavailable as exc:
            where = "in CI" if IN_CI else "by the test suite"
            pytest.fail(f"Keystone is required {where} but did not start: {exc}", pytrace=False)
        yield running
