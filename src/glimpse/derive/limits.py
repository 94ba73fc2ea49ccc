"""The limits every picture and rendition is held to, checked before any pixel is decoded.

Each refusal names the setting that set the limit, so a client (or an operator
reading the log) knows which one was crossed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from glimpse.errors import ConfigError, Forbidden, TooLarge

_SIZE = re.compile(r"([0-9]{1,9})x([0-9]{1,9})")


@dataclass(frozen=True)
class Limits:
    """Source limits (size, pixels, frames) and rendition limits (sizes, dimension)."""

    max_upload: int = 50 << 20
    max_pixels: int = 50_000_000
    max_frames: int = 100
    max_dimension: int = 4096
    allowed_sizes: frozenset[tuple[int, int]] = field(default_factory=frozenset)

    def check_source(self, width: int, height: int, pages: int) -> None:
        """Refuse a picture whose header declares more than the limits allow (413)."""
        if pages > self.max_frames:
            raise TooLarge(
                f"The picture has {pages} frames, more than the limit of {self.max_frames} "
                "(pictures.max_frames)"
            )
        pixels = width * height * max(pages, 1)
        if pixels > self.max_pixels:
            raise TooLarge(
                f"The picture is {width}x{height}"
                + (f" in {pages} frames" if pages > 1 else "")
                + f", {pixels} pixels, more than the limit of {self.max_pixels} "
                "(pictures.max_pixels)"
            )

    def check_size(self, width: int, height: int) -> None:
        """Refuse a rendition size outside the allow-list or the largest dimension (403)."""
        if self.allowed_sizes and (width, height) not in self.allowed_sizes:
            raise Forbidden(f"The size {width}x{height} is not allowed (pictures.allowed_sizes)")
        if max(width, height) > self.max_dimension:
            raise Forbidden(
                f"The size {width}x{height} is larger than the limit of {self.max_dimension} "
                "pixels a side (pictures.max_dimension)"
            )


def parse_sizes(values: Iterable[str]) -> frozenset[tuple[int, int]]:
    """``WxH`` strings of ``pictures.allowed_sizes`` as pairs; ConfigError for a bad one."""
    found = set()
    for value in values:
        match = _SIZE.fullmatch(value.strip())
        size = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
        if 0 in size:
            raise ConfigError(f"setting pictures.allowed_sizes: {value!r} is not WxH")
        found.add(size)
    return frozenset(found)
