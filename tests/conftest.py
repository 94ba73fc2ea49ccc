"""Shared fixtures: real server processes over SQLite and PostgreSQL, HTTP clients, Swift."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy

import peers
from glimpse.testing import ServerProcess
from helpers import start_server
from swift.harness import Swift, run_swift

PG_ADMIN_URL = os.environ.get(
    "GLIMPSE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_reachable() -> bool:
    try:
        engine = sqlalchemy.create_engine(PG_ADMIN_URL)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except sqlalchemy.exc.OperationalError:
        return False


@contextlib.contextmanager
def _fresh_postgres() -> Iterator[str]:
    if not _postgres_reachable():
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but {PG_ADMIN_URL} is unreachable")
        pytest.skip(f"PostgreSQL at {PG_ADMIN_URL} is unreachable")
    name = f"glimpse_test_{secrets.token_hex(4)}"
    admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = sqlalchemy.engine.make_url(PG_ADMIN_URL).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this run's shared server, dropped afterwards."""
    with _fresh_postgres() as url:
        yield url


@pytest.fixture(scope="module")
def module_postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test module's own server."""
    with _fresh_postgres() as url:
        yield url


@pytest.fixture
def empty_postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database of this test's own."""
    with _fresh_postgres() as url:
        yield url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """The shared server, once per registry backend; tests must not assume an empty registry."""
    url = ""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_database")
    srv = start_server(tmp_path_factory, url, workers=2)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One embedded-defaults server for tests that drive external clients."""
    srv = start_server(tmp_path_factory)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with small limits, to cross them cheaply."""
    srv = start_server(
        tmp_path_factory,
        env={
            "GLIMPSE_IMAGES__SIZE_CAP": str(1 << 20),
            "GLIMPSE_IMAGES__PROPERTY_QUOTA": "4",
            "GLIMPSE_IMAGES__TAG_QUOTA": "3",
            "GLIMPSE_IMAGES__JSON_BODY_LIMIT": "4096",
            "GLIMPSE_IMAGES__LIMIT_MAX": "5",
            "GLIMPSE_IMAGES__LIMIT_DEFAULT": "3",
        },
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def tokens_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A SQLite server in identity mode `tokens`; make tokens with helpers.make_token."""
    srv = start_server(tmp_path_factory, env={"GLIMPSE_IDENTITY__MODE": "tokens"})
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def trusted_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A SQLite server in identity mode `trusted-headers`, with Glance's default policy."""
    srv = start_server(tmp_path_factory, env={"GLIMPSE_IDENTITY__MODE": "trusted-headers"})
    yield srv
    srv.stop()


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def swift(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swift]:
    """A real OpenStack Swift, with its S3 API, per session (per xdist worker), stopped at the end.

    Swift's store tests and S3's use it; one that cannot start fails them and never skips them.
    """
    with peers.required(run_swift(tmp_path_factory.mktemp("swift")), "OpenStack Swift") as running:
        yield running
