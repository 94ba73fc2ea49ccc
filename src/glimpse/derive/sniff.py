"""The first bytes of an upload, judged while it streams, before the rest is stored.

An upload that is no picture at all, or whose header already declares more
pixels or frames than the limits allow, is refused as soon as its first
``PREFIX`` bytes have arrived, so the store never writes (and then deletes) the
megabytes behind them. This is an early answer only: the stored bytes still get
the full check (their header, then every pixel decoded) before they count.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

from glimpse.derive import render
from glimpse.derive.limits import Limits
from glimpse.errors import Invalid

#: Bytes gathered before judging: the headers of JPEG, PNG, GIF and WebP fit, unless
#: large metadata comes first (then only the signature is judged early).
PREFIX = 64 << 10


def signature(prefix: bytes) -> str | None:
    """The format whose signature ``prefix`` starts with, among those Glimpse reads."""
    if prefix.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if prefix.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if prefix.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if prefix.startswith(b"RIFF") and prefix[8:12] == b"WEBP":
        return "webp"
    if prefix.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if prefix[4:8] == b"ftyp":  # ISO media: HEIF and AVIF
        return "heif"
    return None


def judge(prefix: bytes, limits: Limits) -> None:
    """Invalid (400) when ``prefix`` starts no picture; TooLarge (413) when the header
    it holds already passes a limit. A header beyond the prefix is left to the full check.
    """
    if signature(prefix) is None:
        raise Invalid(render.NOT_A_PICTURE)
    with contextlib.suppress(Invalid):  # the header is not all here: the full check judges
        render.probe(render.Original(data=prefix), limits)


def checked(chunks: Iterable[bytes], limits: Limits) -> Iterator[bytes]:
    """``chunks`` unchanged, once their first ``PREFIX`` bytes (or all, if fewer) passed
    ``judge``; nothing is passed on before that."""
    pending: list[bytes] = []
    gathered = 0
    stream = iter(chunks)
    for chunk in stream:
        pending.append(chunk)
        gathered += len(chunk)
        if gathered >= PREFIX:
            break
    judge(b"".join(pending)[:PREFIX], limits)
    yield from pending
    yield from stream
