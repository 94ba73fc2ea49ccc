"""Named leases on SQLite and PostgreSQL: one holder at a time, until it expires."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy

from glimpse.model import utcnow
from glimpse.registry import db
from glimpse.registry.leases import NamedLeases


@pytest.fixture
def engine(database_url: str) -> Iterator[sqlalchemy.Engine]:
    engine = db.connect(database_url, pool_size=8)
    db.create(engine)
    yield engine
    engine.dispose()


def test_one_holder_until_it_expires(engine: sqlalchemy.Engine) -> None:
    leases = NamedLeases(engine)
    now = utcnow()
    assert leases.acquire("scrub", "a", 60, now=now)
    assert not leases.acquire("scrub", "b", 60, now=now + timedelta(seconds=30))
    # The holder renews its own lease, and the renewal moves the expiry.
    assert leases.acquire("scrub", "a", 60, now=now + timedelta(seconds=50))
    assert not leases.acquire("scrub", "b", 60, now=now + timedelta(seconds=90))
    # Past the renewed expiry anyone may take it, and then the old holder may not.
    assert leases.acquire("scrub", "b", 60, now=now + timedelta(seconds=111))
    assert not leases.acquire("scrub", "a", 60, now=now + timedelta(seconds=112))


def test_names_are_independent(engine: sqlalchemy.Engine) -> None:
    leases = NamedLeases(engine)
    assert leases.acquire("scrub", "a", 60)
    assert leases.acquire("other", "b", 60)
    assert not leases.acquire("other", "a", 60)


def test_release_frees_only_the_holders_lease(engine: sqlalchemy.Engine) -> None:
    leases = NamedLeases(engine)
    assert leases.acquire("scrub", "a", 60)
    leases.release("scrub", "b")
    assert not leases.acquire("scrub", "b", 60)
    leases.release("scrub", "a")
    assert leases.acquire("scrub", "b", 60)


def test_racing_holders_get_one_lease(engine: sqlalchemy.Engine) -> None:
    """Holders that ask at once, for a lease that is new or that just expired: one wins."""
    leases = NamedLeases(engine)
    start = utcnow()
    for round_ in range(6):
        now = start + timedelta(seconds=100 * round_)
        barrier = threading.Barrier(4)
        won: list[str] = []

        def take(holder: str, now: datetime, barrier: threading.Barrier, won: list[str]) -> None:
            barrier.wait()
            if leases.acquire("race", holder, 60, now=now):
                won.append(holder)

        threads = [
            threading.Thread(target=take, args=(f"h{i}-{round_}", now, barrier, won))
            for i in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1, won
