"""Pictures of every awkward kind: EXIF orientations, CMYK, palettes, transparency,
decompression bombs, truncated files, many frames, and metadata that must not leak."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import pyvips
from picture_support import (
    PREFIX,
    animated,
    difference,
    fail_json,
    jpeg,
    load,
    noise,
    png,
    png_bomb,
    quadrants,
    solid,
    upload,
    uploaded,
)

#: How to store a picture so that EXIF orientation n shows it upright.
STORED: dict[int, Callable[[pyvips.Image], pyvips.Image]] = {
    1: lambda i: i,
    2: lambda i: i.fliphor(),
    3: lambda i: i.rot180(),
    4: lambda i: i.flipver(),
    5: lambda i: i.rot90().fliphor(),
    6: lambda i: i.rot270(),
    7: lambda i: i.rot270().fliphor(),
    8: lambda i: i.rot90(),
}


@pytest.mark.parametrize("orientation", sorted(STORED))
def test_exif_orientation_is_applied(client: httpx.Client, orientation: int) -> None:
    upright = quadrants(80, 40)
    stored = STORED[orientation](upright).copy()
    stored.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    picture_id = uploaded(client, jpeg(stored, 95))
    info = client.get(f"{PREFIX}/original/{picture_id}/info").json()
    assert info["format"] == "jpeg"
    made = load(client.get(f"{PREFIX}/derived/{picture_id}-80x80.png?fit=fit&enlarge=1").content)
    assert (made.width, made.height) == (80, 40)
    assert difference(made, upright) < 6
    assert made.get_typeof("orientation") == 0 or made.get("orientation") == 1


def test_gps_and_other_metadata_are_stripped(client: httpx.Client) -> None:
    tagged = noise(64, 64).copy()
    tagged.set_type(pyvips.GValue.gstr_type, "exif-ifd3-GPSLatitudeRef", "N")
    tagged.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Artist", "Someone")
    data = jpeg(tagged)
    assert "exif-ifd3-GPSLatitudeRef" in load(data).get_fields()
    picture_id = uploaded(client, data)
    assert client.get(f"{PREFIX}/original/{picture_id}").content == data  # the original as sent
    for ext in ("jpg", "png", "webp", "avif"):
        made = load(client.get(f"{PREFIX}/derived/{picture_id}-32x32.{ext}").content)
        fields = made.get_fields()
        assert not [f for f in fields if f.startswith("exif") or f.startswith("xmp")], fields


def test_cmyk_to_jpeg(client: httpx.Client) -> None:
    cmyk = quadrants(80, 40).icc_transform("cmyk", input_profile="srgb")
    assert cmyk.interpretation == "cmyk"
    data = bytes(cmyk.write_to_buffer(".jpg", Q=95))
    picture_id = uploaded(client, data)
    made = load(client.get(f"{PREFIX}/derived/{picture_id}-80x40.jpg").content)
    assert made.interpretation == "srgb"
    assert made.bands == 3
    # Saturated sRGB primaries are outside CMYK: compare with libvips' own way back.
    reference = load(data).icc_transform("srgb", embedded=True, input_profile="cmyk")
    assert difference(made, reference) < 12


def test_palette_and_alpha_to_jpeg(client: httpx.Client) -> None:
    palette = png(quadrants(80, 40), palette=True)
    assert load(palette).get("palette") if load(palette).get_typeof("palette") else True
    clear = quadrants(80, 40).bandjoin(128).copy(interpretation="srgb")
    for data in (palette, png(clear), png(quadrants(80, 40).cast("ushort") * 256, bitdepth=16)):
        picture_id = uploaded(client, data)
        made = load(client.get(f"{PREFIX}/derived/{picture_id}-80x40.jpg").content)
        assert made.bands == 3
        assert made.format == "uchar"
    picture_id = uploaded(client, png(clear))
    kept = load(client.get(f"{PREFIX}/derived/{picture_id}-40x20.png").content)
    assert kept.bands == 4
    flattened = load(client.get(f"{PREFIX}/derived/{picture_id}-40x20.jpg?bg=000000").content)
    assert (
        flattened.avg() < load(client.get(f"{PREFIX}/derived/{picture_id}-40x20.jpg").content).avg()
    )


def test_png_bomb_is_refused_from_its_header(client: httpx.Client) -> None:
    bomb = png_bomb()
    assert len(bomb) < 200_000
    message = fail_json(upload(client, "bomb", bomb), 413)
    assert "pictures.max_pixels" in message
    assert client.get(f"{PREFIX}/original/bomb").status_code == 404


def test_truncated_jpeg_is_refused(client: httpx.Client) -> None:
    data = jpeg(noise(400, 300))
    message = fail_json(upload(client, "truncated", data[: len(data) // 2]), 400)
    assert "decode" in message
    assert client.get(f"{PREFIX}/original/truncated").status_code == 404


def test_many_frames_are_refused(client: httpx.Client) -> None:
    message = fail_json(upload(client, "frames", animated(101, 16, 16)), 413)
    assert "pictures.max_frames" in message


def test_animation_keeps_its_frames(client: httpx.Client) -> None:
    for suffix in (".gif", ".webp"):
        picture_id = uploaded(client, animated(12, 60, 40, suffix))
        assert client.get(f"{PREFIX}/original/{picture_id}/info").json()["frames"] == 12
        for ext in ("gif", "webp"):
            response = client.get(f"{PREFIX}/derived/{picture_id}-30x20.{ext}")
            made = pyvips.Image.new_from_buffer(response.content, "", n=-1)
            assert made.get("n-pages") == 12
            assert (made.width, made.get("page-height")) == (30, 20)
        padded = client.get(f"{PREFIX}/derived/{picture_id}-50x50.webp?fit=pad")
        made = pyvips.Image.new_from_buffer(padded.content, "", n=-1)
        assert (made.get("n-pages"), made.width, made.get("page-height")) == (12, 50, 50)
        still = load(client.get(f"{PREFIX}/derived/{picture_id}-30x20.jpg").content)
        assert (still.width, still.height) == (30, 20)
        negotiated = client.get(
            f"{PREFIX}/derived/{picture_id}-30x20", headers={"Accept": "image/avif,image/webp"}
        )
        assert negotiated.headers["content-type"] == "image/webp"


def test_other_formats_are_accepted(client: httpx.Client) -> None:
    for suffix in (".webp", ".tif", ".avif"):
        data = bytes(solid(50, 40).write_to_buffer(suffix))
        picture_id = uploaded(client, data)
        made = load(client.get(f"{PREFIX}/derived/{picture_id}-25x20.jpg").content)
        assert (made.width, made.height) == (25, 20)


def test_embedded_profiles_are_converted_to_srgb(client: httpx.Client) -> None:
    upright = quadrants(80, 40)
    wide_gamut = upright.icc_transform("p3", input_profile="srgb")
    data = jpeg(wide_gamut, 95)
    assert load(data).get_typeof("icc-profile-data")
    picture_id = uploaded(client, data)
    made = load(client.get(f"{PREFIX}/derived/{picture_id}-80x40.jpg").content)
    assert not made.get_typeof("icc-profile-data")
    assert difference(made, upright) < 12
