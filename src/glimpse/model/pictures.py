"""Pictures and their renditions as the registry keeps them; plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Picture:
    """An original picture stored under the application's own id.

    ``version`` changes whenever the bytes do (it is a prefix of their
    sha256), so rendition URLs that carry it never name an older picture.
    """

    id: str
    owner: str | None
    version: str
    location: str
    store: str
    size: int
    width: int
    height: int
    format: str
    pages: int
    alpha: bool
    checksum: str
    placeholder: str
    created_at: datetime
    updated_at: datetime

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES.get(self.format, "application/octet-stream")


@dataclass(frozen=True)
class Rendition:
    """One rendition of one version of a picture, by canonical spec.

    A row in state ``rendering`` is a renderer's claim, held until
    ``lease_expires_at``; ``attempts`` counts the claims taken on it (1 when
    it was rendered once).
    """

    picture_id: str
    version: str
    spec: str
    status: str
    holder: str | None
    lease_expires_at: datetime | None
    attempts: int
    location: str | None = None
    store: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    checksum: str | None = None
    created_at: datetime | None = None

    @property
    def ready(self) -> bool:
        return self.status == READY

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES.get(self.format or "", "application/octet-stream")


@dataclass(frozen=True)
class Stored:
    """What the registry records of a rendition once its bytes are published."""

    location: str
    store: str
    size: int
    width: int
    height: int
    format: str
    checksum: str


RENDERING = "rendering"
READY = "ready"

CONTENT_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "avif": "image/avif",
    "gif": "image/gif",
    "heif": "image/heif",
    "tiff": "image/tiff",
}
