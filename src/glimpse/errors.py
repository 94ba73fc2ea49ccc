"""The exception tree of Glimpse. It knows nothing about HTTP.

```
GlimpseError
  Unauthenticated
  NotFound       ImageNotFound, MemberNotFound, ObjectNotFound, TagNotFound, MetadefNotFound
  Conflict       InvalidTransition, Duplicate, Gone
  Forbidden
  Invalid        SchemaViolation, InvalidMarker, ChecksumMismatch, SizeMismatch, ClientGone,
                 RangeNotSatisfiable
                 UrlRefused (AddressRefused)
  TooLarge       QuotaExceeded, StoreFull
  UnsupportedMedia  UnsupportedPatchMedia, InvalidImageData
  Unavailable    StoreUnavailable, Busy, FetchFailed
  ConfigError
```

``api/errors.py`` maps each class to a status code through the MRO.
"""

from __future__ import annotations


class GlimpseError(Exception):
    """Base of every error Glimpse raises on purpose; the message is shown to clients."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthenticated(GlimpseError):
    """The request carries no credentials, or ones that are not valid.

    ``challenge`` is the ``WWW-Authenticate`` value to send back, if any.
    """

    def __init__(self, message: str, challenge: str | None = None) -> None:
        super().__init__(message)
        self.challenge = challenge


class NotFound(GlimpseError):
    pass


class ImageNotFound(NotFound):
    def __init__(self, image_id: str) -> None:
        super().__init__(f"No image found with ID {image_id}")


class MemberNotFound(NotFound):
    def __init__(self, image_id: str, member: str) -> None:
        super().__init__(f"{member} not found in the member list of the image {image_id}.")


class ObjectNotFound(NotFound):
    pass


class TagNotFound(NotFound):
    pass


class MetadefNotFound(NotFound):
    """A metadef namespace, or something in one, that does not exist or is not visible."""


class Conflict(GlimpseError):
    pass


class InvalidTransition(Conflict):
    pass


class Duplicate(Conflict):
    pass


class Gone(Conflict):
    """The image was deleted while an operation on it was under way."""


class Forbidden(GlimpseError):
    pass


class Invalid(GlimpseError):
    pass


class SchemaViolation(Invalid):
    pass


class InvalidMarker(Invalid):
    """A list marker that names no image the caller may see."""

    def __init__(self, marker: str) -> None:
        super().__init__(f"Invalid marker. Image {marker} could not be found.")


class ChecksumMismatch(Invalid):
    pass


class SizeMismatch(Invalid):
    pass


class RangeNotSatisfiable(Invalid):
    """The requested byte range lies outside the ``size`` bytes of the image."""

    def __init__(self, size: int) -> None:
        super().__init__(f"Requested range not satisfiable: the image has {size} bytes")
        self.size = size


class ClientGone(Invalid):
    """The client stopped sending before its request body was complete."""


class UrlRefused(Invalid):
    """A URL Glimpse will not fetch from: import filtering or the address rules refuse
    it, or a redirect leads to one."""


class AddressRefused(UrlRefused):
    """A host that resolves to an address of ``kind`` (loopback, private...) not allowed."""

    def __init__(self, message: str, host: str, address: str, kind: str) -> None:
        super().__init__(message)
        self.host = host
        self.address = address
        self.kind = kind


class TooLarge(GlimpseError):
    pass


class QuotaExceeded(TooLarge):
    pass


class UnsupportedMedia(GlimpseError):
    pass


class UnsupportedPatchMedia(UnsupportedMedia):
    """A PATCH in a media type other than the JSON-patch types in ``accepted``."""

    def __init__(self, message: str, accepted: str) -> None:
        super().__init__(message)
        self.accepted = accepted


class InvalidImageData(UnsupportedMedia):
    """Image data that is not in its declared disk_format, or fails a safety check;
    Glance answers 415 for it, as for a body it cannot take."""


class Unavailable(GlimpseError):
    pass


class StoreUnavailable(Unavailable):
    pass


class FetchFailed(Unavailable):
    """A remote server could not be read for an import: unreachable, too slow, an error
    answer (``status``), a body cut short, too many redirects."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Busy(Unavailable):
    """Too much work is queued already; the client should retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreFull(TooLarge):
    """The backend has no room left; Glance answers 413 for a full store too."""


class ConfigError(GlimpseError):
    pass
