"""The pymager interface at the HTTP boundary, on SQLite and PostgreSQL: every status code
in pymager's order of decisions, and the headers its clients see."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from picture_support import (
    PREFIX,
    difference,
    fail_json,
    jpeg,
    load,
    new_id,
    noise,
    png,
    quadrants,
    solid,
    upload,
    uploaded,
)

from glimpse.testing import ServerProcess


def test_upload_redirects_to_the_original_which_is_identical(client: httpx.Client) -> None:
    data = jpeg(noise(320, 240))
    picture_id = new_id()
    response = upload(client, picture_id, data)
    assert response.status_code == 303
    assert response.headers["location"] == f"{client.base_url}{PREFIX}/original/{picture_id}"
    followed = client.get(response.headers["location"])
    assert followed.status_code == 200
    assert followed.content == data
    assert followed.headers["content-type"] == "image/jpeg"
    assert followed.headers["content-length"] == str(len(data))
    assert followed.headers["accept-ranges"] == "bytes"
    head = client.head(f"{PREFIX}/original/{picture_id}")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(data))
    assert head.headers["etag"] == followed.headers["etag"]


def test_upload_refusals(client: httpx.Client) -> None:
    path = f"{PREFIX}/original/{new_id()}"
    no_field = client.post(path, files={"picture": ("a.jpg", jpeg(solid(8, 8)))})
    assert "'file'" in fail_json(no_field, 400)
    not_multipart = client.post(path, content=b"xx", headers={"content-type": "image/jpeg"})
    assert "multipart/form-data" in fail_json(not_multipart, 400)
    garbage = client.post(path, files={"file": ("a.jpg", b"this is not a picture" * 10)})
    assert "decode" in fail_json(garbage, 400)
    empty = client.post(path, files={"file": ("a.jpg", b"")})
    fail_json(empty, 400)
    assert client.get(path).status_code == 404  # nothing was kept


@pytest.mark.parametrize("bad", ["a b", "x" * 129, "é", "a.b", "a%2Fb", "~"])
def test_ids_outside_the_alphabet_are_400(client: httpx.Client, bad: str) -> None:
    response = upload(client, bad, jpeg(solid(8, 8)))
    assert response.status_code in (400, 404), response.text  # %2F decodes to a slash: no route
    if response.status_code == 400:
        assert "1 to 128" in fail_json(response, 400)


def test_duplicate_id_is_409(client: httpx.Client) -> None:
    picture_id = uploaded(client, jpeg(solid(16, 16)))
    again = upload(client, picture_id, jpeg(solid(16, 16, (1, 2, 3))))
    assert "already exists" in fail_json(again, 409)


def test_delete_removes_original_and_renditions(client: httpx.Client) -> None:
    picture_id = uploaded(client, jpeg(noise(200, 100)))
    assert client.get(f"{PREFIX}/derived/{picture_id}-50x50.jpg").status_code == 200
    deleted = client.delete(f"{PREFIX}/original/{picture_id}")
    assert deleted.status_code == 200
    assert deleted.content == b""
    assert client.get(f"{PREFIX}/original/{picture_id}").status_code == 404
    assert client.get(f"{PREFIX}/derived/{picture_id}-50x50.jpg").status_code == 404
    fail_json(client.delete(f"{PREFIX}/original/{picture_id}"), 404)
    # The id may be used again, for another picture: no old rendition comes back.
    uploaded(client, jpeg(solid(200, 100, (0, 0, 255))), picture_id)
    again = load(client.get(f"{PREFIX}/derived/{picture_id}-50x50.jpg").content)
    assert difference(again, solid(50, 50, (0, 0, 255))) < 8


def test_derived_default_is_fill_to_exactly_w_by_h(client: httpx.Client) -> None:
    source = quadrants(400, 200)
    picture_id = uploaded(client, png(source))
    response = client.get(f"{PREFIX}/derived/{picture_id}-100x100.jpg")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    made = load(response.content)
    assert (made.width, made.height) == (100, 100)
    # Cover then centre crop: the middle half of the picture.
    reference = source.crop(100, 0, 200, 200).resize(0.5)
    assert difference(made, reference) < 10
    # pymager's fill enlarges small pictures.
    big = load(client.get(f"{PREFIX}/derived/{picture_id}-800x800.png").content)
    assert (big.width, big.height) == (800, 800)


def test_greedy_id_as_pymager(client: httpx.Client) -> None:
    picture_id = uploaded(client, jpeg(solid(64, 48)), f"{new_id()}-complex-id")
    made = load(client.get(f"{PREFIX}/derived/{picture_id}-32x24.jpg").content)
    assert (made.width, made.height) == (32, 24)


def test_derived_order_of_decisions(client: httpx.Client) -> None:
    picture_id = uploaded(client, jpeg(solid(64, 48)))
    fail_json(client.get(f"{PREFIX}/derived/not-a-rendition"), 404)
    fail_json(client.get(f"{PREFIX}/derived/{picture_id}-10x10.jpg.extra"), 404)
    assert "format" in fail_json(client.get(f"{PREFIX}/derived/{picture_id}-10x10.pixar"), 400)
    # An unknown format is 400 even for an unknown picture (decided before existence).
    fail_json(client.get(f"{PREFIX}/derived/{new_id()}-10x10.pixar"), 400)
    # Past the largest dimension: 403 before existence, naming the limit.
    message = fail_json(client.get(f"{PREFIX}/derived/{new_id()}-99999x10.jpg"), 403)
    assert "pictures.max_dimension" in message
    fail_json(client.get(f"{PREFIX}/derived/{new_id()}-10x10.jpg"), 404)


def test_405_names_allowed_methods(client: httpx.Client) -> None:
    derived = client.delete(f"{PREFIX}/derived/x-10x10.jpg")
    fail_json(derived, 405)
    assert set(derived.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
    original = client.patch(f"{PREFIX}/original/x")
    fail_json(original, 405)
    allowed = set(original.headers["allow"].replace(" ", "").split(","))
    assert allowed == {"DELETE", "GET", "HEAD", "POST", "PUT"}


def test_caching_headers_and_conditionals(client: httpx.Client) -> None:
    data = jpeg(noise(120, 90))
    picture_id = uploaded(client, data)
    for path in (f"{PREFIX}/original/{picture_id}", f"{PREFIX}/derived/{picture_id}-40x40.jpg"):
        first = client.get(path)
        assert first.status_code == 200
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert etag.startswith('"')
        assert not etag.startswith("W/")
        assert "cache-control" in first.headers
        assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
        assert client.get(path, headers={"If-None-Match": '"other", ' + etag}).status_code == 304
        assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
        assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 304
        # By date, not by string: a later date is 304 too, an earlier one is 200.
        later = "Fri, 01 Jan 2100 00:00:00 GMT"
        assert client.get(path, headers={"If-Modified-Since": later}).status_code == 304
        earlier = "Thu, 01 Jan 1970 00:00:00 GMT"
        assert client.get(path, headers={"If-Modified-Since": earlier}).status_code == 200
        assert client.get(path, headers={"If-Modified-Since": "garbage"}).status_code == 200
        not_modified = client.get(path, headers={"If-None-Match": etag})
        assert not_modified.headers["etag"] == etag
        assert not_modified.content == b""
        assert client.get(path, headers={"If-Unmodified-Since": earlier}).status_code == 412
        assert client.get(path, headers={"If-Match": '"other"'}).status_code == 412
    original = client.get(f"{PREFIX}/original/{picture_id}")
    assert original.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()[:32]}"'


def test_range(client: httpx.Client) -> None:
    data = jpeg(noise(120, 90))
    picture_id = uploaded(client, data)
    path = f"{PREFIX}/original/{picture_id}"
    part = client.get(path, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == data[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"
    assert client.get(path, headers={"Range": "bytes=-5"}).content == data[-5:]
    assert client.get(path, headers={"Range": "bytes=5-"}).content == data[5:]
    refused = client.get(path, headers={"Range": f"bytes={len(data)}-"})
    fail_json(refused, 416)
    assert refused.headers["content-range"] == f"bytes */{len(data)}"
    rendition = client.get(f"{PREFIX}/derived/{picture_id}-30x30.png")
    tail = client.get(f"{PREFIX}/derived/{picture_id}-30x30.png", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206
    assert tail.content == rendition.content[-10:]
    stale = client.get(path, headers={"Range": "bytes=0-3", "If-Range": '"old"'})
    assert stale.status_code == 200
    assert stale.content == data


def test_info(client: httpx.Client) -> None:
    data = png(quadrants(90, 60))
    picture_id = uploaded(client, data)
    client.get(f"{PREFIX}/derived/{picture_id}-30x30.webp")
    for path in (f"{PREFIX}/original/{picture_id}/info", f"{PREFIX}/original/{picture_id}?info"):
        shown = client.get(path)
        assert shown.status_code == 200
        body = shown.json()
        assert (body["width"], body["height"], body["format"]) == (90, 60, "png")
        assert body["size"] == len(data)
        assert body["checksum"] == f"sha256:{hashlib.sha256(data).hexdigest()}"
        assert body["version"] == hashlib.sha256(data).hexdigest()[:16]
        assert body["created"].endswith("GMT")
        assert 6 <= len(body["placeholder"]["blurhash"]) <= 40
        (made,) = body["renditions"]
        assert (made["width"], made["height"], made["format"]) == (30, 30, "webp")
        assert made["renders"] == 1
    fail_json(client.get(f"{PREFIX}/original/{new_id()}/info"), 404)


def test_the_api_description_includes_the_pictures(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    original = paths[f"{PREFIX}/original/{{picture_id}}"]
    assert set(original) == {"get", "head", "post", "put", "delete"}
    assert "303" in original["post"]["responses"]
    assert set(paths[f"{PREFIX}/derived/{{segment}}"]) == {"get", "head"}
    assert f"{PREFIX}/original/{{picture_id}}/info" in paths


def _stored(server: ServerProcess, picture_id: str) -> list[str]:
    """The store's files of a picture: its original and its renditions."""
    return sorted(
        path.name
        for path in (server.data_dir / "images").iterdir()
        if path.name.startswith((f"picture-{picture_id}-", f"rendition-{picture_id}-"))
    )


def test_delete_and_replace_remove_the_bytes(server: ServerProcess, client: httpx.Client) -> None:
    picture_id = uploaded(client, jpeg(noise(120, 90)))
    for size in ("10x10", "20x20"):
        assert client.get(f"{PREFIX}/derived/{picture_id}-{size}.jpg").status_code == 200
    before = _stored(server, picture_id)
    assert len(before) == 3
    assert upload(client, picture_id, jpeg(noise(90, 120)), method="PUT").status_code == 303
    after = _stored(server, picture_id)
    assert len(after) == 1
    assert not set(after) & set(before)
    assert client.delete(f"{PREFIX}/original/{picture_id}").status_code == 200
    assert _stored(server, picture_id) == []
