"""Pictures for the Pictures API tests, made with libvips, and ways to judge renditions."""

from __future__ import annotations

import struct
import uuid
import zlib

import httpx
import pytest
import pyvips

from glimpse.testing import ServerProcess

PREFIX = "/pictures"


def new_id() -> str:
    return f"p{uuid.uuid4().hex}"


def solid(width: int, height: int, rgb: tuple[int, int, int] = (200, 100, 50)) -> pyvips.Image:
    return pyvips.Image.black(width, height).new_from_image(list(rgb)).copy(interpretation="srgb")


def quadrants(width: int = 80, height: int = 40) -> pyvips.Image:
    """Red, green / blue, white: every flip and turn of it looks different."""
    w, h = width // 2, height // 2
    top = solid(w, h, (255, 0, 0)).join(solid(w, h, (0, 255, 0)), "horizontal")
    bottom = solid(w, h, (0, 0, 255)).join(solid(w, h, (255, 255, 255)), "horizontal")
    return top.join(bottom, "vertical").copy(interpretation="srgb").cast("uchar")


def noise(width: int, height: int) -> pyvips.Image:
    grey = pyvips.Image.gaussnoise(width, height, mean=128, sigma=40).cast("uchar")
    return grey.bandjoin([grey.rot180() if width == height else grey, grey]).copy(
        interpretation="srgb"
    )


def jpeg(image: pyvips.Image, q: int = 90) -> bytes:
    return bytes(image.write_to_buffer(".jpg", Q=q))


def png(image: pyvips.Image, **options: object) -> bytes:
    return bytes(image.write_to_buffer(".png", **options))


def animated(frames: int, width: int = 60, height: int = 40, suffix: str = ".gif") -> bytes:
    pages = [solid(width, height, (i * 7 % 256, 255 - i * 5 % 256, 80)) for i in range(frames)]
    strip = pyvips.Image.arrayjoin(pages, across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", height)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [50] * frames)
    return bytes(strip.write_to_buffer(suffix))


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose header declares width x height: tiny on disk, enormous decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 8)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def load(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "")


def difference(a: pyvips.Image, b: pyvips.Image) -> float:
    """Mean absolute difference per band value (0 equal, 255 opposite), at a's size."""
    if (a.width, a.height) != (b.width, b.height):
        b = b.resize(a.width / b.width, vscale=a.height / b.height)
    a, b = a.extract_band(0, n=3), b.extract_band(0, n=3)
    return float((a.cast("float") - b.cast("float")).abs().avg())


def upload(
    client: httpx.Client, picture_id: str, data: bytes, *, method: str = "POST", **kwargs: object
) -> httpx.Response:
    return client.request(
        method,
        f"{PREFIX}/original/{picture_id}",
        files={"file": ("picture", data, "application/octet-stream")},
        **kwargs,  # type: ignore[arg-type]
    )


def uploaded(client: httpx.Client, data: bytes, picture_id: str | None = None) -> str:
    picture_id = picture_id or new_id()
    response = upload(client, picture_id, data)
    assert response.status_code == 303, response.text
    return picture_id


def fail_json(response: httpx.Response, status: int) -> str:
    """The message of a JSON error answer with ``status``."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["error"]["code"] == status
    return str(body["error"]["message"])


def start(
    tmp_path_factory: pytest.TempPathFactory, env: dict[str, str], workers: int = 1
) -> ServerProcess:
    """A server of a test module's own, with ``env`` for settings."""
    started = ServerProcess(data_dir=tmp_path_factory.mktemp("pictures"), env=env, workers=workers)
    started.start()
    return started
