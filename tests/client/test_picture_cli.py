"""`glimpse picture ...` against real servers, signed rendition URLs included."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from client_support import at, glimpse, json_of, ok, one_error_line, png

from conftest import SIGNING_KEY
from glimpse.client import connect
from glimpse.testing import ServerProcess


def _id() -> str:
    return f"pic-{uuid.uuid4().hex[:10]}"


def test_upload_info_get_replace_delete(signed_server: ServerProcess, tmp_path: Path) -> None:
    env = at(signed_server)
    picture_id = _id()
    source = tmp_path / "red.png"
    source.write_bytes(png(40, 30))
    location = ok(glimpse("picture", "upload", picture_id, str(source), env=env)).strip()
    assert location == f"{signed_server.url}/pictures/original/{picture_id}"
    info = json_of(glimpse("picture", "info", picture_id, "-f", "json", env=env))
    assert (info["id"], info["width"], info["height"], info["format"]) == (
        picture_id,
        40,
        30,
        "png",
    )
    target = tmp_path / "copy.png"
    ok(glimpse("picture", "get", picture_id, "--file", str(target), env=env))
    assert target.read_bytes() == source.read_bytes()
    assert glimpse("picture", "get", picture_id, env=env).stdout == source.read_bytes()

    taken = glimpse("picture", "upload", picture_id, str(source), env=env)
    assert " 409 Conflict: " in one_error_line(taken)
    ok(glimpse("picture", "upload", picture_id, "-", "--replace", env=env, stdin=png(20, 10)))
    replaced = json_of(glimpse("picture", "info", picture_id, "-f", "json", env=env))
    assert (replaced["width"], replaced["height"]) == (20, 10)
    assert replaced["version"] != info["version"]

    ok(glimpse("picture", "delete", picture_id, env=env))
    gone = glimpse("picture", "info", picture_id, env=env)
    assert " 404 Not Found" in one_error_line(gone)


def test_signed_rendition_urls_are_served(signed_server: ServerProcess, tmp_path: Path) -> None:
    env = at(signed_server)
    picture_id = _id()
    ok(glimpse("picture", "upload", picture_id, "-", env=env, stdin=png(64, 48)))
    key_file = tmp_path / "key"
    key_file.write_text(SIGNING_KEY + "\n")

    def url(*args: str) -> str:
        return ok(glimpse("picture", "url", picture_id, *args, env=env)).strip()

    signed = url("--size", "32x24", "--format", "png", "--fit", "fit", "--key-file", str(key_file))
    assert signed.startswith(f"{signed_server.url}/pictures/derived/{picture_id}-32x24.png?")
    expiring = url(
        "--size", "16x16", "--format", "jpg", "--quality", "70", "--background", "00ff00",
        "--sign", "--key", SIGNING_KEY, "--expires", "1h",
    )  # fmt: skip
    unsigned = url("--size", "32x24", "--format", "png")
    wrong = url("--size", "32x24", "--format", "png", "--key", "not-the-key")
    with httpx.Client(timeout=60) as http:
        answer = http.get(signed)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "image/png"
        assert http.get(expiring).status_code == 200
        assert http.get(unsigned).status_code == 403
        assert http.get(wrong).status_code == 403
    # The library builds the same URL the command prints.
    with connect(endpoint=signed_server.url, environ={}) as client:
        built = client.pictures.rendition_url(
            picture_id, 32, 24, format="png", fit="fit", key=SIGNING_KEY
        )
        assert built == signed
        assert client.pictures.info(picture_id).renditions


def test_unsigned_urls_on_a_public_server(sqlite_server: ServerProcess) -> None:
    env = at(sqlite_server)
    picture_id = _id()
    ok(glimpse("picture", "upload", picture_id, "-", env=env, stdin=png(10, 10)))
    link = ok(glimpse("picture", "url", picture_id, "--size", "5x5", env=env)).strip()
    assert link == f"{sqlite_server.url}/pictures/derived/{picture_id}-5x5"
    with httpx.Client(timeout=60) as http:
        assert http.get(link, headers={"Accept": "image/webp"}).headers["content-type"] == (
            "image/webp"
        )


def test_url_usage_errors(tmp_path: Path) -> None:
    env = {"OS_IMAGE_URL": "http://127.0.0.1:1"}
    for args, message in (
        (["--size", "0x5"], "at least 1"),
        (["--size", "12"], "WIDTHxHEIGHT"),
        (["--size", "5x5", "--sign"], "--sign needs --key"),
        (["--size", "5x5", "--expires", "1h"], "--expires is part of a signed URL"),
        (["--size", "5x5", "--key", "a", "--expires", "2001-01-01T00:00:00Z"], "not in the future"),
        (["--size", "5x5", "--key-file", str(tmp_path / "none")], "cannot read the key"),
        (["--size", "5x5", "--background", "green"], "six hexadecimal digits"),
    ):
        done = glimpse("picture", "url", "cat", *args, env=env)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr.decode(), (args, done.stderr)
    bad_id = glimpse("picture", "url", "no/slash", "--size", "5x5", env=env)
    assert "a picture id is" in one_error_line(bad_id, code=2)
    offline = glimpse(
        "picture", "url", "cat", "--size", "5x5", "--pictures-url", "https://cdn.example/p/"
    )
    assert ok(offline).strip() == "https://cdn.example/p/derived/cat-5x5"
