"""A rendition request parsed from its URL, and its canonical spec.

``/derived/{id}-{W}x{H}.{ext}?fit=...`` is parsed in pymager's order of
decisions: a segment that does not parse is not found (404), an unknown format
or option is invalid (400); sizes are checked against the limits next (403).
Options are canonicalised so equal requests share one stored rendition: the
spec key names every option that changes the pixels and nothing else (no
gravity unless the fit crops, no quality for lossless formats).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from glimpse.errors import Invalid, NotFound

ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
# Greedy id, as pymager's: a-complex-id-800x600.jpg is picture a-complex-id.
_SEGMENT = re.compile(r"([A-Za-z0-9_-]{1,128})-([0-9]{1,9})x([0-9]{1,9})(?:\.([^./]{1,16}))?")
EXTENSIONS = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "webp": "webp", "avif": "avif"}
EXTENSIONS["gif"] = "gif"
AUTO = "auto"
FITS = ("fill", "fit", "pad", "force")
GRAVITIES = {"centre": "centre", "center": "centre", "attention": "attention", "entropy": "entropy"}
#: Quality when the request gives none, per lossy format.
QUALITY = {"jpeg": 82, "webp": 80, "avif": 60}
_BOOLEANS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
_COLOUR = re.compile(r"#?([0-9a-fA-F]{6})")
_VERSION = re.compile(r"[0-9a-f]{1,32}")
#: Query options a rendition URL may carry; ``v``, ``exp`` and ``sig`` do not change pixels.
OPTIONS = ("fit", "gravity", "enlarge", "q", "bg", "ext", "v", "exp", "sig")
WHITE = (255, 255, 255)


@dataclass(frozen=True)
class Spec:
    """Everything that decides a rendition's pixels, with the format chosen."""

    width: int
    height: int
    format: str
    fit: str = "fill"
    gravity: str = "centre"
    enlarge: bool = True
    quality: int | None = None
    background: tuple[int, int, int] = WHITE

    @property
    def key(self) -> str:
        """The canonical name of this rendition, equal for requests with equal pixels."""
        parts = [f"{self.width}x{self.height}", self.fit]
        if self.fit == "fill":
            parts.append(self.gravity)
        if self.fit != "force":
            parts.append("up" if self.enlarge else "down")
        if self.quality is not None:
            parts.append(f"q{self.quality}")
        if self.background != WHITE and (self.fit == "pad" or self.format == "jpeg"):
            parts.append("bg" + "".join(f"{c:02x}" for c in self.background))
        return "-".join([*parts, self.format])


@dataclass(frozen=True)
class RenditionRequest:
    """A parsed rendition URL: the picture, the spec with the format maybe still to negotiate."""

    picture_id: str
    width: int
    height: int
    #: None: negotiated from Accept (``ext=auto`` or no extension).
    format: str | None
    fit: str
    gravity: str
    enlarge: bool
    quality: int | None
    background: tuple[int, int, int]
    version: str | None

    def spec(self, fmt: str) -> Spec:
        """The spec in format ``fmt``, the quality canonical for it."""
        quality = None
        if fmt in QUALITY:
            quality = self.quality if self.quality is not None else QUALITY[fmt]
        return Spec(
            self.width,
            self.height,
            fmt,
            self.fit,
            self.gravity,
            self.enlarge,
            quality,
            self.background,
        )


def check_id(picture_id: str) -> str:
    """``picture_id`` when it is 1-128 of ``[A-Za-z0-9_-]``; Invalid (400) otherwise."""
    if not ID.fullmatch(picture_id):
        raise Invalid("A picture id is 1 to 128 characters of A-Z, a-z, 0-9, '_' and '-'")
    return picture_id


def parse(segment: str, params: Sequence[tuple[str, str]]) -> RenditionRequest:
    """Parse ``{id}-{W}x{H}[.{ext}]`` and the query; NotFound or Invalid as pymager decides."""
    match = _SEGMENT.fullmatch(segment)
    if match is None:
        raise NotFound(f"No rendition URL: {segment[:200]!r} is not {{id}}-{{W}}x{{H}}.{{ext}}")
    picture_id, width, height, ext = match.groups()
    options: dict[str, str] = {}
    for name, value in params:
        if name not in OPTIONS:
            raise Invalid(f"Unknown rendition option {name[:40]!r}; known: {', '.join(OPTIONS)}")
        if name in options:
            raise Invalid(f"The rendition option {name!r} is given twice")
        options[name] = value
    fmt = _format(options.get("ext", ext))
    w, h = int(width), int(height)
    if w == 0 or h == 0:
        raise Invalid("A rendition's width and height are at least 1")
    fit = options.get("fit", "fill")
    if fit not in FITS:
        raise Invalid(f"Unknown fit {fit[:40]!r}; known: {', '.join(FITS)}")
    gravity = GRAVITIES.get(options.get("gravity", "centre"))
    if gravity is None:
        raise Invalid("Unknown gravity; known: centre, attention, entropy")
    enlarge = _BOOLEANS.get(options.get("enlarge", "1" if fit == "fill" else "0").lower())
    if enlarge is None:
        raise Invalid("enlarge is 1 or 0")
    return RenditionRequest(
        picture_id=picture_id,
        width=w,
        height=h,
        format=fmt,
        fit=fit,
        gravity=gravity,
        enlarge=enlarge,
        quality=_quality(options.get("q")),
        background=_colour(options.get("bg")),
        version=_version(options.get("v")),
    )


def _format(ext: str | None) -> str | None:
    if ext is None or ext.lower() == AUTO:
        return None
    fmt = EXTENSIONS.get(ext.lower())
    if fmt is None:
        raise Invalid(
            f"The requested image format {ext[:20]!r} is invalid; known: jpg, jpeg, png, webp, "
            "avif, gif, auto"
        )
    return fmt


def _quality(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= 100:
        raise Invalid("q is a quality from 1 to 100")
    return int(value)


def _colour(value: str | None) -> tuple[int, int, int]:
    if value is None:
        return WHITE
    match = _COLOUR.fullmatch(value)
    if match is None:
        raise Invalid("bg is a colour as six hexadecimal digits, RRGGBB")
    rgb = bytes.fromhex(match.group(1))
    return rgb[0], rgb[1], rgb[2]


def _version(value: str | None) -> str | None:
    if value is not None and not _VERSION.fullmatch(value):
        raise Invalid("v is a picture version, as the original's info gives it")
    return value


def negotiate(accept: str, *, animated: bool, alpha: bool) -> str:
    """The format to send a client whose ``Accept`` header is ``accept``.

    AVIF, then WebP, when the client names them (``*/*`` promises neither); an
    animated picture prefers WebP and GIF, which keep frames; else PNG for a
    picture with transparency, JPEG for the rest.
    """
    accepted = set()
    for part in accept.split(","):
        media, _, rest = part.strip().partition(";")
        quality = 1.0
        for param in rest.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            accepted.add(media.strip().lower())
    if animated:
        return "webp" if "image/webp" in accepted else "gif"
    for media, fmt in (("image/avif", "avif"), ("image/webp", "webp")):
        if media in accepted:
            return fmt
    return "png" if alpha else "jpeg"
