"""Signed rendition URLs: HMAC-SHA256 over the path and the query, several keys, expiry.

The message is the path under the Pictures prefix (``/derived/cat-200x200.jpg``),
``?`` and the query options sorted by name and value, form-encoded, without
``sig``: so a signature holds whatever prefix or host serves the picture, and
no option can be added, dropped or changed. ``sig`` is the URL-safe base64 of
the digest without padding. Any of the configured keys may have signed it, so
keys rotate by adding the new one first and dropping the old one later; with
``exp`` (Unix seconds, signed like every option) the URL stops working then.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from urllib.parse import urlencode

from glimpse.errors import Forbidden


def message(path: str, params: Sequence[tuple[str, str]]) -> bytes:
    """What is signed: the path and the sorted options but ``sig``."""
    options = sorted((name, value) for name, value in params if name != "sig")
    return f"{path}?{urlencode(options)}".encode()


def signature(key: str, path: str, params: Sequence[tuple[str, str]]) -> str:
    digest = hmac.new(key.encode(), message(path, params), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(key: str, path: str, params: Sequence[tuple[str, str]] = ()) -> str:
    """The query string of a signed URL for ``path`` with ``params`` (add ``exp`` to expire).

    >>> sign("secret", "/derived/cat-200x200.jpg", [("fit", "fit")])  # doctest: +SKIP
    'fit=fit&sig=...'
    """
    options = [(name, value) for name, value in params if name != "sig"]
    return urlencode([*options, ("sig", signature(key, path, options))])


def verify(keys: Sequence[str], path: str, params: Sequence[tuple[str, str]], now: float) -> None:
    """Forbidden unless one of ``keys`` signed ``path`` and ``params`` and ``exp`` is ahead."""
    given = [value for name, value in params if name == "sig"]
    if len(given) != 1:
        raise Forbidden("This rendition URL must be signed (pictures.signing_keys): no sig")
    valid = any(
        hmac.compare_digest(signature(key, path, params).encode(), given[0].encode())
        for key in keys
    )
    if not valid:
        raise Forbidden("The signature of this rendition URL does not match")
    expires = [value for name, value in params if name == "exp"]
    if expires:
        if len(expires) != 1 or not expires[0].isascii() or not expires[0].isdigit():
            raise Forbidden("exp is the Unix time the URL expires at")
        if int(expires[0]) <= now:
            raise Forbidden(f"This rendition URL expired at {expires[0]} (Unix time)")
