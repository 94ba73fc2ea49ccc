"""Images named by name as well as by id: `glimpse image ...`, `glimpse fetch` and
``Client.images.find`` against a real server. The id is tried first; a name is looked up
in the caller's images over every page; several matches and none are one-line errors."""

from __future__ import annotations

import os
import re
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from client_support import SEEDED, at, glimpse, json_of, ok, one_error_line, run_in_process
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import helpers
from glimpse.client import AmbiguousImageName, ImageNameNotFound, NotFound, connect
from glimpse.testing import ServerProcess

#: What argv can carry: any code point but NUL, lone surrogates included.
REFERENCE = st.text(st.characters(blacklist_characters="\x00"), max_size=60)
#: The one line of a refusal that is not the server's fault.
CLEAN_REFUSAL = re.compile(r"glimpse: (\d+ images are named |4\d\d )")
#: The columns of `glimpse image tasks`.
TASK_COLUMNS = ("id", "type", "status", "message", "updated_at")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def made(server: ServerProcess, name: str, data: bytes | None = None) -> str:
    """An image named ``name`` (with ``data`` uploaded, if given); its id."""
    with httpx.Client(base_url=server.url, timeout=60) as api:
        image_id = str(helpers.make_image(api, name=name)["id"])
        if data is not None:
            assert helpers.upload(api, image_id, data).status_code == 204
    return image_id


def ended_tasks(server: ServerProcess, image_id: str) -> list[dict[str, Any]]:
    """The image's tasks as the API lists them, once none is pending or processing."""
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=server.url, timeout=60) as api:
        while True:
            tasks: list[dict[str, Any]] = api.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
            if tasks and all(t["status"] not in ("pending", "processing") for t in tasks):
                return tasks
            assert time.monotonic() < deadline, tasks
            time.sleep(0.05)


def fetch(*args: str, home: Path, server: ServerProcess) -> tuple[int, str, str]:
    """`glimpse fetch ARGS` through the Image API only, with its own state file."""
    env = {**at(server), "HOME": str(home), "GLIMPSE_FETCH_STATE_FILE": str(home / "state.json")}
    done = glimpse("fetch", *args, "--handlers", "api", env=env)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def test_every_image_command_takes_a_name(sqlite_server: ServerProcess, tmp_path: Path) -> None:
    env = at(sqlite_server)
    name = unique("named")
    data = secrets.token_bytes(70_000)
    image_id = made(sqlite_server, name, data)
    shown = json_of(glimpse("image", "show", name, "-f", "json", env=env))
    assert shown["id"] == image_id
    target = tmp_path / "copy.raw"
    ok(glimpse("image", "download", name, "--file", str(target), env=env))
    assert target.read_bytes() == data
    assert glimpse("image", "download", name, env=env).stdout == data
    updated = json_of(glimpse("image", "update", name, "--property", "k=v", "-f", "json", env=env))
    assert (updated["id"], updated["k"]) == (image_id, "v")
    ok(glimpse("image", "tag", "add", name, "t1", "t2", env=env))
    ok(glimpse("image", "tag", "remove", name, "t1", env=env))
    ok(glimpse("image", "update", name, "--visibility", "shared", env=env))
    ok(glimpse("image", "member", "add", name, "proj-named", env=env))
    members = json_of(glimpse("image", "member", "list", name, "-f", "json", env=env))
    assert [m["member_id"] for m in members] == ["proj-named"]
    ok(glimpse("image", "member", "set", name, "proj-named", "accepted", env=env))
    ok(glimpse("image", "member", "remove", name, "proj-named", env=env))
    ok(glimpse("image", "deactivate", name, env=env))
    assert ok(
        glimpse("image", "show", image_id, "-f", "value", "-c", "status", env=env)
    ).strip() == ("deactivated")
    ok(glimpse("image", "reactivate", name, env=env))
    after = json_of(glimpse("image", "show", name, "-f", "json", env=env))
    assert (after["status"], after["tags"]) == ("active", ["t2"])
    ok(glimpse("image", "delete", name, env=env))
    assert glimpse("image", "show", image_id, env=env).returncode == 1


def test_upload_stage_and_import_take_a_name(sqlite_server: ServerProcess) -> None:
    env = at(sqlite_server)
    queued = unique("queued")
    image_id = made(sqlite_server, queued)
    ok(glimpse("image", "upload", queued, "-", env=env, stdin=b"uploaded by name"))
    assert json_of(glimpse("image", "show", image_id, "-f", "json", env=env))["size"] == 16
    staged = unique("staged")
    staged_id = made(sqlite_server, staged)
    ok(glimpse("image", "stage", staged, "-", env=env, stdin=b"staged by name"))
    ok(glimpse("image", "import", staged, "--import-method", "glance-direct", env=env))
    served = ended_tasks(sqlite_server, staged_id)
    tasks = json_of(glimpse("image", "tasks", staged_id, "-f", "json", env=env))
    assert len(tasks) == 1
    assert tasks == [{k: t[k] for k in TASK_COLUMNS} for t in served]
    assert json_of(glimpse("image", "tasks", staged, "-f", "json", env=env)) == tasks


def test_an_id_wins_over_a_name(sqlite_server: ServerProcess) -> None:
    env = at(sqlite_server)
    first = made(sqlite_server, unique("first"))
    # Another image whose name is the first one's id: the id names the first.
    second = made(sqlite_server, first)
    assert ok(glimpse("image", "show", first, "-f", "value", "-c", "id", env=env)).strip() == first
    assert second != first


def test_a_name_is_matched_exactly_operators_and_all(sqlite_server: ServerProcess) -> None:
    env = at(sqlite_server)
    tail = uuid.uuid4().hex[:8]
    names = [f"in:a-{tail},b-{tail}", f"a-{tail}", f"eq:x:{tail}", f'"q {tail}', f"gt:{tail}"]
    ids = {name: made(sqlite_server, name) for name in names}
    for name, image_id in ids.items():
        found = ok(glimpse("image", "show", name, "-f", "value", "-c", "id", env=env)).strip()
        assert found == image_id, name


def test_several_images_of_one_name_are_an_error_listing_every_id(
    paged_server: ServerProcess,
) -> None:
    """Pages hold at most 3 images here: the 5 matches span two pages."""
    env = at(paged_server)
    name = unique("twin")
    ids = sorted(made(paged_server, name) for _ in range(5))
    for _ in range(4):
        made(paged_server, unique("other"))
    for command in (
        ["image", "show", name],
        ["image", "tasks", name],
        ["image", "delete", name],
        ["fetch", name, "x"],
    ):
        line = one_error_line(glimpse(*command, env=env))
        assert f"5 images are named {name!r}: " in line, line
        assert sorted(line.rsplit(": ", 1)[-1].removesuffix("; give an id").split(", ")) == ids
    # Nothing was deleted.
    for image_id in ids:
        ok(glimpse("image", "show", image_id, env=env))
    alone = unique("alone")
    image_id = made(paged_server, alone)
    for _ in range(4):
        made(paged_server, unique("after"))
    assert ok(glimpse("image", "show", alone, "-f", "value", "-c", "id", env=env)).strip() == (
        image_id
    )


def test_no_such_name_exits_as_a_missing_id_does(sqlite_server: ServerProcess) -> None:
    env = at(sqlite_server)
    name = unique("absent")
    missing_id = glimpse("image", "show", str(uuid.uuid4()), env=env)
    message = f"404 Not Found: no image named {name!r}, nor with that id (request id req-"
    for command in (
        ["image", "show", name],
        ["image", "download", name],
        ["image", "update", name, "--name", "x"],
        ["image", "tag", "add", name, "t"],
        ["image", "member", "list", name],
        ["image", "tasks", name],
    ):
        done = glimpse(*command, env=env)
        assert done.returncode == missing_id.returncode == 1
        assert one_error_line(done).startswith(f"glimpse: {message}")
    # The commands that take several images name the one that failed.
    reactivated = one_error_line(glimpse("image", "reactivate", name, env=env))
    assert reactivated.startswith(f"glimpse: {name}: {message}")
    gone = str(uuid.uuid4())
    several = glimpse("image", "delete", name, gone, env=env)
    lines = several.stderr.decode().splitlines()
    assert several.returncode == 1
    assert len(lines) == 2
    assert lines[0].startswith(f"glimpse: {name}: {message}")
    assert lines[1].startswith(f"glimpse: {gone}: 404 Not Found: no image named {gone!r}")


def test_fetch_takes_a_name(sqlite_server: ServerProcess, tmp_path: Path) -> None:
    name = unique("fetched")
    data = os.urandom(300_000)
    image_id = made(sqlite_server, name, data)
    code, out, err = fetch(name, str(tmp_path / "disk.raw"), home=tmp_path, server=sqlite_server)
    assert code == 0, err
    assert out.strip() == f"{tmp_path / 'disk.raw'}: image {image_id}, fetched by api"
    assert (tmp_path / "disk.raw").read_bytes() == data
    code, out, err = fetch(name, str(tmp_path / "disk.raw"), home=tmp_path, server=sqlite_server)
    assert (code, err) == (0, "")
    assert "already there (recorded for api)" in out
    absent = unique("absent")
    code, out, err = fetch(absent, str(tmp_path / "b.raw"), home=tmp_path, server=sqlite_server)
    assert code == 1
    assert len(err.splitlines()) == 1
    assert err.startswith(f"glimpse: 404 Not Found: no image named {absent!r}, nor with that id")
    assert not (tmp_path / "b.raw").exists()


def test_the_library_finds_by_id_or_name(sqlite_server: ServerProcess) -> None:
    name = unique("library")
    image_id = made(sqlite_server, name)
    with connect(endpoint=sqlite_server.url, environ={}) as client:
        assert client.images.find(image_id).id == image_id
        assert client.images.find(name).id == image_id
        with pytest.raises(ImageNameNotFound) as missing:
            client.images.find(name + "-not")
        assert isinstance(missing.value, NotFound)
        assert missing.value.status == 404
        twin = made(sqlite_server, name)
        with pytest.raises(AmbiguousImageName) as several:
            client.images.find(name)
        assert sorted(several.value.ids) == sorted([image_id, twin])
        for odd in ("", ".", ".."):
            with pytest.raises(ImageNameNotFound):
                client.images.find(odd)


@SEEDED
@given(reference=REFERENCE)
def test_any_reference_resolves_or_fails_cleanly(
    sqlite_server: ServerProcess, reference: str
) -> None:
    for argv in (
        ["image", "show", reference],
        ["image", "tag", "add", reference, "t"],
        ["image", "cache", "queue", reference],
        ["image", "tasks", reference],
    ):
        code, err = run_in_process([*argv, "--os-image-url", sqlite_server.url])
        assert "Traceback" not in err
        assert code in (0, 1, 2), (argv, code, err)
        if code == 1:
            # A missing or shared name, or a 4xx of the server; never a 5xx.
            assert CLEAN_REFUSAL.match(err.strip().splitlines()[-1]), (argv, err)
        elif code == 2:
            assert err.strip(), "a usage error says what is wrong"


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    reference=st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
    )
)
def test_fetch_of_any_reference_fails_cleanly(
    sqlite_server: ServerProcess, tmp_path: Path, reference: str
) -> None:
    """In a child process: the fetch command sets its logging up for the whole process."""
    code, _, err = fetch(reference, str(tmp_path / "t.raw"), home=tmp_path, server=sqlite_server)
    assert "Traceback" not in err
    assert code in (0, 1, 2), (code, err)
    if code == 1:
        assert CLEAN_REFUSAL.match(err.strip().splitlines()[-1]), err
    elif code == 2:
        assert err.strip(), "a usage error says what is wrong"
    else:
        (tmp_path / "t.raw").unlink()
