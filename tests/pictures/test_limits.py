"""Configured limits at the HTTP boundary: the upload size (declared and streamed),
pymager's allow-list of sizes; and a prefix of one's own, and ICC profiles kept."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from picture_support import fail_json, jpeg, load, new_id, noise, solid, start

from glimpse.testing import ServerProcess

LIMIT = 100_000


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    server: ServerProcess = start(
        tmp_path_factory,
        {
            "GLIMPSE_PICTURES__MAX_UPLOAD": str(LIMIT),
            "GLIMPSE_PICTURES__ALLOWED_SIZES": '["100x100", "50x40"]',
            "GLIMPSE_PICTURES__PREFIX": "/img",
            "GLIMPSE_PICTURES__KEEP_ICC": "true",
        },
    )
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client
    server.stop()


def _framed(data: bytes) -> bytes:
    return (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="p"\r\n\r\n'
        + data
        + b"\r\n--b--\r\n"
    )


def test_upload_size_limit(limited: httpx.Client) -> None:
    big = jpeg(noise(600, 600), 95)
    assert len(big) > LIMIT
    declared = limited.post(f"/img/original/{new_id()}", files={"file": ("p", big)})
    assert "pictures.max_upload" in fail_json(declared, 413)

    def chunks() -> Iterator[bytes]:
        body = _framed(big)
        for at in range(0, len(body), 8192):
            yield body[at : at + 8192]

    picture_id = new_id()
    streamed = limited.post(
        f"/img/original/{picture_id}",
        content=chunks(),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert "pictures.max_upload" in fail_json(streamed, 413)
    assert limited.get(f"/img/original/{picture_id}").status_code == 404
    # Under the limit, sent the same way, it is taken.
    small = jpeg(solid(64, 64))
    taken = limited.post(
        f"/img/original/{picture_id}",
        content=iter([_framed(small)]),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert taken.status_code == 303
    assert limited.get(f"/img/original/{picture_id}").content == small


def test_allowed_sizes_before_existence(limited: httpx.Client) -> None:
    picture_id = new_id()
    assert (
        limited.post(
            f"/img/original/{picture_id}", files={"file": ("p", jpeg(solid(200, 160)))}
        ).status_code
        == 303
    )
    assert limited.get(f"/img/derived/{picture_id}-100x100.jpg").status_code == 200
    assert limited.get(f"/img/derived/{picture_id}-50x40.png").status_code == 200
    assert "pictures.allowed_sizes" in fail_json(
        limited.get(f"/img/derived/{picture_id}-60x60.jpg"), 403
    )
    # As pymager: a size outside the list is 403 even for an unknown picture.
    fail_json(limited.get(f"/img/derived/{new_id()}-60x60.jpg"), 403)
    fail_json(limited.get(f"/img/derived/{new_id()}-100x100.jpg"), 404)
    fail_json(limited.get(f"/pictures/derived/{picture_id}-100x100.jpg"), 404)


def test_profiles_kept_when_asked(limited: httpx.Client) -> None:
    wide_gamut = solid(100, 100).icc_transform("p3", input_profile="srgb")
    picture_id = new_id()
    sent = limited.post(f"/img/original/{picture_id}", files={"file": ("p", jpeg(wide_gamut))})
    assert sent.status_code == 303
    made = load(limited.get(f"/img/derived/{picture_id}-100x100.jpg").content)
    assert made.get_typeof("icc-profile-data")
