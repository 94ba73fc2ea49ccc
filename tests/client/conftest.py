"""Servers for the client tests: small pages, signed pictures, a Keystone-backed one."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import peers
from glimpse.testing import ServerProcess
from helpers import start_server

# The Keystone harness lives beside the Keystone tests, which import it by this name.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "keystone"))
from harness import Keystone, run_keystone

#: The signing key of ``signed_server``'s rendition URLs.
SIGNING_KEY = "client-test-signing-key"


@pytest.fixture(scope="module")
def paged_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose pages hold at most 3 images, so listings cross several pages."""
    server = start_server(
        tmp_path_factory,
        env={"GLIMPSE_IMAGES__LIMIT_MAX": "3", "GLIMPSE_IMAGES__LIMIT_DEFAULT": "2"},
        name="paged",
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def signed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose rendition URLs must be signed with SIGNING_KEY."""
    server = start_server(
        tmp_path_factory,
        env={"GLIMPSE_PICTURES__SIGNING_KEYS": f'["{SIGNING_KEY}"]'},
        name="signed",
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def keystone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keystone]:
    """A real Keystone for this module; one that cannot start fails the tests using it."""
    with peers.required(run_keystone(tmp_path_factory.mktemp("keystone")), "Keystone") as running:
        yield running


@pytest.fixture(scope="module")
def keystone_glimpse(
    keystone: Keystone, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server in identity mode keystone, in the catalog as the image service."""
    service = keystone.service
    settings = {
        "GLIMPSE_IDENTITY__MODE": "keystone",
        "GLIMPSE_IDENTITY__KEYSTONE__AUTH_URL": keystone.auth_url,
        "GLIMPSE_IDENTITY__KEYSTONE__USERNAME": service.name,
        "GLIMPSE_IDENTITY__KEYSTONE__PASSWORD": service.password,
        "GLIMPSE_IDENTITY__KEYSTONE__PROJECT_NAME": service.project,
    }
    # Quoted, so that each value stays a string whatever it looks like.
    server = start_server(
        tmp_path_factory, env={k: json.dumps(v) for k, v in settings.items()}, name="ks"
    )
    keystone.register_image_service(server.url)
    yield server
    server.stop()
