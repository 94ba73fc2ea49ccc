"""Uploads judged by their first bytes: refused before the rest is read (and stored)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from picture_support import animated, fail_json, jpeg, new_id, noise, png, png_bomb, solid, upload

from glimpse.derive import sniff
from glimpse.derive.limits import Limits
from glimpse.errors import Invalid, TooLarge
from glimpse.testing import ServerProcess

LIMITS = Limits(max_pixels=1_000_000, max_frames=10)


class Tracked:
    """Chunks of ``data``, counting how many were taken."""

    def __init__(self, data: bytes, chunk: int = 8192) -> None:
        self.parts = [data[i : i + chunk] for i in range(0, len(data), chunk)]
        self.taken = 0

    def __iter__(self) -> Iterator[bytes]:
        for part in self.parts:
            self.taken += 1
            yield part


def test_every_format_glimpse_reads_passes_with_its_bytes_unchanged() -> None:
    pictures = [
        jpeg(noise(300, 200)),
        png(solid(40, 30)),
        animated(3),
        animated(3, suffix=".webp"),
        bytes(solid(40, 30).write_to_buffer(".tif")),
        bytes(solid(40, 30).write_to_buffer(".avif")),
    ]
    for data in pictures:
        assert sniff.signature(data) is not None
        assert b"".join(sniff.checked(Tracked(data), LIMITS)) == data


def test_not_a_picture_is_refused_after_the_first_bytes() -> None:
    body = Tracked(b"%PDF-1.7\n" + bytes(5 << 20))
    with pytest.raises(Invalid, match="Unknown image format"):
        list(sniff.checked(body, LIMITS))
    assert body.taken * 8192 <= sniff.PREFIX + 8192
    assert body.taken < len(body.parts)


def test_a_bomb_is_refused_from_its_header_before_the_rest_arrives() -> None:
    body = Tracked(png_bomb(20_000, 20_000) + bytes(2 << 20))
    with pytest.raises(TooLarge, match=r"pictures\.max_pixels"):
        list(sniff.checked(body, LIMITS))
    assert body.taken < len(body.parts)
    frames = Tracked(animated(12))
    with pytest.raises(TooLarge, match=r"pictures\.max_frames"):
        list(sniff.checked(frames, LIMITS))


def test_a_header_beyond_the_prefix_is_left_to_the_full_check() -> None:
    # A JPEG whose start of frame lies past the prefix (a large comment first).
    data = jpeg(noise(64, 64))
    comment = b"\xff\xfe" + (65535).to_bytes(2, "big") + bytes(65533)
    late = data[:2] + comment * 2 + data[2:]
    assert b"".join(sniff.checked(Tracked(late), LIMITS)) == late


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.binary(max_size=4096), st.sampled_from([b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"]))
def test_random_bytes_only_ever_pass_or_are_refused(data: bytes, start: bytes) -> None:
    with contextlib.suppress(Invalid, TooLarge):
        assert b"".join(sniff.checked(Tracked(start + data, 97), LIMITS)) == start + data


def test_upload_of_no_picture_never_reaches_the_store(
    client: httpx.Client, server: ServerProcess
) -> None:
    """The answer is 400 and the store never opened a file for it: while the client is
    still sending, well past the first bytes, no file of this picture exists."""
    picture_id = new_id()
    boundary = "sniffboundary"
    seen: list[str] = []

    def body() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n'
        ).encode()
        for part in range(64):  # 4 MiB of no picture
            yield b"\x00" * 65536
            if part == 16:
                time.sleep(0.5)  # the server has had a megabyte to store by now
                seen.extend(
                    path.name for path in server.data_dir.rglob("*") if picture_id in path.name
                )
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post(
        f"/pictures/original/{picture_id}",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert "Unknown image format" in fail_json(response, 400)
    assert seen == []
    assert client.get(f"/pictures/original/{picture_id}").status_code == 404
    assert upload(client, picture_id, png(solid(20, 20))).status_code == 303
