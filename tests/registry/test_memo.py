"""Image reads kept in memory on SQLite: never older than the last commit, from anywhere."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy

from glimpse.model import Image, NewImage
from glimpse.registry import db
from glimpse.registry.images import ImageRegistry
from glimpse.registry.memo import ReadMemo

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    engine = db.connect(url)
    db.create(engine)
    engine.dispose()
    return url


def _engine(url: str) -> sqlalchemy.Engine:
    return db.connect(url)


def _image(name: str) -> Image:
    request = NewImage(name=name, disk_format="raw", container_format="bare")
    return Image.create(request, str(uuid.uuid4()), "project-a", T0)


def test_a_second_read_comes_from_memory(database: str) -> None:
    registry = ImageRegistry(_engine(database))
    image = _image("one")
    registry.add(image)
    first = registry.get(image.id)
    assert registry.get(image.id) is first
    assert (first.id, first.name) == (image.id, "one")


def test_a_commit_through_another_engine_is_seen_at_once(database: str) -> None:
    reader = ImageRegistry(_engine(database))
    writer = ImageRegistry(_engine(database))
    image = _image("before")
    writer.add(image)
    assert reader.get(image.id).name == "before"
    renamed = dataclasses.replace(image, name="after")
    writer.save(renamed, image)
    assert reader.get(image.id).name == "after"


def test_a_commit_from_another_process_is_seen_at_once(database: str) -> None:
    registry = ImageRegistry(_engine(database))
    image = _image("before")
    registry.add(image)
    assert registry.get(image.id).name == "before"
    path = sqlalchemy.engine.make_url(database).database
    script = (
        "import sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1])\n"
        "c.execute('UPDATE images SET name = ? WHERE id = ?', ('elsewhere', sys.argv[2]))\n"
        "c.commit()\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path), image.id], check=True)
    assert registry.get(image.id).name == "elsewhere"


def test_its_own_writes_are_seen(database: str) -> None:
    registry = ImageRegistry(_engine(database))
    image = _image("before")
    registry.add(image)
    registry.get(image.id)
    registry.save(dataclasses.replace(image, name="after"), image)
    assert registry.get(image.id).name == "after"


def test_a_forked_child_opens_its_own_counter(database: str) -> None:
    """Workers are forked: the child must not use the connection its parent opened."""
    registry = ImageRegistry(_engine(database))
    image = _image("forked")
    registry.add(image)
    registry.get(image.id)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports by its exit status
        try:
            ok = registry.get(image.id).name == "forked"
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_memo_stays_within_its_capacity(database: str) -> None:
    engine = _engine(database)
    memo = ReadMemo(engine, capacity=3)
    version = memo.version()
    images = [_image(f"n{n}") for n in range(5)]
    for image in images:
        memo.keep(version, image.id, image)
    assert [memo.get(image.id, version) for image in images[:2]] == [None, None]
    assert all(memo.get(image.id, version) == image for image in images[2:])


def test_an_image_read_before_a_change_is_not_kept(database: str) -> None:
    engine = _engine(database)
    memo = ReadMemo(engine)
    stale = memo.version()
    registry = ImageRegistry(engine)
    image = _image("x")
    registry.add(image)  # a commit: the count moves
    fresh = memo.version()
    assert fresh != stale
    memo.keep(stale, image.id, image)
    assert memo.get(image.id, fresh) is None


def test_no_memo_for_postgresql(empty_postgres_database: str) -> None:
    engine = _engine(empty_postgres_database)
    try:
        assert ReadMemo.of(engine) is None
    finally:
        engine.dispose()
