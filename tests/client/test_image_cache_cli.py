"""`glimpse image cache ...` against a real server with its cache on (identity mode `tokens`):
an admin lists, queues, deletes, clears, prunes and cleans; anyone else is refused with the
server's 403 in one line; a server without a cache says so."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from client_support import SEEDED, at, glimpse, json_of, ok, one_error_line, run_in_process
from hypothesis import given
from hypothesis import strategies as st

import helpers
from glimpse.testing import ServerProcess

ADMIN_ROLES = "admin,member,reader"
ERROR_LINE = re.compile(r"^glimpse: (\d{3}) ([A-Za-z ]+): (.+) \(request id req-[0-9a-f-]+\)$")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture(scope="module")
def cached_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Tokens, the cache on, no prefetcher (what is queued stays queued)."""
    server = helpers.start_server(
        tmp_path_factory,
        env={
            "GLIMPSE_IDENTITY__MODE": "tokens",
            "GLIMPSE_CACHE__ENABLED": "true",
            "GLIMPSE_CACHE__PREFETCH_INTERVAL": "0",
        },
        name="cached-cli",
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tokens(cached_server: ServerProcess) -> dict[str, str]:
    admin = helpers.make_token(cached_server, "ops", "root", roles=ADMIN_ROLES)["token"]
    member = helpers.make_token(cached_server, "cache-users", "alice")["token"]
    return {"admin": admin, "member": member}


def uploaded(server: ServerProcess, token: str, data: bytes) -> dict[str, Any]:
    """A private image of ``data``, of the token's project (an admin sees every image)."""
    name = f"cached-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=server.url, headers={"X-Auth-Token": token}, timeout=60) as api:
        image = helpers.make_image(api, name=name)
        assert helpers.upload(api, image["id"], data).status_code == 204
        return dict(api.get(f"/v2/images/{image['id']}").json())


def download(server: ServerProcess, token: str, image_id: str) -> bytes:
    with httpx.Client(base_url=server.url, headers={"X-Auth-Token": token}, timeout=60) as api:
        return api.get(f"/v2/images/{image_id}/file").content


def rows(server: ServerProcess, token: str) -> dict[str, dict[str, Any]]:
    listed = json_of(glimpse("image", "cache", "list", "-f", "json", env=at(server, token)))
    return {row["image_id"]: row for row in listed}


def wait_cached(server: ServerProcess, token: str, image_id: str) -> dict[str, Any]:
    """The image's row once the fill that a download started has published it."""
    deadline = time.monotonic() + 30
    while True:
        row = rows(server, token).get(image_id)
        if row is not None and row["state"] == "cached":
            return row
        assert time.monotonic() < deadline, "the download did not fill the cache"
        time.sleep(0.1)


def test_an_admin_manages_the_cache(cached_server: ServerProcess, tokens: dict[str, str]) -> None:
    admin = at(cached_server, tokens["admin"])
    data = b"cached over http " * 4000
    first = uploaded(cached_server, tokens["member"], data)
    second = uploaded(cached_server, tokens["member"], b"queued " * 1000)
    assert download(cached_server, tokens["member"], first["id"]) == data
    row = wait_cached(cached_server, tokens["admin"], first["id"])
    assert set(row) == {"image_id", "state", "size", "hits", "last_accessed"}
    assert (row["size"], row["hits"]) == (len(data), 0)
    assert ISO.match(row["last_accessed"])
    # Queued by name; the prefetcher is off, so it stays queued.
    assert ok(glimpse("image", "cache", "queue", second["name"], env=admin)) == ""
    assert rows(cached_server, tokens["admin"])[second["id"]] == {
        "image_id": second["id"], "state": "queued", "size": None, "hits": None,
        "last_accessed": None,
    }  # fmt: skip
    table = ok(glimpse("image", "cache", "list", env=admin)).splitlines()
    assert table[0].split() == ["image_id", "state", "size", "hits", "last_accessed"]
    assert any(line.split()[:3] == [first["id"], "cached", str(len(data))] for line in table)
    assert any(line.split() == [second["id"], "queued"] for line in table)
    values = ok(glimpse("image", "cache", "list", "-f", "value", "-c", "image_id", "-c",
                        "last_modified", env=admin)).splitlines()  # fmt: skip
    assert f"{second['id']}" in [line.strip() for line in values]
    as_yaml = yaml.safe_load(ok(glimpse("image", "cache", "list", "-f", "yaml", env=admin)))
    assert {r["image_id"] for r in as_yaml} >= {first["id"], second["id"]}

    ok(glimpse("image", "cache", "clear", "--target", "queue", env=admin))
    listed = rows(cached_server, tokens["admin"])
    assert second["id"] not in listed
    assert listed[first["id"]]["state"] == "cached"
    ok(glimpse("image", "cache", "queue", second["id"], env=admin))
    ok(glimpse("image", "cache", "clear", "--target", "cache", env=admin))
    assert {i: r["state"] for i, r in rows(cached_server, tokens["admin"]).items()} == {
        second["id"]: "queued"
    }
    ok(glimpse("image", "cache", "clear", env=admin))
    assert rows(cached_server, tokens["admin"]) == {}

    download(cached_server, tokens["member"], first["id"])
    wait_cached(cached_server, tokens["admin"], first["id"])
    ok(glimpse("image", "cache", "delete", first["name"], env=admin))
    assert first["id"] not in rows(cached_server, tokens["admin"])

    pruned = json_of(glimpse("image", "cache", "prune", "-f", "json", env=admin))
    assert pruned == {"total_files_pruned": 0, "total_bytes_pruned": 0}
    cleaned = ok(glimpse("image", "cache", "clean", "-f", "value", env=admin))
    assert cleaned.split() == ["0"]


def test_a_deleted_image_is_dropped_from_the_cache_by_its_id(
    cached_server: ServerProcess, tokens: dict[str, str]
) -> None:
    """No image has that id any more, but another node may still cache it."""
    admin = at(cached_server, tokens["admin"])
    gone = str(uuid.uuid4())
    assert ok(glimpse("image", "cache", "delete", gone, env=admin)) == ""
    line = one_error_line(glimpse("image", "cache", "delete", "no-such-name", env=admin))
    assert line.startswith("glimpse: 404 Not Found: no image named 'no-such-name', nor with")
    queued = one_error_line(glimpse("image", "cache", "queue", gone, env=admin))
    assert queued.startswith(f"glimpse: 404 Not Found: no image named {gone!r}")


def test_only_admins_may(cached_server: ServerProcess, tokens: dict[str, str]) -> None:
    member = at(cached_server, tokens["member"])
    image = uploaded(cached_server, tokens["member"], b"not for members " * 100)
    for command, rule in (
        (["list"], "cache_list"),
        (["list", "-f", "json"], "cache_list"),
        (["queue", image["name"]], "cache_image"),
        (["delete", image["id"]], "cache_delete"),
        (["delete", str(uuid.uuid4())], "cache_delete"),
        (["clear"], "cache_delete"),
        (["clear", "--target", "queue"], "cache_delete"),
        (["prune"], "cache_prune"),
        (["clean", "-f", "json"], "cache_clean"),
    ):
        done = glimpse("image", "cache", *command, env=member)
        assert done.stdout == b""
        found = ERROR_LINE.match(one_error_line(done))
        assert found, (command, done.stderr)
        # The server's own words, as its JSON error body has them.
        assert found.groups() == (
            "403", "Forbidden", f"You are not authorized to complete {rule} action."
        ), command  # fmt: skip
    anonymous = one_error_line(glimpse("image", "cache", "list", env=at(cached_server)))
    assert ERROR_LINE.match(anonymous).group(1) == "401"  # type: ignore[union-attr]


def test_a_server_without_a_cache_says_so(sqlite_server: ServerProcess) -> None:
    done = glimpse("image", "cache", "list", env=at(sqlite_server))
    found = ERROR_LINE.match(one_error_line(done))
    assert found, done.stderr
    assert found.groups() == ("404", "Not Found", "Caching via API is not supported at this site.")
    usage = glimpse("image", "cache", "clear", "--target", "everything", env=at(sqlite_server))
    assert usage.returncode == 2
    assert "invalid choice: 'everything'" in usage.stderr.decode()


def test_help_tells_the_two_cache_commands_apart() -> None:
    over_http = ok(glimpse("image", "cache", "--help"))
    assert "/v2/cache" in over_http
    assert "'glimpse cache' is the command for the cache directory" in over_http
    listed = ok(glimpse("image", "--help"))
    assert "a server's image cache over HTTP" in " ".join(listed.split())


ARGUMENT = st.text(st.characters(blacklist_characters="\x00"), max_size=40)


@SEEDED
@given(
    action=st.sampled_from(["queue", "delete", "clear --target", "list -c", "prune -f"]),
    value=ARGUMENT,
)
def test_any_cache_arguments_end_cleanly(
    cached_server: ServerProcess, tokens: dict[str, str], action: str, value: str
) -> None:
    """As an admin, in-process: a usage error (2), a 4xx in one line (1), or done (0)."""
    argv = ["image", "cache", *action.split(), value, "--os-image-url", cached_server.url,
            "--os-auth-token", tokens["admin"]]  # fmt: skip
    code, text = run_in_process(argv)
    assert "Traceback" not in text
    assert code in (0, 1, 2), (argv, code, text)
    if code == 1:
        assert re.match(r"glimpse: (4\d\d |\d+ images are named )", text.strip()), (argv, text)
    elif code == 2:
        assert text.strip()
