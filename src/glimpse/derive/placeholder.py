"""BlurHash placeholders: a few dozen characters a client paints while the picture loads."""

from __future__ import annotations

import blurhash


def blur_hash(width: int, height: int, rgb: bytes) -> str:
    """The BlurHash of a small sRGB picture given as ``width`` x ``height`` RGB bytes.

    More components along the longer side, so a wide picture keeps its shape.
    """
    rows = [
        [list(rgb[(y * width + x) * 3 : (y * width + x) * 3 + 3]) for x in range(width)]
        for y in range(height)
    ]
    across, down = (4, 3) if width >= height else (3, 4)
    return str(blurhash.encode(rows, components_x=across, components_y=down))
