"""The Pictures API (pymager's interface, extended): originals, their info, renditions.

Originals live at ``{pictures}/original/{id}`` (POST uploads a new one as the
multipart field ``file``, PUT replaces it); renditions at
``{pictures}/derived/{id}-{W}x{H}.{ext}`` with options in the query string.
Where the server has signing keys, a rendition URL carries ``sig``: the URL-safe
base64 (no padding) of HMAC-SHA256 over ``/derived/{segment}?{options}``, the
options sorted and form-encoded, ``sig`` left out; ``exp`` (Unix seconds) is
signed like any option and ends the URL's life.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import mimetypes
import re
from collections.abc import Sequence
from typing import IO, Any
from urllib.parse import quote, urlencode

from glimpse.client.data import BLOCK, Progress, size_of
from glimpse.client.transport import Transport
from glimpse.client.types import PictureInfo

PICTURE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
FORMATS = ("jpg", "jpeg", "png", "webp", "avif", "gif", "auto")
FITS = ("fill", "fit", "pad", "force")
GRAVITIES = ("centre", "center", "attention", "entropy")
_COLOUR = re.compile(r"#?[0-9a-fA-F]{6}")
_VERSION = re.compile(r"[0-9a-f]{1,32}")


def signature(key: str, path: str, params: Sequence[tuple[str, str]]) -> str:
    """The ``sig`` of a rendition URL whose path under the Pictures prefix is ``path``."""
    options = sorted((name, value) for name, value in params if name != "sig")
    digest = hmac.new(
        key.encode(), f"{path}?{urlencode(options)}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def rendition_options(
    *,
    fit: str | None = None,
    gravity: str | None = None,
    enlarge: bool | None = None,
    quality: int | None = None,
    background: str | None = None,
    version: str | None = None,
    expires: int | None = None,
) -> list[tuple[str, str]]:
    """The query options of a rendition URL; ValueError for a value the server refuses."""
    options: list[tuple[str, str]] = []
    if fit is not None:
        if fit not in FITS:
            raise ValueError(f"fit is one of {', '.join(FITS)}, not {fit!r}")
        options.append(("fit", fit))
    if gravity is not None:
        if gravity not in GRAVITIES:
            raise ValueError(f"gravity is one of {', '.join(GRAVITIES)}, not {gravity!r}")
        options.append(("gravity", gravity))
    if enlarge is not None:
        options.append(("enlarge", "1" if enlarge else "0"))
    if quality is not None:
        if not 1 <= quality <= 100:
            raise ValueError(f"quality is 1 to 100, not {quality}")
        options.append(("q", str(quality)))
    if background is not None:
        if not _COLOUR.fullmatch(background):
            raise ValueError(f"background is six hexadecimal digits RRGGBB, not {background!r}")
        options.append(("bg", background.removeprefix("#").lower()))
    if version is not None:
        if not _VERSION.fullmatch(version):
            raise ValueError(f"version is the picture's version from its info, not {version!r}")
        options.append(("v", version))
    if expires is not None:
        options.append(("exp", str(int(expires))))
    return options


def segment(picture_id: str, width: int, height: int, fmt: str | None = None) -> str:
    """``{id}-{W}x{H}[.{ext}]``; ValueError for an id, size or format the server refuses."""
    if not PICTURE_ID.fullmatch(picture_id):
        raise ValueError("a picture id is 1 to 128 characters of A-Z, a-z, 0-9, '_' and '-'")
    if not (1 <= width <= 999_999_999 and 1 <= height <= 999_999_999):
        raise ValueError(f"a rendition's width and height are 1 to 999999999, not {width}x{height}")
    if fmt is not None and fmt.lower() not in FORMATS:
        raise ValueError(f"format is one of {', '.join(FORMATS)}, not {fmt!r}")
    name = f"{picture_id}-{width}x{height}"
    return f"{name}.{fmt.lower()}" if fmt else name


class _Reader:
    """A file as the multipart encoder reads it: counted for progress, and showing only
    ``read`` when its size cannot be known (a pipe), so the body goes chunked instead
    of with a length read from the pipe's buffer."""

    def __init__(self, file: IO[bytes], progress: Progress | None, total: int | None) -> None:
        self._file = file
        self._progress = progress
        self._total = total
        self._done = 0

    def read(self, size: int = -1) -> bytes:
        block = self._file.read(size)
        self._done += len(block)
        if self._progress is not None:
            self._progress(self._done, self._total)
        return block


class _SizedReader(_Reader):
    """A file of known size: its ``fileno``, ``seek`` and ``tell`` give the length."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


class PicturesApi:
    """Originals and renditions, under the Pictures URL (``{endpoint}/pictures`` by default)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    @property
    def url(self) -> str:
        return self._transport.pictures_url

    def _original(self, picture_id: str, *rest: str) -> str:
        return "/".join([f"{self.url}/original", quote(picture_id, safe=""), *rest])

    def upload(
        self,
        picture_id: str,
        file: IO[bytes] | bytes,
        *,
        replace: bool = False,
        filename: str | None = None,
        content_type: str | None = None,
        progress: Progress | None = None,
    ) -> str:
        """Store an original (``replace``: a new version of an existing one); its URL.

        Raises:
            Conflict: the id is taken (and ``replace`` is false).
            NotFound: ``replace`` and no such picture.
            BadRequest, RequestEntityTooLarge: not a picture, or too large.
        """
        name = filename or f"{picture_id}"
        media = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        body: Any = file
        if not isinstance(file, bytes):
            total = size_of(file)
            body = (
                _Reader(file, progress, None)
                if total is None
                else _SizedReader(file, progress, total)
            )
        response = self._transport.request(
            "PUT" if replace else "POST",
            self._original(picture_id),
            files={"file": (name, body, media)},
        )
        if progress is not None and isinstance(file, bytes):
            progress(len(file), len(file))
        return response.headers.get("location") or self._original(picture_id)

    def download(self, picture_id: str, out: IO[bytes], *, progress: Progress | None = None) -> int:
        """Write the original's bytes to ``out``; returns how many."""
        done = 0
        with self._transport.stream("GET", self._original(picture_id)) as response:
            length = response.headers.get("content-length")
            total = int(length) if length and length.isdigit() else None
            for block in response.iter_bytes(BLOCK):
                out.write(block)
                done += len(block)
                if progress is not None:
                    progress(done, total)
        return done

    def info(self, picture_id: str) -> PictureInfo:
        return PictureInfo.from_json(
            self._transport.json("GET", self._original(picture_id, "info"))
        )

    def delete(self, picture_id: str) -> None:
        """Delete an original and every rendition made of it."""
        self._transport.request("DELETE", self._original(picture_id))

    def rendition_url(
        self,
        picture_id: str,
        width: int,
        height: int,
        *,
        format: str | None = None,
        key: str | None = None,
        **options: Any,
    ) -> str:
        """The URL of a rendition under this client's Pictures URL; see ``rendition_url``."""
        return rendition_url(self.url, picture_id, width, height, format=format, key=key, **options)


def rendition_url(
    base: str,
    picture_id: str,
    width: int,
    height: int,
    *,
    format: str | None = None,
    key: str | None = None,
    **options: Any,
) -> str:
    """The URL of a rendition under the Pictures URL ``base``; signed with ``key`` if given.

    ``options`` are those of ``rendition_options`` (fit, gravity, enlarge, quality,
    background, version, expires). Nothing is sent: the URL can be handed to a
    browser or a CDN, and the server renders it on the first request.

    Raises:
        ValueError: an id, size, format or option the server would refuse.
    """
    name = segment(picture_id, width, height, format)
    params = rendition_options(**options)
    if key is not None:
        params.append(("sig", signature(key, f"/derived/{name}", params)))
    query = f"?{urlencode(params)}" if params else ""
    return f"{base.rstrip('/')}/derived/{name}{query}"
