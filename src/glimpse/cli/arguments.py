"""Argument types of the client commands: each turns bad input into a usage error.
``image`` adds the IMAGE argument every command acting on an image takes.

They raise ``argparse.ArgumentTypeError``, which argparse prints with the
option's name before exiting with status 2: no input reaches the server before
it is known to be well formed text.
"""

from __future__ import annotations

import argparse
import re
import time
from datetime import UTC, datetime

_SORT_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_SIZE = re.compile(r"([0-9]{1,9})[xX]([0-9]{1,9})")
_DURATION = re.compile(r"([0-9]{1,9})([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: The registry's longest property key or value.
MAX_TEXT = 255


def text(value: str) -> str:
    """Any text that can be sent: UTF-8 encodable (no lone surrogates), no NUL."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("not valid UTF-8 text") from None
    if "\x00" in value:
        raise argparse.ArgumentTypeError("a NUL character cannot be sent")
    return value


def image(parser: argparse.ArgumentParser, *, several: bool = False) -> None:
    """The IMAGE a command acts on: an id, or the name of one image (``ImagesApi.find``)."""
    parser.add_argument(
        "image",
        metavar="IMAGE",
        nargs="+" if several else None,
        type=text,
        help="an image id, or the name of one image the caller lists",
    )


def key_value(value: str) -> tuple[str, str]:
    """``KEY=VALUE``: the key non-empty, both at most 255 characters."""
    key, sep, rest = text(value).partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{_shown(value)} is not KEY=VALUE")
    if not key.strip():
        raise argparse.ArgumentTypeError(f"{_shown(value)} has an empty KEY")
    if len(key) > MAX_TEXT or len(rest) > MAX_TEXT:
        raise argparse.ArgumentTypeError(f"KEY and VALUE are at most {MAX_TEXT} characters")
    return key, rest


def property_key(value: str) -> str:
    key = text(value)
    if not key.strip() or len(key) > MAX_TEXT:
        raise argparse.ArgumentTypeError(f"a property name is 1 to {MAX_TEXT} characters")
    return key


def sort_keys(value: str) -> list[str]:
    """``KEY[:asc|desc][,KEY[:asc|desc]...]``, as the Image API's ``sort`` takes it."""
    items = []
    for item in text(value).split(","):
        key, sep, direction = item.strip().partition(":")
        if not _SORT_KEY.fullmatch(key):
            raise argparse.ArgumentTypeError(
                f"{_shown(item)} is not KEY[:asc|desc] (KEY a name like created_at)"
            )
        if sep and direction not in ("asc", "desc"):
            raise argparse.ArgumentTypeError(
                f"sort direction is asc or desc, not {_shown(direction)}"
            )
        items.append(f"{key}:{direction}" if sep else key)
    return items


def positive(value: str) -> int:
    """A whole number from 1 to 1,000,000,000."""
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 1_000_000_000:
        raise argparse.ArgumentTypeError(f"{_shown(value)} is not a whole number from 1")
    return int(value)


def natural(value: str) -> int:
    """A whole number from 0 (disk and RAM minimums)."""
    if not (value.isascii() and value.isdigit()) or int(value) > (1 << 31) - 1:
        raise argparse.ArgumentTypeError(f"{_shown(value)} is not a whole number from 0")
    return int(value)


def size(value: str) -> tuple[int, int]:
    """``WxH``: a rendition's width and height, each 1 to 999999999."""
    match = _SIZE.fullmatch(value.strip()) if value.isascii() else None
    if match is None:
        raise argparse.ArgumentTypeError(f"{_shown(value)} is not WIDTHxHEIGHT (like 200x100)")
    width, height = int(match.group(1)), int(match.group(2))
    if width == 0 or height == 0:
        raise argparse.ArgumentTypeError("width and height are at least 1")
    return width, height


def expiry(value: str, now: float | None = None) -> int:
    """When a signed URL stops working, as Unix seconds: a duration from now (``90m``,
    ``12h``, ``7d``, ``2w``), a Unix time, or an ISO 8601 time with its zone."""
    current = time.time() if now is None else now
    given = value.strip()
    match = _DURATION.fullmatch(given) if given.isascii() else None
    if match:
        return int(current) + int(match.group(1)) * _UNITS[match.group(2)]
    if given.isascii() and given.isdigit() and len(given) <= 12:
        when = int(given)
    else:
        try:
            parsed = datetime.fromisoformat(given.replace("Z", "+00:00"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{_shown(value)} is not a duration (90m, 12h, 7d), a Unix time or an ISO 8601 time"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        when = int(parsed.timestamp())
    if when <= current:
        raise argparse.ArgumentTypeError(f"{_shown(value)} is not in the future")
    return when


def _shown(value: str) -> str:
    """A value quoted for a message, cut short and with unprintable characters escaped."""
    cut = value if len(value) <= 40 else value[:40] + "..."
    return ascii(cut) if not cut.isprintable() else repr(cut)
