"""The registry as JSON lines: export, import, and back, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy

from glimpse.model import (
    Image,
    Location,
    LocationStatus,
    Member,
    MemberStatus,
    NewImage,
    Status,
    Visibility,
)
from glimpse.registry import catalog, db
from glimpse.registry.images import ImageRegistry
from glimpse.registry.members import MemberRegistry
from helpers import run_glimpse

T0 = datetime(2026, 12, 1, 9, 30, 15, 123456)


def _sqlite(path: Path) -> sqlalchemy.Engine:
    engine = db.connect(f"sqlite:///{path}")
    db.create(engine)
    return engine


def _postgres(url: str) -> sqlalchemy.Engine:
    engine = db.connect(url)
    db.upgrade(engine)
    return engine


@pytest.fixture
def source(tmp_path: Path) -> Iterator[sqlalchemy.Engine]:
    engine = _sqlite(tmp_path / "source.db")
    populate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sqlalchemy.Engine]:
    if request.param == "sqlite":
        engine = _sqlite(tmp_path / "target.db")
    else:
        engine = _postgres(request.getfixturevalue("empty_postgres_database"))
    yield engine
    engine.dispose()


def _image(n: int, **changes: Any) -> Image:
    request = NewImage(name=f"image {n} ünïcode", disk_format="raw", container_format="bare")
    image = Image.create(request, str(uuid.UUID(int=n * 7919 + 1)), "project-a", T0)
    return dataclasses.replace(image, **changes)


def populate(engine: sqlalchemy.Engine, extra: int = 17) -> list[str]:
    """A registry with an image in every interesting state, and ``extra`` plain ones."""
    images = ImageRegistry(engine)
    members = MemberRegistry(engine)
    later = T0 + timedelta(hours=1)
    active = _image(
        1,
        status=Status.ACTIVE,
        visibility=Visibility.PUBLIC,
        protected=True,
        os_hidden=True,
        min_disk=10,
        min_ram=512,
        size=3,
        virtual_size=3,
        checksum="900150983cd24fb0d6963f7d28e17f72",
        os_hash_algo="sha512",
        os_hash_value="dd" * 64,
        updated_at=later,
        tags=("b-tag", "a-tag", "ß"),
        properties={"os_distro": "debian", "zeta": "", "ключ": "значение"},
        locations=(
            Location("file:///srv/images/x", {"store": "file"}, owned=True),
            Location(
                "https://example.org/cirros.img",
                {"store": "web", "nested": {"a": [1, 2.5, None, True]}},
                owned=False,
                status=LocationStatus.FAILED,
            ),
        ),
    )
    shared = _image(2, owner=None, name=None, properties={"k": "v"})
    saving = _image(3)
    gone = _image(
        4,
        status=Status.DELETED,
        locations=(Location("https://example.org/registered", {}, owned=False),),
    )
    pending = _image(
        5,
        status=Status.PENDING_DELETE,
        locations=(Location("file:///srv/images/p", {"store": "file"}, owned=True),),
    )
    added = [active, shared, saving, gone, pending] + [_image(100 + i) for i in range(extra)]
    for image in added:
        images.add(image)
    # A saving image holds a lease and a reservation; a deleted one has deleted_at.
    images.save(saving.transition(Status.SAVING, later), saving)
    assert images.renew_lease(saving.id, "node-1:42", later + timedelta(minutes=2))
    with images.locked(saving.owner) as ledger:
        ledger.reserve(saving.id, 5 << 20)
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text("UPDATE images SET deleted_at = :at WHERE id = :id"),
            {"at": later, "id": gone.id},
        )
    members.add(Member(shared.id, "project-b", MemberStatus.ACCEPTED, T0, later), 10)
    members.add(Member(shared.id, "project-c", MemberStatus.PENDING, later, later), 10)
    members.add(Member(active.id, "project-z", MemberStatus.REJECTED, T0, T0), 10)
    return [image.id for image in added]


def _lines(engine: sqlalchemy.Engine, page_size: int = 4) -> list[bytes]:
    return [orjson.dumps(line) for line in catalog.export(engine, page_size=page_size)]


def test_a_line_holds_everything(source: sqlalchemy.Engine) -> None:
    lines = {line["id"]: line for line in catalog.export(source)}
    assert len(lines) == 22
    active = lines[str(uuid.UUID(int=7920))]
    assert active["protected"] is True
    assert active["created_at"] == "2026-12-01T09:30:15.123456"
    assert active["tags"] == ["a-tag", "b-tag", "ß"]
    assert active["properties"] == {"os_distro": "debian", "zeta": "", "ключ": "значение"}
    assert [m["member"] for m in active["members"]] == ["project-z"]
    assert active["locations"] == [
        {
            "url": "file:///srv/images/x",
            "metadata": {"store": "file"},
            "owned": True,
            "status": "active",
        },
        {
            "url": "https://example.org/cirros.img",
            "metadata": {"store": "web", "nested": {"a": [1, 2.5, None, True]}},
            "owned": False,
            "status": "failed",
        },
    ]
    saving = lines[str(uuid.UUID(int=3 * 7919 + 1))]
    assert saving["status"] == "saving"
    assert saving["lease_holder"] == "node-1:42"
    assert saving["reserved"] == 5 << 20
    assert saving["upload_started_at"] == "2026-12-01T10:30:15.123456"
    shared = lines[str(uuid.UUID(int=2 * 7919 + 1))]
    assert shared["owner"] is None
    assert shared["name"] is None
    assert [(m["member"], m["status"]) for m in shared["members"]] == [
        ("project-b", "accepted"),
        ("project-c", "pending"),
    ]
    assert lines[str(uuid.UUID(int=4 * 7919 + 1))]["deleted_at"] == "2026-12-01T10:30:15.123456"
    assert list(lines) == sorted(lines), "lines come in id order"


def test_round_trip_through_another_database_and_back(
    source: sqlalchemy.Engine, target: sqlalchemy.Engine, tmp_path: Path
) -> None:
    exported = _lines(source)
    report = catalog.import_(target, exported, batch_size=3)
    assert report == catalog.ImportReport(added=22)
    assert _lines(target, page_size=7) == exported
    for image_id in (line["id"] for line in catalog.export(source)):
        assert ImageRegistry(target).get(image_id) == ImageRegistry(source).get(image_id)
    # ... and back into a fresh database of the first kind.
    back = _sqlite(tmp_path / "back.db")
    assert catalog.import_(back, _lines(target)) == catalog.ImportReport(added=22)
    assert _lines(back) == exported
    back.dispose()


def test_importing_twice_changes_nothing(
    source: sqlalchemy.Engine, target: sqlalchemy.Engine
) -> None:
    exported = _lines(source)
    catalog.import_(target, exported)
    assert catalog.import_(target, exported, batch_size=5) == catalog.ImportReport(unchanged=22)
    assert _lines(target) == exported


def test_a_changed_image_is_replaced_whole(
    source: sqlalchemy.Engine, target: sqlalchemy.Engine
) -> None:
    lines = list(catalog.export(source))
    catalog.import_(target, [orjson.dumps(line) for line in lines])
    first = lines[0]
    first.update(
        name="renamed",
        tags=["only"],
        properties={"new": "1"},
        members=[
            {
                "member": "project-q",
                "status": "pending",
                "created_at": "2027-01-01T00:00:00",
                "updated_at": "2027-01-01T00:00:00",
            }
        ],
        locations=[
            {"url": "s3://b/k", "metadata": {"store": "s3"}, "owned": True, "status": "active"}
        ],
    )
    report = catalog.import_(target, [orjson.dumps(line) for line in lines])
    assert report == catalog.ImportReport(updated=1, unchanged=21)
    assert list(catalog.export(target)) == lines
    assert ImageRegistry(target).get(first["id"]).locations == (
        Location("s3://b/k", {"store": "s3"}, owned=True),
    )


def test_times_with_an_offset_are_kept_in_utc(target: sqlalchemy.Engine) -> None:
    line = orjson.loads(_one_line())
    line["created_at"] = "2026-12-01T12:00:00+02:00"
    catalog.import_(target, [orjson.dumps(line)])
    assert next(catalog.export(target))["created_at"] == "2026-12-01T10:00:00"


def _one_line() -> bytes:
    return orjson.dumps(
        {
            "id": "0c6b3a8e-8e51-4c39-9d39-2f4a4c3b1a01",
            "status": "queued",
            "visibility": "private",
            "protected": False,
            "os_hidden": False,
            "min_disk": 0,
            "min_ram": 0,
            "created_at": "2026-12-01T00:00:00",
            "updated_at": "2026-12-01T00:00:00",
        }
    )


def _bad(**changes: Any) -> bytes:
    line = orjson.loads(_one_line())
    line.update(changes)
    return orjson.dumps({k: v for k, v in line.items() if v != "<drop>"})


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object but a list"),
        (_bad(status="<drop>"), "status is missing"),
        (_bad(status="sleeping"), "status 'sleeping' is not one of"),
        (_bad(protected=1), "protected is a number, not true or false"),
        (_bad(min_ram=2**40), "min_ram 1099511627776 is out of range"),
        (_bad(min_disk="3"), "min_disk is a string, not an integer"),
        (_bad(created_at="yesterday"), "created_at 'yesterday' is not an ISO 8601 time"),
        (_bad(name="x" * 256), "name is longer than 255 characters"),
        (_bad(name="a\x00b"), "name holds a NUL character"),
        (_bad(id="0C6B3A8E-8E51-4C39-9D39-2F4A4C3B1A01"), "not a UUID in canonical"),
        (_bad(id="42"), "id '42' is not a UUID"),
        (_bad(colour="blue"), "unknown field 'colour'"),
        (_bad(tags=["a", "a"]), "has a tag twice"),
        (_bad(tags="a"), "tags is a string, not a list"),
        (_bad(properties={"k": 1}), "property 'k' is a number, not a string"),
        (_bad(members=[{"member": "p"}]), "a member must have exactly the fields"),
        (
            _bad(locations=[{"url": "u", "metadata": [], "owned": True, "status": "active"}]),
            "location metadata is a list",
        ),
        (
            _bad(locations=[{"url": "u", "metadata": {}, "owned": True, "status": "gone"}]),
            "location status 'gone'",
        ),
    ],
)
def test_a_malformed_line_is_named_and_nothing_of_its_batch_is_written(
    target: sqlalchemy.Engine, line: bytes, reason: str
) -> None:
    good = [
        orjson.dumps({**orjson.loads(_one_line()), "id": str(uuid.UUID(int=i))}) for i in (1, 2)
    ]
    with pytest.raises(catalog.MalformedLine) as caught:
        catalog.import_(target, [*good, b"", line])
    assert caught.value.line == 4
    assert caught.value.message.startswith("catalog line 4: ")
    assert reason in caught.value.message
    assert caught.value.message.endswith("nothing from line 1 on was imported")
    assert list(catalog.export(target)) == []


def test_batches_before_a_malformed_line_stay_imported(target: sqlalchemy.Engine) -> None:
    good = [
        orjson.dumps({**orjson.loads(_one_line()), "id": str(uuid.UUID(int=i))}) for i in (1, 2, 3)
    ]
    with pytest.raises(
        catalog.MalformedLine, match=r"catalog line 4: not JSON .*nothing from line 3 on"
    ):
        catalog.import_(target, [*good, b"{"], batch_size=2)
    assert [line["id"] for line in catalog.export(target)] == [
        str(uuid.UUID(int=i)) for i in (1, 2)
    ]


def test_an_image_twice_in_one_file_is_malformed(target: sqlalchemy.Engine) -> None:
    with pytest.raises(catalog.MalformedLine, match=r"catalog line 2: image .* is also on line 1"):
        catalog.import_(target, [_one_line(), _one_line()])


def test_the_command_exports_and_imports_files_and_pipes(tmp_path: Path) -> None:
    populate_engine = _sqlite(tmp_path / "a" / "glimpse.db")
    populate(populate_engine)
    populate_engine.dispose()
    a = {"GLIMPSE_DATA_DIR": str(tmp_path / "a")}
    b = {"GLIMPSE_DATA_DIR": str(tmp_path / "b")}
    file = tmp_path / "catalog.jsonl"
    done = run_glimpse("registry", "export", str(file), env=a)
    assert done.returncode == 0, done.stderr
    assert len(file.read_bytes().splitlines()) == 22
    done = run_glimpse("registry", "import", str(file), env=b)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "added 22, updated 0, unchanged 0\n"
    done = run_glimpse("registry", "import", str(file), env=b)
    assert done.stdout == "added 0, updated 0, unchanged 22\n"
    piped = run_glimpse("registry", "export", env=b)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == file.read_text()
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(file.read_bytes() + b'{"id": 3}\n')
    done = run_glimpse(
        "registry", "import", str(bad), env={"GLIMPSE_DATA_DIR": str(tmp_path / "c")}
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "glimpse: catalog line 23: id is a number, not a string; "
        "nothing from line 1 on was imported"
    )
    done = run_glimpse("registry", "import", str(tmp_path / "missing"), env=b)
    assert done.returncode == 1
    assert "No such file" in done.stderr
