"""Task rows and the import lock, on SQLite and PostgreSQL: paging, expiry, leases, and
exactly one holder of an image's lock however many ask at once."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy

from glimpse.model import Image, NewImage
from glimpse.model.tasks import Task, TaskQuery, TaskStatus
from glimpse.registry import db
from glimpse.registry.images import ImageRegistry
from glimpse.registry.tasks import IMPORT_LOCK, TaskRegistry

T0 = datetime(2026, 12, 2, 8, 0, 0)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sqlalchemy.Engine]:
    if request.param == "sqlite":
        made = db.connect(f"sqlite:///{tmp_path / 'tasks.db'}")
        db.create(made)
    else:
        made = db.connect(request.getfixturevalue("empty_postgres_database"), 8)
        db.upgrade(made)
    yield made
    made.dispose()


def _task(n: int, owner: str = "p1", **changes: object) -> Task:
    base = Task(
        id=str(uuid.UUID(int=n + 1)),
        type="api_image_import",
        status=TaskStatus.PENDING,
        owner=owner,
        input={"n": n},
        created_at=T0 + timedelta(seconds=n),
        updated_at=T0 + timedelta(seconds=n),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_pages_in_order_for_an_owner(engine: sqlalchemy.Engine) -> None:
    tasks = TaskRegistry(engine)
    for n in range(7):
        tasks.add(_task(n, owner="p1" if n % 2 == 0 else "p2"))
    first = tasks.page(TaskQuery(limit=2), "p1", every_owner=False)
    assert [t.input["n"] for t in first] == [6, 4]
    rest = tasks.page(TaskQuery(limit=5, marker=first[-1].id), "p1", every_owner=False)
    assert [t.input["n"] for t in rest] == [2, 0]
    ascending = tasks.page(TaskQuery(sort_dir="asc", limit=10), None, every_owner=True)
    assert [t.input["n"] for t in ascending] == list(range(7))


def test_expired_tasks_are_removed(engine: sqlalchemy.Engine) -> None:
    tasks = TaskRegistry(engine)
    ended = _task(1).failed("no", T0, timedelta(hours=48))
    tasks.add(ended)
    tasks.add(_task(2))
    assert tasks.remove_expired(T0 + timedelta(hours=47)) == 0
    assert tasks.remove_expired(T0 + timedelta(hours=49)) == 1
    assert [t.id for t in tasks.page(TaskQuery(), None, every_owner=True)] == [_task(2).id]


def test_lapsed_leases(engine: sqlalchemy.Engine) -> None:
    tasks = TaskRegistry(engine)
    task = _task(1)
    tasks.add(task)
    assert tasks.renew_lease(task.id, "node-a", T0 + timedelta(seconds=30))
    assert not tasks.renew_lease(task.id, "node-b", T0 + timedelta(seconds=60))
    assert tasks.lapsed(T0 + timedelta(seconds=10), T0) == []
    assert [t.id for t in tasks.lapsed(T0 + timedelta(seconds=31), T0)] == [task.id]


def test_one_holder_of_an_image_lock(engine: sqlalchemy.Engine) -> None:
    images, tasks = ImageRegistry(engine), TaskRegistry(engine)
    image = Image.create(NewImage(name="x"), str(uuid.uuid4()), "p1", T0)
    images.add(image)
    holders = [str(uuid.uuid4()) for _ in range(16)]
    with ThreadPoolExecutor(8) as pool:
        taken = list(pool.map(lambda holder: tasks.take_lock(image.id, holder), holders))
    assert taken.count(True) == 1
    winner = holders[taken.index(True)]
    assert images.get(image.id).properties[IMPORT_LOCK] == winner
    assert not tasks.drop_lock(image.id, holders[taken.index(False)])
    # A stale holder is replaced in one step, and only if it still holds the lock.
    fresh = str(uuid.uuid4())
    assert tasks.take_lock(image.id, fresh, stale=winner)
    assert not tasks.take_lock(image.id, str(uuid.uuid4()), stale=winner)
    assert tasks.drop_lock(image.id, fresh)
    assert IMPORT_LOCK not in images.get(image.id).properties
