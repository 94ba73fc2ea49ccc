"""Rendition options at the HTTP boundary: fit modes, enlarge, quality, formats, Accept
negotiation, canonical sharing, versioned URLs and replacing an original."""

from __future__ import annotations

import httpx
import pytest
from picture_support import (
    PREFIX,
    difference,
    fail_json,
    jpeg,
    load,
    noise,
    png,
    quadrants,
    solid,
    upload,
    uploaded,
)


@pytest.fixture
def wide(client: httpx.Client) -> str:
    return uploaded(client, png(quadrants(400, 200)))


def _size(client: httpx.Client, path: str) -> tuple[int, int]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    made = load(response.content)
    return made.width, made.height


def test_fit_modes(client: httpx.Client, wide: str) -> None:
    base = f"{PREFIX}/derived/{wide}"
    assert _size(client, f"{base}-100x100.png?fit=fit") == (100, 50)
    assert _size(client, f"{base}-800x800.png?fit=fit") == (400, 200)  # no enlarging
    assert _size(client, f"{base}-800x800.png?fit=fit&enlarge=1") == (800, 400)
    assert _size(client, f"{base}-100x100.png?fit=force") == (100, 100)
    assert _size(client, f"{base}-100x100.png?fill=1".replace("fill=1", "fit=fill")) == (100, 100)
    for gravity in ("centre", "center", "attention", "entropy"):
        assert _size(client, f"{base}-60x90.png?gravity={gravity}") == (60, 90)
    padded = load(client.get(f"{base}-100x100.png?fit=pad&bg=00ff00").content)
    assert (padded.width, padded.height) == (100, 100)
    assert padded.crop(0, 0, 100, 20).avg() == pytest.approx(solid(1, 1, (0, 255, 0)).avg(), abs=2)
    forced = load(client.get(f"{base}-100x100.png?fit=force").content)
    assert difference(forced, quadrants(400, 200).resize(0.25, vscale=0.5)) < 12


def test_formats(client: httpx.Client, wide: str) -> None:
    for ext, media, loader in (
        ("jpg", "image/jpeg", "jpegload"),
        ("jpeg", "image/jpeg", "jpegload"),
        ("png", "image/png", "pngload"),
        ("webp", "image/webp", "webpload"),
        ("avif", "image/avif", "heifload"),
        ("gif", "image/gif", "gifload"),
    ):
        response = client.get(f"{PREFIX}/derived/{wide}-64x32.{ext}")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == media
        assert "vary" not in response.headers
        made = load(response.content)
        assert str(made.get("vips-loader")).startswith(loader)
        assert difference(made, quadrants(64, 32)) < 25


def test_quality(client: httpx.Client) -> None:
    picture_id = uploaded(client, jpeg(noise(300, 300), 95))
    sizes = {
        q: len(client.get(f"{PREFIX}/derived/{picture_id}-200x200.jpg?q={q}").content)
        for q in (10, 95)
    }
    assert sizes[10] < sizes[95] / 2
    for bad in ("0", "101", "x", "5.5"):
        fail_json(client.get(f"{PREFIX}/derived/{picture_id}-200x200.jpg?q={bad}"), 400)


def test_equal_requests_share_one_rendition(client: httpx.Client, wide: str) -> None:
    base = f"{PREFIX}/derived/{wide}-50x50"
    spellings = [
        f"{base}.jpg",
        f"{base}.jpeg?fit=fill",
        f"{base}.jpg?gravity=center&enlarge=1",
        f"{base}.jpg?q=82&enlarge=true",
        f"{base}.jpg?fit=fill&gravity=centre&bg=ffffff",
    ]
    bodies = {client.get(path).content for path in spellings}
    assert len(bodies) == 1
    # Quality means nothing to PNG: it does not make another rendition.
    client.get(f"{base}.png?q=10")
    client.get(f"{base}.png")
    specs = [
        made["spec"] for made in client.get(f"{PREFIX}/original/{wide}/info").json()["renditions"]
    ]
    assert len([s for s in specs if s.startswith("50x50-fill")]) == 2


def test_option_refusals(client: httpx.Client, wide: str) -> None:
    base = f"{PREFIX}/derived/{wide}-50x50.jpg"
    assert "Unknown rendition option" in fail_json(client.get(f"{base}?size=9"), 400)
    assert "twice" in fail_json(client.get(f"{base}?fit=fit&fit=fill"), 400)
    for query in ("fit=cover", "gravity=north", "enlarge=maybe", "bg=red", "v=XYZ", "ext=tiff"):
        fail_json(client.get(f"{base}?{query}"), 400)
    fail_json(client.get(f"{PREFIX}/derived/{wide}-0x50.jpg"), 400)
    fail_json(client.get(f"{PREFIX}/original/{wide}?nope=1"), 400)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("image/avif,image/webp,*/*", "image/avif"),
        ("image/webp,*/*;q=0.8", "image/webp"),
        ("image/avif;q=0,image/webp", "image/webp"),
        ("*/*", "image/jpeg"),
        ("", "image/jpeg"),
    ],
)
def test_negotiation(client: httpx.Client, wide: str, accept: str, expected: str) -> None:
    for path in (f"{PREFIX}/derived/{wide}-40x40", f"{PREFIX}/derived/{wide}-40x40.jpg?ext=auto"):
        response = client.get(path, headers={"Accept": accept})
        assert response.status_code == 200
        assert response.headers["content-type"] == expected
        assert response.headers["vary"] == "Accept"


def test_negotiation_keeps_transparency(client: httpx.Client) -> None:
    clear = solid(40, 40).bandjoin(0).copy(interpretation="srgb")
    picture_id = uploaded(client, png(clear))
    response = client.get(f"{PREFIX}/derived/{picture_id}-20x20", headers={"Accept": "*/*"})
    assert response.headers["content-type"] == "image/png"
    assert load(response.content).bands == 4


def test_versioned_urls_and_replace(client: httpx.Client) -> None:
    picture_id = uploaded(client, jpeg(solid(100, 100, (255, 0, 0))))
    info = client.get(f"{PREFIX}/original/{picture_id}/info").json()
    version = info["version"]
    versioned = f"{PREFIX}/derived/{picture_id}-20x20.jpg?v={version}"
    first = client.get(versioned)
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert first.headers["x-picture-version"] == version
    plain = client.get(f"{PREFIX}/derived/{picture_id}-20x20.jpg")
    assert "immutable" not in plain.headers["cache-control"]
    assert plain.content == first.content
    fail_json(client.get(f"{PREFIX}/derived/{picture_id}-20x20.jpg?v=0123abcd"), 404)

    replaced = upload(client, picture_id, jpeg(solid(100, 100, (0, 0, 255))), method="PUT")
    assert replaced.status_code == 303
    after = client.get(f"{PREFIX}/original/{picture_id}/info").json()
    assert after["version"] != version
    assert after["renditions"] == []
    assert after["created"] == info["created"]
    # The old version's URL names a picture that is gone; the new one is blue.
    assert "gone" in fail_json(client.get(versioned), 404)
    blue = load(client.get(f"{PREFIX}/derived/{picture_id}-20x20.jpg?v={after['version']}").content)
    assert difference(blue, solid(20, 20, (0, 0, 255))) < 8
    # PUT of an unknown id creates it.
    created = upload(client, f"{picture_id}new", jpeg(solid(10, 10)), method="PUT")
    assert created.status_code == 303
    assert client.get(f"{PREFIX}/original/{picture_id}new").status_code == 200
