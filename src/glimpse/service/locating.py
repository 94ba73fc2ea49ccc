"""Registering objects that already exist: which store serves a URL, whether the
object is there and how big it is, and what the caller declared of its hashes.

A building block of the image and location use cases. A registered location
is never ``owned``: Glimpse did not write the object and never deletes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from glimpse.digest import DigestingStream
from glimpse.errors import Conflict, Invalid, ObjectNotFound
from glimpse.model import Declared, Location
from glimpse.store.stores import NoStoreFor, Stores

#: Digest sizes in bytes of the algorithms validation data may name.
HASH_BYTES = {"md5": 16, "sha1": 20, "sha256": 32, "sha512": 64}
#: Schemes callers may not register: local paths would reach the API node's own files.
RESTRICTED_SCHEMES = frozenset({"file", "filesystem"})
_HEX = re.compile(r"[0-9a-fA-F]*")


@dataclass(frozen=True)
class Found:
    """A registered location and the size of the object behind it."""

    location: Location
    size: int


def check_hex(name: str, value: str, algo: str) -> None:
    """Invalid unless ``value`` is a hex digest of ``algo``'s size (Glance's wording)."""
    if not _HEX.fullmatch(value):
        raise Invalid(f"{name} ({value}) is not a valid hexadecimal value")
    size = HASH_BYTES.get(algo)
    if size is not None and len(value) != 2 * size:
        raise Invalid(
            f"{name}: ({value}) is not the correct size for ({algo}) (should be ({size}) bytes)"
        )


@dataclass(frozen=True)
class Locator:
    """Finds the store and the object behind URLs callers register."""

    stores: Stores

    def find(self, url: str, metadata: Mapping[str, object] | None = None) -> Found:
        """The location of an existing object; Invalid ("Invalid location") when no
        enabled store serves the URL, the object is missing or it is empty."""
        metadata = dict(metadata or {})
        if urlsplit(url).scheme in RESTRICTED_SCHEMES:
            raise Invalid("Invalid location")
        store_id = metadata.get("store")
        try:
            named = self.stores.resolve(url, store_id if isinstance(store_id, str) else None)
            size = named.store.open(url).size
        except (NoStoreFor, ObjectNotFound):
            raise Invalid("Invalid location") from None
        if not size:
            raise Invalid("Invalid location")
        metadata["store"] = named.name
        return Found(Location(url, metadata, owned=False), size)

    def http_enabled(self) -> bool:
        """Whether a read-only web store is enabled (what callers without the service
        role may register, as Glance allows them)."""
        return any("http" in named.store.schemes for named in self.stores.by_name.values())

    def hash(
        self, location: Location, algo: str, progress: Callable[[], None]
    ) -> tuple[int, str, str]:
        """Read the object once: its size, md5 and ``algo`` digest; ``progress`` is
        called before each chunk (it may raise to stop the read)."""
        source = self.stores.open(location.url, location.store)
        stream = DigestingStream(source.chunks(), algo=algo, size_cap=1 << 62)
        for _ in stream:
            progress()
        digest = stream.digest
        assert digest is not None
        return digest.size, digest.checksum, digest.os_hash_value


def declared_values(
    image_checksum: str | None,
    image_algo: str | None,
    image_value: str | None,
    declared: list[Declared],
    *,
    queued: bool,
    hash_algo: str,
) -> dict[str, str]:
    """The hash values a legacy locations change sets, checked as Glance checks them
    (every refusal a Conflict): one value per key across the change, none that
    contradicts the image, new ones only while it is queued, well-formed digests of
    the deployment's algorithm."""
    current = {"checksum": image_checksum, "os_hash_algo": image_algo, "os_hash_value": image_value}
    wanted: dict[str, str] = {}
    for given in declared:
        for key in ("checksum", "os_hash_algo", "os_hash_value"):
            value = getattr(given, key)
            if value is None:
                continue
            if key in wanted and wanted[key] != value:
                raise Conflict(f"Conflicting values for {key}")
            wanted[key] = value
    new = {k: v for k, v in wanted.items() if current[k] != v}
    for key in new:
        if current[key] is not None:
            raise Conflict(f"{key} is already set with a different value")
    if new and not queued:
        raise Conflict(
            f"New value(s) for {', '.join(sorted(new))} may only be provided when image "
            "status is 'queued'"
        )
    checksum = new.get("checksum")
    if checksum is not None:
        _conflict_unless_hex("checksum", checksum, "md5")
    algo = new.get("os_hash_algo")
    if algo is not None and algo != hash_algo:
        raise Conflict(f"os_hash_algo must be {hash_algo}, not {algo}")
    value = new.get("os_hash_value")
    if value is not None:
        _conflict_unless_hex("os_hash_value", value, algo or image_algo or hash_algo)
    return new


def _conflict_unless_hex(name: str, value: str, algo: str) -> None:
    if not _HEX.fullmatch(value):
        raise Conflict(f"{name} ({value}) is not a valid hexadecimal value")
    size = HASH_BYTES[algo]
    if len(value) != 2 * size:
        raise Conflict(
            f"{name} ({value}) is not the correct size for {algo} (should be {size} bytes)"
        )
