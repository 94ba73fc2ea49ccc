"""The scrubber, seen from outside: real servers over SQLite and PostgreSQL, `glimpse scrub`.

What a client sees (statuses, usage, downloads) is checked over HTTP; a node
that died mid-upload is staged in the registry and the store as it would
have left them. A scrub "after scrub_time" runs in this process with a later
clock, so no test waits for time to pass.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from glimpse import settings as settings_module
from glimpse.app import build_scrubber, build_stores, scrub_lifespan
from glimpse.model import Image, Location, NewImage, Status, utcnow
from glimpse.registry import db
from glimpse.registry.images import ImageRegistry
from glimpse.service.scrub import Scrubber
from glimpse.testing import ServerProcess
from helpers import make_image, start_server, upload

MIB = 1 << 20
SCRUB_TIME = 3600


def _server(
    tmp_path_factory: pytest.TempPathFactory,
    registry_url: str,
    env: dict[str, str],
    workers: int = 1,
) -> ServerProcess:
    return start_server(tmp_path_factory, registry_url, env, workers, name="scrub")


def _registry_url(request: pytest.FixtureRequest) -> str:
    return "" if request.param == "sqlite" else request.getfixturevalue("module_postgres_database")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """Delayed delete on, and no scrubbing but the one the tests ask for."""
    srv = _server(
        tmp_path_factory,
        _registry_url(request),
        {
            "GLIMPSE_IMAGES__DELAYED_DELETE": "true",
            "GLIMPSE_IMAGES__SCRUB_TIME": str(SCRUB_TIME),
            "GLIMPSE_SCRUB__INTERVAL": "0",
            "GLIMPSE_SCRUB__UPLOAD_LEASE": "5",
        },
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def scrubber(server: ServerProcess) -> Iterator[Scrubber]:
    """The server's scrubber, built in this process from the server's own settings."""
    settings = settings_module.load(None, server.environment())
    engine = db.connect(settings.registry_url)
    yield build_scrubber(settings, ImageRegistry(engine), build_stores(settings))
    engine.dispose()


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def scrub(
    server: ServerProcess, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`glimpse scrub ...` with the server's settings (and ``env`` on top)."""
    return subprocess.run(
        [sys.executable, "-m", "glimpse", "scrub", *args],
        env={**server.environment(), **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _store_dir(server: ServerProcess) -> Path:
    return (server.data_dir / "images").resolve()


def _died_mid_upload(images: ImageRegistry, image_id: str, reserved: int) -> Image:
    """Leave ``image_id`` as a node that died mid-upload would: saving, its lease
    long expired, room reserved for its bytes."""
    queued = images.get(image_id)
    past = utcnow() - timedelta(minutes=10)
    saving = images.save(queued.transition(Status.SAVING, past), queued)
    assert images.renew_lease(image_id, "dead-node:1", past + timedelta(seconds=5))
    with images.locked(saving.owner) as ledger:
        ledger.reserve(image_id, reserved)
    return images.get(image_id)


def _size_usage(api: httpx.Client) -> int:
    response = api.get("/v2/info/usage")
    assert response.status_code == 200, response.text
    used: int = response.json()["usage"]["image_size_total"]["usage"]
    return used


def test_an_upload_whose_node_died_is_reaped(
    server: ServerProcess, scrubber: Scrubber, api: httpx.Client
) -> None:
    images = scrubber.images
    dead = make_image(api)["id"]
    alive = make_image(api)["id"]
    owner = images.get(dead).owner
    before = images.usage(owner).image_size_total
    shown_before = _size_usage(api)
    _died_mid_upload(images, dead, 8 * MIB)
    # Another upload still holds its lease: it is left alone.
    queued = images.get(alive)
    images.save(queued.transition(Status.SAVING, utcnow()), queued)
    assert images.renew_lease(alive, "live-node:2", utcnow() + timedelta(minutes=5))
    partial = _store_dir(server) / f".{dead}.0123456789ab.partial"
    partial.write_bytes(b"half an image")
    assert images.usage(owner).image_size_total == before + 8 * MIB
    assert _size_usage(api) == shown_before + 8
    assert api.get(f"/v2/images/{dead}").json()["status"] == "saving"

    done = scrub(server)
    assert done.returncode == 0, done.stderr
    assert f"reaped {dead}: its upload's lease expired; back to queued" in done.stdout.splitlines()
    assert alive not in done.stdout

    assert api.get(f"/v2/images/{dead}").json()["status"] == "queued"
    assert api.get(f"/v2/images/{alive}").json()["status"] == "saving"
    assert not partial.exists()
    assert images.usage(owner).image_size_total == before
    assert _size_usage(api) == shown_before
    # The image takes an upload again, from the start.
    assert upload(api, dead, b"whole image").status_code == 204
    assert api.get(f"/v2/images/{dead}/file").content == b"whole image"


def test_an_upload_that_finished_meanwhile_is_not_reaped(
    scrubber: Scrubber, api: httpx.Client
) -> None:
    images = scrubber.images
    image_id = make_image(api)["id"]
    saving = _died_mid_upload(images, image_id, MIB)
    # The node comes back and finishes between the scrubber's read and its write.
    finished = saving.uploaded(
        size=1,
        checksum="0cc175b9c0f1b6a831c399e269772661",
        os_hash_algo="sha512",
        os_hash_value="ab" * 64,
        location=Location("file:///nowhere/x", {"store": "file"}, owned=True),
        now=utcnow(),
    )
    images.save(finished, saving)
    assert scrubber.reap(saving, utcnow()) is False
    assert images.get(image_id).status == Status.ACTIVE
    assert image_id not in scrubber.reap_uploads(utcnow())


def test_delayed_delete_keeps_the_bytes_until_scrub_time(
    server: ServerProcess, scrubber: Scrubber, api: httpx.Client
) -> None:
    image_id = make_image(api)["id"]
    assert upload(api, image_id, b"keep me a while").status_code == 204
    stored = _store_dir(server) / image_id
    assert stored.read_bytes() == b"keep me a while"

    assert api.delete(f"/v2/images/{image_id}").status_code == 204
    assert api.get(f"/v2/images/{image_id}").status_code == 404
    assert api.get(f"/v2/images/{image_id}/file").status_code == 404
    listed = api.get("/v2/images", params={"limit": 1000}).json()["images"]
    assert image_id not in [image["id"] for image in listed]
    assert stored.exists()
    assert scrubber.images.get(image_id).status == Status.PENDING_DELETE

    done = scrub(server)  # scrub_time has not passed
    assert done.returncode == 0, done.stderr
    assert image_id not in done.stdout
    assert stored.exists()

    # Once scrub_time has passed (here: a scrub that counts none), the bytes go.
    done = scrub(server, env={"GLIMPSE_IMAGES__SCRUB_TIME": "0"})
    assert done.returncode == 0, done.stderr
    assert (
        f"deleted {image_id}: pending_delete past scrub_time; data removed"
        in done.stdout.splitlines()
    )
    assert not stored.exists()
    gone = scrubber.images.get(image_id)
    assert gone.status == Status.DELETED
    assert gone.locations == ()
    assert image_id not in scrubber.scrub_deletes(utcnow() + timedelta(days=1))


def test_restore_brings_a_pending_delete_image_back(
    server: ServerProcess, api: httpx.Client
) -> None:
    image_id = make_image(api)["id"]
    assert upload(api, image_id, b"undelete me").status_code == 204
    assert api.delete(f"/v2/images/{image_id}").status_code == 204

    done = scrub(server, "--restore", image_id)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"restored {image_id}: active\n"
    assert api.get(f"/v2/images/{image_id}").json()["status"] == "active"
    assert api.get(f"/v2/images/{image_id}/file").content == b"undelete me"

    again = scrub(server, "--restore", image_id)
    assert again.returncode == 1
    assert again.stderr.strip().splitlines()[-1] == (
        f"glimpse: Image {image_id} is not in pending_delete status (it is active); "
        "only a pending_delete image can be restored"
    )
    missing = str(uuid.uuid4())
    unknown = scrub(server, "--restore", missing)
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines()[-1] == f"glimpse: No image found with ID {missing}"


def _object(directory: Path, data: bytes, age: timedelta) -> Path:
    path = directory / str(uuid.uuid4())
    path.write_bytes(data)
    then = time.time() - age.total_seconds()
    os.utime(path, (then, then))
    return path


def test_orphans_are_listed_and_deleted_and_registered_objects_never(
    server: ServerProcess, scrubber: Scrubber, api: httpx.Client
) -> None:
    directory = _store_dir(server)
    two_days = timedelta(days=2)
    orphan = _object(directory, b"left by a crash", two_days)
    fresh = _object(directory, b"an upload finishing now", timedelta(0))
    # An object Glimpse did not write, registered to an image later deleted for good:
    # its location row stays, so it is never taken for an orphan, nor its bytes removed.
    registered = _object(directory, b"someone else's", two_days)
    request = NewImage(name="registered", disk_format="raw", container_format="bare")
    image = Image.create(request, str(uuid.uuid4()), "glimpse", utcnow())
    scrubber.images.add(
        image.transition(Status.ACTIVE, utcnow()).with_locations(
            (Location(registered.as_uri(), {"store": "file"}, owned=False),)
        )
    )
    assert api.delete(f"/v2/images/{image.id}").status_code == 204
    assert image.id in scrubber.scrub_deletes(utcnow() + timedelta(seconds=SCRUB_TIME + 1))
    assert scrubber.images.get(image.id).locations[0].url == registered.as_uri()
    # An image's own object, however old, is not an orphan either.
    active = make_image(api)["id"]
    assert upload(api, active, b"mine").status_code == 204
    own = directory / active
    os.utime(own, (time.time() - 3 * 86400,) * 2)

    done = scrub(server, "--orphans")
    assert done.returncode == 0, done.stderr
    listed = done.stdout.splitlines()
    assert f"orphan {orphan.as_uri()} (15 bytes, modified " in "\n".join(listed)
    for kept in (fresh, registered, own):
        assert kept.as_uri() not in done.stdout
    assert all(line.startswith("orphan file://") for line in listed)
    assert orphan.exists()

    no_grace = scrub(server, "--orphans", env={"GLIMPSE_SCRUB__ORPHAN_GRACE": "0"})
    assert fresh.as_uri() in no_grace.stdout
    assert registered.as_uri() not in no_grace.stdout

    deleted = scrub(server, "--orphans", "--delete")
    assert deleted.returncode == 0, deleted.stderr
    assert f"deleted orphan {orphan.as_uri()} (15 bytes" in deleted.stdout
    assert not orphan.exists()
    assert fresh.exists()
    assert registered.read_bytes() == b"someone else's"
    assert api.get(f"/v2/images/{active}/file").content == b"mine"
    fresh.unlink()

    alone = scrub(server, "--delete")
    assert alone.returncode == 2
    assert "--delete goes with --orphans" in alone.stderr


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def scrubbing_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server that scrubs by itself every second, with two workers competing."""
    srv = _server(
        tmp_path_factory,
        _registry_url(request),
        {"GLIMPSE_SCRUB__INTERVAL": "1", "GLIMPSE_SCRUB__UPLOAD_LEASE": "5"},
        workers=2,
    )
    yield srv
    srv.stop()


def test_the_server_reaps_by_itself(scrubbing_server: ServerProcess) -> None:
    settings = settings_module.load(None, scrubbing_server.environment())
    engine = db.connect(settings.registry_url)
    images = ImageRegistry(engine)
    try:
        with httpx.Client(base_url=scrubbing_server.url, timeout=30) as api:
            image_id = make_image(api)["id"]
            _died_mid_upload(images, image_id, MIB)
            deadline = time.monotonic() + 60
            while api.get(f"/v2/images/{image_id}").json()["status"] != "queued":
                assert time.monotonic() < deadline, scrubbing_server.log()
                time.sleep(0.1)
        with engine.connect() as conn:
            holders = conn.exec_driver_sql("SELECT holder FROM leases WHERE name = 'scrub'").all()
        assert len(holders) == 1
        host_pid = holders[0][0].rsplit(":", 1)
        assert int(host_pid[1]) in scrubbing_server.pids()
    finally:
        engine.dispose()
    scrubbing_server.stop()
    assert "Traceback" not in scrubbing_server.log()


def test_a_failing_pass_is_logged_and_the_worker_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A pass that fails (here: a registry without its tables) is logged; the loop
    lives on until shutdown cancels it."""
    settings = settings_module.load(None, {"GLIMPSE_DATA_DIR": str(tmp_path)})
    engine = db.connect(settings.registry_url)
    scrubber = build_scrubber(settings, ImageRegistry(engine), build_stores(settings))

    async def serve_until_a_pass_failed() -> None:
        async with scrub_lifespan(3600, scrubber)(Starlette()):
            while not any(r.getMessage() == "scrub: the pass failed" for r in caplog.records):
                await asyncio.sleep(0.01)

    with caplog.at_level(logging.ERROR, logger="glimpse.service.scrub"):
        asyncio.run(asyncio.wait_for(serve_until_a_pass_failed(), timeout=60))
    engine.dispose()
