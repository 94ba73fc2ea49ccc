"""`glimpse image ...` against a real server: every command, its output formats and exits."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml
from client_support import at, canned, glimpse, json_of, ok, one_error_line

import helpers
from glimpse.testing import ServerProcess, free_port

JSON = {"Content-Type": "application/json"}
ERROR_LINE = re.compile(r"^glimpse: (\d{3}) ([A-Za-z ]+): .+ \(request id req-[0-9a-f-]+\)$")


def _create(server: ServerProcess, *args: str) -> dict[str, Any]:
    created: dict[str, Any] = json_of(
        glimpse("image", "create", "--name", f"cli-{uuid.uuid4().hex[:8]}", *args, "-f", "json",
                env=at(server))
    )  # fmt: skip
    return created


def test_create_with_a_file_then_download_round_trip(
    sqlite_server: ServerProcess, tmp_path: Path
) -> None:
    data = secrets.token_bytes(2 * (1 << 20) + 5)
    source = tmp_path / "disk.raw"
    source.write_bytes(data)
    image = _create(
        sqlite_server, "--file", str(source), "--property", "os_distro=alpine", "--tag", "t1"
    )
    assert image["status"] == "active"
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    assert image["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert (image["os_distro"], image["tags"], image["size"]) == ("alpine", ["t1"], len(data))
    target = tmp_path / "copy.raw"
    ok(glimpse("image", "download", image["id"], "--file", str(target), env=at(sqlite_server)))
    assert target.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.raw", "disk.raw"]
    piped = glimpse("image", "download", image["id"], env=at(sqlite_server))
    assert piped.returncode == 0
    assert piped.stdout == data
    assert piped.stderr == b""  # no progress bar in a pipe


def test_upload_from_stdin_into_a_queued_image(sqlite_server: ServerProcess) -> None:
    image = _create(sqlite_server)
    assert image["status"] == "queued"
    data = secrets.token_bytes(300_000)
    ok(glimpse("image", "upload", image["id"], "-", env=at(sqlite_server), stdin=data))
    shown = json_of(glimpse("image", "show", image["id"], "-f", "json", env=at(sqlite_server)))
    assert (shown["status"], shown["size"]) == ("active", len(data))
    again = glimpse("image", "upload", image["id"], "-", env=at(sqlite_server), stdin=b"more")
    assert ERROR_LINE.match(one_error_line(again)).group(1) == "409"  # type: ignore[union-attr]


def test_show_formats(sqlite_server: ServerProcess) -> None:
    image = _create(sqlite_server, "--property", "k=v", "--min-ram", "128")
    env = at(sqlite_server)
    as_yaml = yaml.safe_load(ok(glimpse("image", "show", image["id"], "-f", "yaml", env=env)))
    assert as_yaml["k"] == "v"
    assert as_yaml["min_ram"] == 128
    value = ok(
        glimpse("image", "show", image["id"], "-f", "value", "-c", "name", "-c", "k", env=env)
    )
    assert value.splitlines() == [image["name"], "v"]
    table = ok(glimpse("image", "show", image["id"], "-c", "id", "-c", "status", env=env))
    assert table.splitlines() == [
        "field   value",
        f"id      {image['id']}",
        "status  queued",
    ]
    picked = json_of(glimpse("image", "show", image["id"], "-f", "json", "-c", "ID", env=env))
    assert picked == {"id": image["id"]}
    unknown = glimpse("image", "show", image["id"], "-c", "nosuch", env=env)
    assert "no column 'nosuch'" in one_error_line(unknown, code=2)


def test_list_filters_and_formats(sqlite_server: ServerProcess) -> None:
    tag = f"tag-{uuid.uuid4().hex[:8]}"
    first = _create(sqlite_server, "--tag", tag, "--property", "os_distro=arch")
    second = _create(sqlite_server, "--tag", tag, "--visibility", "private")
    env = at(sqlite_server)
    listed = json_of(glimpse("image", "list", "--tag", tag, "-f", "json", env=env))
    assert {row["id"] for row in listed} == {first["id"], second["id"]}
    assert set(listed[0]) == {"id", "name", "status", "visibility", "disk_format", "size"}
    by_property = glimpse(
        "image", "list", "--tag", tag, "--property", "os_distro=arch", "-f", "value", "-c", "id",
        env=env,
    )  # fmt: skip
    assert ok(by_property).split() == [first["id"]]
    private = json_of(
        glimpse("image", "list", "--tag", tag, "--visibility", "private", "-f", "json", env=env)
    )
    assert [row["id"] for row in private] == [second["id"]]
    by_name = ok(
        glimpse("image", "list", "--name", first["name"], "-f", "value", "-c", "name", env=env)
    )
    assert by_name.split() == [first["name"]]
    table = ok(glimpse("image", "list", "--tag", tag, env=env)).splitlines()
    assert table[0].split() == ["id", "name", "status", "visibility", "disk_format", "size"]
    assert len(table) == 3


def test_list_by_a_name_with_a_colon_matches_it_exactly(sqlite_server: ServerProcess) -> None:
    """The server reads ``op:`` before a name (``name=a:b`` is a 400): the literal is meant."""
    tag = f"colon-{uuid.uuid4().hex[:8]}"
    env = at(sqlite_server)
    ids: dict[str, str] = {}
    # "x" and "b" are what a name read as ``op:operand`` would be taken for.
    for name in ("a:b", "eq:x", "x", "b"):
        created = glimpse("image", "create", "--name", name, "--tag", tag, "-f", "json", env=env)
        ids[name] = json_of(created)["id"]
    for name in ("a:b", "eq:x", "x"):
        listed = json_of(
            glimpse("image", "list", "--name", name, "--tag", tag, "-f", "json", env=env)
        )
        assert [(row["id"], row["name"]) for row in listed] == [(ids[name], name)], name
        # Without the tag: the images of other tests, but only of exactly this name.
        every = json_of(glimpse("image", "list", "--name", name, "-f", "json", env=env))
        assert ids[name] in {row["id"] for row in every}, name
        assert {row["name"] for row in every} == {name}


def test_list_follows_pages_with_a_total_limit(paged_server: ServerProcess) -> None:
    tag = f"pages-{uuid.uuid4().hex[:8]}"
    names = [f"n{n}-{tag}" for n in range(7)]
    with httpx.Client(base_url=paged_server.url, timeout=30) as api:
        for name in names:
            helpers.make_image(api, name=name, tags=[tag])
    env = at(paged_server)
    every = ok(
        glimpse(
            "image",
            "list",
            "--tag",
            tag,
            "--sort",
            "name:asc",
            "-f",
            "value",
            "-c",
            "name",
            env=env,
        )
    )
    assert every.split() == names  # 7 images, pages of at most 3
    some = ok(
        glimpse("image", "list", "--tag", tag, "--sort", "name:desc", "--limit", "4", "-f",
                "value", "-c", "name", env=env)
    )  # fmt: skip
    assert some.split() == names[::-1][:4]


def test_update_tags_members_and_actions(sqlite_server: ServerProcess) -> None:
    env = at(sqlite_server)
    image = _create(sqlite_server, "--property", "gone=soon", "--visibility", "shared")
    image_id = image["id"]
    updated = json_of(
        glimpse("image", "update", image_id, "--name", "new-name", "--property", "a=b",
                "--remove-property", "gone", "--protected", "-f", "json", env=env)
    )  # fmt: skip
    assert (updated["name"], updated["a"], updated["protected"]) == ("new-name", "b", True)
    assert "gone" not in updated
    nothing = glimpse("image", "update", image_id, env=env)
    assert "nothing to update" in one_error_line(nothing, code=2)

    ok(glimpse("image", "tag", "add", image_id, "x", "y", env=env))
    ok(glimpse("image", "tag", "remove", image_id, "x", env=env))
    assert json_of(glimpse("image", "show", image_id, "-f", "json", env=env))["tags"] == ["y"]

    member = json_of(glimpse("image", "member", "add", image_id, "proj-b", "-f", "json", env=env))
    assert (member["member_id"], member["status"]) == ("proj-b", "pending")
    members = json_of(glimpse("image", "member", "list", image_id, "-f", "json", env=env))
    assert [m["member_id"] for m in members] == ["proj-b"]
    accepted = json_of(
        glimpse("image", "member", "set", image_id, "proj-b", "accepted", "-f", "json", env=env)
    )
    assert accepted["status"] == "accepted"
    ok(glimpse("image", "member", "remove", image_id, "proj-b", env=env))
    assert json_of(glimpse("image", "member", "list", image_id, "-f", "json", env=env)) == []

    ok(glimpse("image", "upload", image_id, "-", env=env, stdin=b"payload"))
    ok(glimpse("image", "deactivate", image_id, env=env))
    shown = ok(glimpse("image", "show", image_id, "-f", "value", "-c", "status", env=env))
    assert shown.strip() == "deactivated"
    ok(glimpse("image", "reactivate", image_id, env=env))
    protected = glimpse("image", "delete", image_id, env=env)
    assert one_error_line(protected).startswith(f"glimpse: {image_id}: 403 Forbidden: ")
    ok(glimpse("image", "update", image_id, "--unprotected", env=env))
    ok(glimpse("image", "delete", image_id, env=env))
    gone = glimpse("image", "show", image_id, env=env)
    assert ERROR_LINE.match(one_error_line(gone)).group(1, 2) == ("404", "Not Found")  # type: ignore[union-attr]


def test_delete_tries_every_id(sqlite_server: ServerProcess) -> None:
    env = at(sqlite_server)
    first, second = _create(sqlite_server), _create(sqlite_server)
    missing = str(uuid.uuid4())
    done = glimpse("image", "delete", first["id"], missing, second["id"], env=env)
    assert done.returncode == 1
    assert done.stderr.decode().splitlines() == [
        line
        for line in done.stderr.decode().splitlines()
        if line.startswith(f"glimpse: {missing}: 404")
    ]
    for image in (first, second):
        assert glimpse("image", "show", image["id"], env=env).returncode == 1


def test_stores_and_import_methods(sqlite_server: ServerProcess) -> None:
    env = at(sqlite_server)
    stores = json_of(glimpse("image", "stores", "-f", "json", env=env))
    assert [s["default"] for s in stores].count(True) == 1
    methods = json_of(glimpse("image", "import-methods", "-f", "json", env=env))
    assert {m["method"] for m in methods} <= {
        "glance-direct", "web-download", "copy-image", "glance-download",
    }  # fmt: skip


def test_import_options_are_checked_before_anything_is_created(
    sqlite_server: ServerProcess, tmp_path: Path
) -> None:
    env = at(sqlite_server)
    before = ok(glimpse("image", "list", "-f", "value", "-c", "id", env=env))
    for args, message in (
        (["--import-method", "web-download"], "needs --uri"),
        (["--import-method", "glance-direct"], "--file goes with"),
        (["--uri", "http://example.com/x"], "needs --import-method"),
        (["--import-method", "copy-image"], "copies an existing image"),
        (["--import-method", "glance-download", "--remote-region", "r"], "--remote-image-id"),
        (["--import-method", "web-download", "--uri", "http://h/x", "--store", "a", "--all-stores"],
         "cannot go together"),
        (["--file", str(tmp_path / "absent")], "cannot read"),
    ):  # fmt: skip
        done = glimpse("image", "create", "--name", "never", *args, env=env)
        assert message in one_error_line(done, code=2), args
    assert ok(glimpse("image", "list", "-f", "value", "-c", "id", env=env)) == before


def test_errors_are_one_line_with_the_exit_status(sqlite_server: ServerProcess) -> None:
    env = at(sqlite_server)
    missing = glimpse("image", "show", str(uuid.uuid4()), env=env)
    line = one_error_line(missing)
    assert ERROR_LINE.match(line), line
    bad_sort = glimpse("image", "list", "--sort", "nosuch:asc", env=env)
    assert ERROR_LINE.match(one_error_line(bad_sort)).group(1) == "400"  # type: ignore[union-attr]
    usage = glimpse("image", "list", "--sort", "name:sideways", env=env)
    assert usage.returncode == 2
    assert "sort direction is asc or desc" in usage.stderr.decode()
    nowhere = glimpse("image", "list")
    assert "no image endpoint" in one_error_line(nowhere, code=2)
    unreachable = glimpse("image", "list", env={"OS_IMAGE_URL": f"http://127.0.0.1:{free_port()}"})
    assert "cannot talk to http://127.0.0.1" in one_error_line(unreachable)


def test_a_corrupt_download_is_refused_and_leaves_no_file(tmp_path: Path) -> None:
    """A server whose record promises other bytes than it sends: the download fails."""
    promised, sent = b"the real image data" * 1000, b"something else entirely" * 1000
    image_id = str(uuid.uuid4())
    record = {
        "id": image_id, "status": "active", "size": len(sent),
        "checksum": hashlib.md5(promised).hexdigest(),
        "os_hash_algo": "sha512", "os_hash_value": hashlib.sha512(promised).hexdigest(),
    }  # fmt: skip
    answers = {
        f"/v2/images/{image_id}": (200, JSON, json.dumps(record).encode()),
        f"/v2/images/{image_id}/file": (200, {"Content-Type": "application/octet-stream"}, sent),
    }
    target = tmp_path / "image.raw"
    with canned(answers) as url:
        env = {"OS_IMAGE_URL": url}
        done = glimpse("image", "download", image_id, "--file", str(target), env=env)
        line = one_error_line(done)
        assert "sha512 of the data received is" in line
        assert hashlib.sha512(promised).hexdigest() in line
        assert list(tmp_path.iterdir()) == []
        piped = glimpse("image", "download", image_id, env=env)
        assert "os_hash_value" in one_error_line(piped)
        unchecked = glimpse(
            "image", "download", image_id, "--file", str(target), "--no-verify", env=env
        )
        ok(unchecked)
        assert target.read_bytes() == sent


def test_tokens_mode(tokens_server: ServerProcess) -> None:
    secret = helpers.make_token(tokens_server, "project-cli")["token"]
    anonymous = glimpse("image", "list", env=at(tokens_server))
    assert ERROR_LINE.match(one_error_line(anonymous)).group(1) == "401"  # type: ignore[union-attr]
    image = json_of(
        glimpse("image", "create", "--name", "tok", "-f", "json", env=at(tokens_server, secret))
    )
    assert image["owner"] == "project-cli"
    # An explicit --os-auth-token wins over OS_AUTH_TOKEN.
    done = glimpse(
        "image", "show", image["id"], "--os-auth-token", secret, "-f", "value", "-c", "owner",
        env=at(tokens_server, "glt_not-a-real-token"),
    )  # fmt: skip
    assert ok(done).strip() == "project-cli"
    wrong = glimpse("image", "show", image["id"], "--token", "glt_wrong", env=at(tokens_server))
    assert " 401 " in one_error_line(wrong)


def test_completion_script_completes_commands_and_choices(tmp_path: Path) -> None:
    script = tmp_path / "glimpse.bash"
    script.write_text(ok(glimpse("completion", "bash")))
    probe = (
        f"source {script}\n"
        'COMP_WORDS=(glimpse image li); COMP_CWORD=2; _glimpse; echo "${COMPREPLY[*]}"\n'
        "COMP_WORDS=(glimpse image list --visibility ''); COMP_CWORD=4; _glimpse; "
        'echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(glimpse picture url x --siz); COMP_CWORD=4; _glimpse; echo "${COMPREPLY[*]}"\n'
    )
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == ["list", "public private shared community all", "--size"]
    assert ok(glimpse("completion", "zsh")).startswith("autoload -U +X bashcompinit")


def test_a_cloud_without_auth(sqlite_server: ServerProcess, tmp_path: Path) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        yaml.safe_dump(
            {"clouds": {"local": {"auth_type": "none", "auth": {"endpoint": sqlite_server.url}}}}
        )
    )
    env = {"OS_CLIENT_CONFIG_FILE": str(clouds)}
    image = json_of(
        glimpse("image", "--os-cloud", "local", "create", "--name", "cloudy", "-f", "json", env=env)
    )
    shown = glimpse(
        "image", "show", image["id"], "-f", "value", "-c", "name", env={**env, "OS_CLOUD": "local"}
    )
    assert ok(shown).strip() == "cloudy"
