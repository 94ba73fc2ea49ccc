"""The OpenStack Swift store: one object per image, Static Large Objects for big ones.

Locations are ``swift://<container>/<object>`` and never carry credentials
(glance_store's ``swift+https://user:key@...`` form can; ours cannot). An image
up to ``large_object_size`` is one streamed PUT, which Swift publishes
atomically. A bigger one (or one of unknown size that outgrows the read-ahead)
becomes a Static Large Object: segments ``<key>/<upload>/<nnnnnnnn>`` of
``segment_size`` bytes go to the companion container ``<container>_segments``
one at a time, each streamed and checked against its ETag, and the manifest is
PUT last, so the name appears only when every byte is stored. Any failure
removes the segments already written (best effort; ``sweep`` removes what a
crash or an unreachable proxy left) and the error passes through.

A swiftclient ``Connection`` is not thread-safe, so each thread keeps its own.
SDK failures become ``glimpse.errors`` here, with messages that never carry
the key, a token or a tokenised URL.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import io
import json
import logging
import math
import re
import secrets
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urlsplit

import requests
import urllib3.exceptions
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3 as ks_v3
from swiftclient import client as swift_client
from swiftclient.exceptions import ClientException

from glimpse.errors import ConfigError, GlimpseError, ObjectNotFound, StoreFull, StoreUnavailable
from glimpse.options import option
from glimpse.store.base import StoreContext, StoredObject

log = logging.getLogger(__name__)

MiB = 1 << 20
GiB = 1 << 30
READ_CHUNK = MiB
#: Swift's default ``max_file_size``: no single object (or segment) may be larger.
MAX_OBJECT_SIZE = 5 * GiB
#: Swift's default ``max_manifest_segments``.
MAX_SEGMENTS = 1000
#: Of an image of unknown size, this much at most is held in memory to learn
#: whether it stays under ``large_object_size``; a longer one becomes an SLO.
READ_AHEAD_LIMIT = 8 * MiB
SEGMENTS_SUFFIX = "_segments"
CONTENT_TYPE = "application/octet-stream"
LIST_PAGE = 10_000
STARTING_BACKOFF = 0.5
MAX_BACKOFF = 8.0
MAX_RETRIES = 10
#: A thread re-authenticates before a non-replayable upload once its token is
#: this old, so that an expired token cannot fail a half-sent stream.
TOKEN_REUSE = 300.0
#: Errors of the transport under swiftclient: requests', urllib3's (a streamed
#: body raises those directly), and the socket's.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)
#: Everything else that may escape swiftclient, keystoneauth's errors included.
FAILURES: tuple[type[BaseException], ...] = (ks_exceptions.ClientException, *TRANSPORT_ERRORS)
_PLAIN_PROJECT = re.compile(r"[A-Za-z0-9-]+")


class SwiftStore:
    """Image data in OpenStack Swift containers, located by ``swift://`` URLs."""

    schemes: ClassVar[tuple[str, ...]] = ("swift",)
    writable: ClassVar[bool] = True
    type_name: ClassVar[str] = "swift"

    @dataclass(frozen=True)
    class Options:
        auth_url: str = option(
            "", "Identity endpoint: tempauth's .../auth/v1.0, or Keystone's .../v3."
        )
        auth_version: str = option("1", 'Auth protocol: "1" (tempauth, swauth) or "3" (Keystone).')
        user: str = option("", 'User: "account:user" for v1, the user name for v3.')
        key: str = option("", "The user's key (v1) or password (v3). Never shown or logged.")
        project_name: str = option("", "v3: the project to scope the token to.")
        project_domain_name: str = option("", "v3: the project's domain name.")
        project_domain_id: str = option(
            "", 'v3: the project\'s domain id; "default" when no domain is given.'
        )
        user_domain_name: str = option("", "v3: the user's domain name.")
        user_domain_id: str = option(
            "", 'v3: the user\'s domain id; "default" when no domain is given.'
        )
        region_name: str = option("", "v3: the catalog region of the object-store endpoint.")
        interface: str = option("public", "v3: the catalog interface: public, internal or admin.")
        storage_url: str = option(
            "", "Storage URL to use instead of the one authentication returns (without a token)."
        )
        cacert: str = option("", "CA bundle to verify TLS with; empty: the system's.")
        container: str = option("glimpse", "Container of the images.")
        container_per_project: bool = option(
            False, "One container per owning project, <container>_<project>, created on demand."
        )
        large_object_size: int = option(
            5 * GiB,
            "Images above this many bytes are stored as Static Large Objects; so are images "
            "of unknown size above 8 MiB (at most that much is read ahead in memory).",
            minimum=MiB,
        )
        segment_size: int = option(
            200 * MiB, "Bytes per segment of a Static Large Object.", minimum=MiB
        )
        connect_timeout: float = option(10.0, "Seconds to wait for a connection to Swift.")
        read_timeout: float = option(60.0, "Seconds to wait for Swift to answer or send data.")
        retries: int = option(
            3, "Retries, with backoff, of idempotent requests (not of streamed uploads).", minimum=0
        )
        create_container: bool = option(True, "Create missing containers on first use.")

    def __init__(self, options: Options, context: StoreContext) -> None:
        _validate(options, f"stores.{context.name}")
        self.options = options
        self.name = context.name
        self._threads = _PerThread()
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self._known: set[str] = set()  # containers this process made sure exist

    def close(self) -> None:
        """Close every thread's connection (they reconnect if used again)."""
        for conn in list(self._connections):
            conn.close()

    # -- the Store protocol -------------------------------------------------------------

    def put(
        self,
        key: str,
        chunks: Iterable[bytes],
        *,
        size: int | None = None,
        project: str | None = None,
    ) -> str:
        _check_key(key)
        container = self._container_for(project)
        reader = _Reader(chunks)
        upload = _Upload(container, key)
        try:
            self._ensure(container)
            large = self.options.large_object_size
            if size is None:
                reader.fill(min(large, READ_AHEAD_LIMIT))
                if reader.finished:
                    self._put_bytes(upload, reader.buffered())
                else:
                    self._put_large(upload, reader, None)
            elif size > large:
                self._put_large(upload, reader, size)
            else:
                self._put_stream(upload, reader)
        except BaseException as exc:
            # A container removed behind our back is made again by the next put.
            self._known -= {container, container + SEGMENTS_SUFFIX}
            self._abandon(upload)
            if reader.error is not None and reader.error is not exc:
                # The caller's own error, wrapped by the transport on its way out.
                raise reader.error from reader.error.__cause__
            raise
        # A replaced Static Large Object leaves its segments behind; remove them.
        self._drop_segments(container, key, keep={upload.prefix}, strict=False)
        return _location(container, key)

    def open(self, location: str) -> SwiftSource:
        container, name = self._parse(location)
        missing = ObjectNotFound(f"no data at {location}")
        headers = self._call("head_object", container, name, missing=missing)
        return SwiftSource(self, container, name, int(headers["content-length"]), headers["etag"])

    def delete(self, location: str) -> None:
        container, name = self._parse(location)
        try:
            headers = self._call("head_object", container, name, missing=ObjectNotFound(""))
        except ObjectNotFound:
            headers = {}
        if headers.get("x-static-large-object", "").lower() == "true":
            # Deletes the segments too. Swift answers 200 whatever happened, with the
            # outcome in the body, so what it missed is deleted below one by one.
            self._delete_object(container, name, query_string="multipart-manifest=delete")
        self._delete_object(container, name)
        # Segments the manifest delete missed, and those of an upload that never finished.
        self._drop_segments(container, name, keep=set(), strict=True)

    def serves(self, location: str) -> bool:
        try:
            self._parse(location)
        except ObjectNotFound:
            return False
        return True

    def sweep(self, key: str, project: str | None = None) -> None:
        _check_key(key)
        container = self._container_for(project)
        self._drop_segments(container, key, keep=self._referenced(container, key), strict=True)

    def objects(self) -> Iterator[StoredObject]:
        for container in self._containers():
            for entry in self._listing(container, prefix=None):
                name = entry["name"]
                if not _valid_key(name):
                    continue  # not a name this store writes
                modified = datetime.fromisoformat(entry["last_modified"]).replace(tzinfo=None)
                yield StoredObject(_location(container, name), int(entry["bytes"]), modified)

    def check(self) -> None:
        container = self.options.container
        try:
            self._call("head_container", container, missing=ObjectNotFound(container))
        except ObjectNotFound:
            # Swift answers 404 only after authenticating, so the credentials work.
            if not self.options.create_container:
                raise StoreUnavailable(
                    f"Swift store {self.name}: container {container!r} does not exist "
                    "and create_container is off"
                ) from None

    def properties(self) -> Mapping[str, object]:
        return {
            "container": self.options.container,
            "large_object_size": self.options.large_object_size,
            "segment_size": self.options.segment_size,
            "auth_version": self.options.auth_version,
        }

    # -- writing ------------------------------------------------------------------------

    def _put_stream(self, upload: _Upload, reader: _Reader) -> None:
        """One streamed PUT; Swift publishes the object only when the body is complete."""
        tally = _Tally()
        upload.publishing = True
        try:
            etag = self._stream_put(upload.container, upload.key, reader.take(None, tally))
        except BaseException:
            if reader.finished:  # the whole body went out, so the PUT may have committed
                upload.etag = tally.md5()
            raise
        upload.etag = tally.md5()
        if etag != upload.etag:
            raise StoreUnavailable(
                f"Swift store {self.name} stored {upload.key} with a different checksum"
            )

    def _put_bytes(self, upload: _Upload, data: bytes) -> None:
        """A small image already in memory: a replayable PUT, retried like an idempotent one."""
        upload.publishing = True
        upload.etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        self._call(
            "put_object",
            upload.container,
            upload.key,
            io.BytesIO(data),
            content_length=len(data),
            etag=upload.etag,
            content_type=CONTENT_TYPE,
            missing=self._no_container(upload.container),
        )

    def _put_large(self, upload: _Upload, reader: _Reader, size: int | None) -> None:
        """Segments one at a time, each streamed, then the manifest that publishes them."""
        segments = upload.container + SEGMENTS_SUFFIX
        self._ensure(segments)
        segment_size = self._segment_size(size)
        upload.prefix = f"{upload.key}/{time.time():.6f}-{secrets.token_hex(4)}/"
        manifest: list[dict[str, object]] = []
        etags: list[str] = []
        while not reader.at_end():
            if len(manifest) >= MAX_SEGMENTS:
                raise StoreFull(
                    f"Image is larger than {MAX_SEGMENTS} segments of {segment_size} bytes; "
                    f"raise stores.{self.name}.segment_size"
                )
            name = f"{upload.prefix}{len(manifest):08d}"
            upload.segments.append(name)  # before the PUT: it may commit and still fail
            tally = _Tally()
            etag = self._stream_put(segments, name, reader.take(segment_size, tally))
            if etag != tally.md5():
                raise StoreUnavailable(
                    f"Swift store {self.name} stored segment {name} with a different checksum"
                )
            etags.append(etag)
            manifest.append({"path": f"/{segments}/{name}", "etag": etag, "size_bytes": tally.size})
        if not manifest:  # declared large, but nothing came
            self._put_bytes(upload, b"")
            return
        upload.publishing = True
        upload.etag = hashlib.md5("".join(etags).encode(), usedforsecurity=False).hexdigest()
        self._call(
            "put_object",
            upload.container,
            upload.key,
            json.dumps(manifest),  # a str, which swiftclient may send again on a retry
            etag=upload.etag,  # Swift checks it against the segments' ETags
            content_type=CONTENT_TYPE,
            query_string="multipart-manifest=put",
            missing=self._no_container(upload.container),
        )

    def _stream_put(self, container: str, name: str, body: Iterator[bytes]) -> str:
        """PUT a body that can be read only once: no retries, and a token known to be fresh."""
        thread = self._thread()
        if thread.token is None or time.monotonic() - thread.since > TOKEN_REUSE:
            thread.conn.token = None  # authenticate again, through a request that may retry
            self._call("head_container", container, missing=self._no_container(container))
        saved, thread.conn.retries = thread.conn.retries, 0
        try:
            etag: str = self._call(
                "put_object",
                container,
                name,
                body,
                content_type=CONTENT_TYPE,
                missing=self._no_container(container),
            )
        finally:
            thread.conn.retries = saved
        return etag

    def _abandon(self, upload: _Upload) -> None:
        """Remove what a failed put wrote, as far as Swift lets us; ``sweep`` does the rest."""
        try:
            if upload.publishing and upload.etag is not None:
                # The last PUT may have committed before its answer was lost: remove the
                # object if, and only if, it is this upload's.
                try:
                    headers = self._call(
                        "head_object", upload.container, upload.key, missing=ObjectNotFound("")
                    )
                except ObjectNotFound:
                    pass
                else:
                    if headers["etag"].strip('"') == upload.etag:
                        self._delete_object(upload.container, upload.key)
            for name in upload.segments:
                self._delete_object(upload.container + SEGMENTS_SUFFIX, name)
        except GlimpseError as exc:
            log.warning(
                "Swift store %s could not remove the partial upload of %s (%s); "
                "sweep removes it later",
                self.name,
                upload.key,
                exc.message,
            )

    def _segment_size(self, size: int | None) -> int:
        segment_size = self.options.segment_size
        if size is not None:  # large enough that the manifest stays within Swift's limit
            segment_size = max(segment_size, math.ceil(size / MAX_SEGMENTS))
        if segment_size > MAX_OBJECT_SIZE:
            raise StoreFull(f"Image of {size} bytes is too large for Swift store {self.name}")
        return segment_size

    def _ensure(self, container: str) -> None:
        if not self.options.create_container or container in self._known:
            return
        self._call("put_container", container)  # idempotent: 201 or 202
        self._known.add(container)

    def _no_container(self, container: str) -> StoreUnavailable:
        return StoreUnavailable(f"Swift store {self.name}: container {container!r} does not exist")

    # -- segments -----------------------------------------------------------------------

    def _referenced(self, container: str, key: str) -> set[str]:
        """The upload prefixes (``<key>/<upload>/``) the published manifest at ``key`` uses."""
        missing = ObjectNotFound(key)
        try:
            headers = self._call("head_object", container, key, missing=missing)
            if headers.get("x-static-large-object", "").lower() != "true":
                return set()
            _, body = self._call(
                "get_object", container, key, query_string="multipart-manifest=get", missing=missing
            )
        except ObjectNotFound:
            return set()
        prefixes = set()
        for segment in json.loads(body):
            path = segment["name"].lstrip("/").split("/", 1)[-1]  # without the container
            prefixes.add(path.rsplit("/", 1)[0] + "/")
        return prefixes

    def _drop_segments(self, container: str, key: str, *, keep: set[str], strict: bool) -> None:
        """Delete the segments of ``key`` outside the upload prefixes ``keep``.

        A ``strict`` caller gets a failure; otherwise (after a put succeeded) it is logged.
        """
        segments = container + SEGMENTS_SUFFIX
        try:
            for entry in self._listing(segments, prefix=f"{key}/"):
                name = entry["name"]
                if name.rsplit("/", 1)[0] + "/" not in keep:
                    self._delete_object(segments, name)
        except GlimpseError as exc:
            if strict:
                raise
            log.warning(
                "Swift store %s could not remove old segments of %s: %s",
                self.name,
                key,
                exc.message,
            )

    def _delete_object(self, container: str, name: str, **kwargs: Any) -> None:
        """Delete one object; a missing one is not an error."""
        with contextlib.suppress(ObjectNotFound):
            self._call("delete_object", container, name, missing=ObjectNotFound(""), **kwargs)

    # -- reading ------------------------------------------------------------------------

    def _read(self, source: SwiftSource, start: int, end: int) -> Iterator[bytes]:
        """The bytes ``start`` to ``end - 1``, resuming where a dropped connection stopped."""
        location = _location(source.container, source.name)
        offset, failures = start, 0
        while offset < end:
            _, body = self._call(
                "get_object",
                source.container,
                source.name,
                resp_chunk_size=READ_CHUNK,
                # If-Match: a resumed read must not splice in an object written since.
                headers={"Range": f"bytes={offset}-{end - 1}", "If-Match": source.etag},
                missing=ObjectNotFound(f"no data at {location}"),
                changed=StoreUnavailable(
                    f"Swift store {self.name}: {location} changed while it was read"
                ),
            )
            try:
                for piece in body:
                    offset += len(piece)
                    yield piece
            except TRANSPORT_ERRORS as exc:
                failures += 1
                if failures > self.options.retries:
                    raise self._translate(exc) from None
                log.info("Swift store %s resumes reading %s at %d", self.name, location, offset)
                continue
            finally:
                body.close()
            if offset < end:  # the body ended early without an error
                failures += 1
                if failures > self.options.retries:
                    raise StoreUnavailable(f"Swift store {self.name} sent {location} short")

    # -- listing ------------------------------------------------------------------------

    def _containers(self) -> list[str]:
        base = self.options.container
        if not self.options.container_per_project:
            return [base]
        found, marker = [base], ""
        while True:
            _, page = self._call("get_account", prefix=f"{base}_", marker=marker, limit=LIST_PAGE)
            if not page:
                return found
            found += [e["name"] for e in page if self._is_main_container(e["name"])]
            marker = page[-1]["name"]

    def _listing(self, container: str, prefix: str | None) -> Iterator[dict[str, Any]]:
        """The entries of ``container``, page by page; none if it is missing."""
        marker = ""
        while True:
            try:
                _, page = self._call(
                    "get_container",
                    container,
                    marker=marker,
                    limit=LIST_PAGE,
                    prefix=prefix,
                    missing=ObjectNotFound(container),
                )
            except ObjectNotFound:
                return
            if not page:
                return
            yield from page
            marker = page[-1]["name"]

    # -- names --------------------------------------------------------------------------

    def _container_for(self, project: str | None) -> str:
        base = self.options.container
        if not self.options.container_per_project or not project:
            return base
        # What follows "<container>_" never holds "_" and is never "segments", so a
        # project's container cannot be taken for a segments container, nor the other way.
        if _PLAIN_PROJECT.fullmatch(project) and project != "segments":
            return f"{base}_{project}"
        return f"{base}_.{project.encode().hex()}"

    def _is_main_container(self, container: str) -> bool:
        base = self.options.container
        if container == base:
            return True
        if not self.options.container_per_project or not container.startswith(base + "_"):
            return False
        rest = container[len(base) + 1 :]
        return bool(rest) and "_" not in rest and rest != "segments"

    def _parse(self, location: str) -> tuple[str, str]:
        parts = urlsplit(location)
        if parts.scheme != "swift" or parts.query or parts.fragment:
            raise ObjectNotFound(f"not a swift location: {location}")
        # Decode before checking, so an encoded "/" cannot reach another container.
        container, name = unquote(parts.netloc), unquote(parts.path[1:])
        if not self._is_main_container(container) or not _valid_key(name):
            raise ObjectNotFound(f"location outside the store: {location}")
        return container, name

    # -- connections and errors ---------------------------------------------------------

    def _thread(self) -> _PerThread:
        threads = self._threads
        if threads.conn is None:
            threads.conn = self._connect()
            self._connections.add(threads.conn)
        return threads

    def _connect(self) -> Any:
        o = self.options
        common: dict[str, Any] = {
            "retries": o.retries,
            "starting_backoff": STARTING_BACKOFF,
            "max_backoff": MAX_BACKOFF,
            "timeout": (o.connect_timeout, o.read_timeout),  # handed on to requests
            "preauthurl": o.storage_url or None,
            "cacert": o.cacert or None,
        }
        if o.auth_version == "1":
            return swift_client.Connection(
                authurl=o.auth_url, user=o.user, key=o.key, auth_version="1", **common
            )
        auth = ks_v3.Password(
            auth_url=o.auth_url,
            username=o.user,
            password=o.key,
            project_name=o.project_name,
            project_domain_name=o.project_domain_name or None,
            project_domain_id=o.project_domain_id or (None if o.project_domain_name else "default"),
            user_domain_name=o.user_domain_name or None,
            user_domain_id=o.user_domain_id or (None if o.user_domain_name else "default"),
        )
        session = ks_session.Session(
            auth=auth, verify=o.cacert or True, timeout=o.connect_timeout + o.read_timeout
        )
        return swift_client.Connection(
            session=session,
            os_options={
                "service_type": "object-store",
                "endpoint_type": o.interface,
                "region_name": o.region_name or None,
            },
            **common,
        )

    def _call(
        self,
        method: str,
        *args: Any,
        missing: GlimpseError | None = None,
        changed: GlimpseError | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call ``method`` of this thread's connection, with Swift's errors translated.

        ``missing`` is raised for a 404 and ``changed`` for a 412, when given.
        """
        thread = self._thread()
        try:
            return getattr(thread.conn, method)(*args, **kwargs)
        except ClientException as exc:
            if exc.http_status == 404 and missing is not None:
                raise missing from None
            if exc.http_status == 412 and changed is not None:
                raise changed from None
            raise self._translate(exc) from None
        except FAILURES as exc:
            raise self._translate(exc) from None
        finally:
            if thread.conn.token != thread.token:
                thread.token, thread.since = thread.conn.token, time.monotonic()

    def _translate(self, exc: BaseException) -> GlimpseError:
        """The Glimpse error for an SDK or transport failure; never with a secret in it."""
        name = self.name
        status = getattr(exc, "http_status", None)  # swiftclient's and keystoneauth's
        if status in (413, 507):
            return StoreFull("Image storage media is full")
        if status in (401, 403):
            return StoreUnavailable(f"Swift store {name} refused the credentials (HTTP {status})")
        if isinstance(exc, ks_exceptions.EndpointNotFound | ks_exceptions.EmptyCatalog):
            return StoreUnavailable(
                f"Swift store {name}: the Keystone catalog has no object-store endpoint "
                f"(interface {self.options.interface!r}, region {self.options.region_name!r})"
            )
        if isinstance(exc, ks_exceptions.ClientException) and not isinstance(
            exc, ks_exceptions.ConnectionError
        ):
            answer = f"HTTP {status}" if status is not None else type(exc).__name__
            return StoreUnavailable(f"Swift store {name}: Keystone did not authenticate ({answer})")
        if status is not None:
            reason = getattr(exc, "http_reason", "") or ""
            return StoreUnavailable(f"Swift store {name} answered HTTP {status} {reason}".rstrip())
        if isinstance(exc, ClientException):  # swiftclient's own, without a response
            return StoreUnavailable(f"Swift store {name} is unreachable: {exc.msg}")
        return StoreUnavailable(f"Swift store {name} is unreachable: {_describe(exc)}")


@dataclass(frozen=True)
class SwiftSource:
    """One Swift object: its size, and ranged GETs of it."""

    store: SwiftStore = field(repr=False)
    container: str
    name: str
    size: int
    etag: str
    local_path: None = None

    def chunks(self, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        end = self.size if length is None else min(self.size, start + length)
        if start >= end:
            return iter(())
        return self.store._read(self, start, end)


class _PerThread(threading.local):
    """One thread's swiftclient connection and when its token was issued."""

    conn: Any = None
    token: str | None = None
    since: float = 0.0


@dataclass
class _Upload:
    """What one put wrote so far, for removing it if the put fails."""

    container: str
    key: str
    segments: list[str] = field(default_factory=list)
    prefix: str = ""
    #: The final PUT (object or manifest) was sent, so the object may exist.
    publishing: bool = False
    #: The ETag the published object has if it is this upload's.
    etag: str | None = None


class _Tally:
    """Size and md5 of the bytes one request sends."""

    def __init__(self) -> None:
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)

    def add(self, piece: bytes) -> None:
        self.size += len(piece)
        self._md5.update(piece)

    def md5(self) -> str:
        return self._md5.hexdigest()


class _Reader:
    """The caller's chunks, taken in bounded pieces; remembers the caller's own error.

    The transport wraps an exception raised while it pulls a body (an OSError
    becomes a ConnectionError), so ``error`` keeps the original for ``put``
    to raise unchanged.
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._ahead: deque[bytes] = deque()
        self._buffered = 0
        #: The caller's chunks have ended (some may still wait in the buffer).
        self.finished = False
        self.error: BaseException | None = None

    def _pull(self) -> bool:
        """Append the next non-empty chunk; False at the end."""
        while not self.finished:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self.finished = True
            except BaseException as exc:
                self.error = exc
                raise
            else:
                if chunk:
                    self._ahead.append(bytes(chunk))
                    self._buffered += len(chunk)
                    return True
        return False

    def fill(self, limit: int) -> None:
        """Read ahead until more than ``limit`` bytes wait, or the chunks end."""
        while self._buffered <= limit and self._pull():
            pass

    def at_end(self) -> bool:
        return not self._ahead and not self._pull()

    def buffered(self) -> bytes:
        data = b"".join(self._ahead)
        self._ahead.clear()
        self._buffered = 0
        return data

    def take(self, limit: int | None, tally: _Tally) -> Iterator[bytes]:
        """Yield the next ``limit`` bytes (all when None), counting them in ``tally``."""
        left = limit
        while left is None or left > 0:
            if not self._ahead and not self._pull():
                return
            chunk = self._ahead[0]
            if left is not None and len(chunk) > left:
                piece, self._ahead[0] = chunk[:left], chunk[left:]
            else:
                piece = self._ahead.popleft()
            self._buffered -= len(piece)
            if left is not None:
                left -= len(piece)
            tally.add(piece)
            yield piece


def _validate(o: SwiftStore.Options, where: str) -> None:
    """Refuse options that cannot work, naming the key as ``where.key``."""

    def fail(key: str, why: str) -> ConfigError:
        return ConfigError(f"setting {where}.{key} {why}")

    for key in ("auth_url", "storage_url"):
        value = getattr(o, key)
        if key == "storage_url" and not value:
            continue
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise fail(key, f"must be an http(s) URL, not {value!r}")
        if parts.username or parts.password:
            raise fail(key, "must not carry credentials; use user and key")
    if o.auth_version not in ("1", "3"):
        raise fail("auth_version", f'must be "1" or "3", not {o.auth_version!r}')
    if not o.user:
        raise fail("user", "is required")
    if not o.key:
        raise fail("key", "is required")
    if o.auth_version == "3" and not o.project_name:
        raise fail("project_name", "is required with auth_version 3")
    if o.interface not in ("public", "internal", "admin"):
        raise fail("interface", f"must be public, internal or admin, not {o.interface!r}")
    if not o.container or "/" in o.container:
        raise fail("container", f"must be a container name without '/', not {o.container!r}")
    if len((o.container + SEGMENTS_SUFFIX).encode()) > 256:
        raise fail("container", "is too long for Swift (256 bytes with the _segments suffix)")
    for key in ("segment_size", "large_object_size"):
        value = getattr(o, key)
        if not MiB <= value <= MAX_OBJECT_SIZE:
            raise fail(key, f"must be between {MiB} and {MAX_OBJECT_SIZE}, not {value}")
    for key in ("connect_timeout", "read_timeout"):
        if not getattr(o, key) > 0:
            raise fail(key, f"must be more than 0, not {getattr(o, key)}")
    if not 0 <= o.retries <= MAX_RETRIES:
        raise fail("retries", f"must be between 0 and {MAX_RETRIES}, not {o.retries}")


def _check_key(key: str) -> None:
    # Keys are image ids chosen by the service; refuse anything that could
    # collide with segment names or escape a location.
    if not _valid_key(key):
        raise ValueError(f"bad object key {key!r}")


def _valid_key(key: str) -> bool:
    return (
        bool(key)
        and "/" not in key
        and not key.startswith(".")
        and "\0" not in key
        and len(key.encode()) <= 900
    )


def _location(container: str, name: str) -> str:
    return f"swift://{quote(container, safe='')}/{quote(name, safe='')}"


def _describe(exc: BaseException) -> str:
    """A short reason for a transport failure, and the host it concerned (never userinfo)."""
    causes = _causes(exc)
    if any(isinstance(e, ConnectionRefusedError) for e in causes):
        reason = "connection refused"
    elif any(isinstance(e, requests.ConnectTimeout | ks_exceptions.ConnectTimeout) for e in causes):
        reason = "connection timed out"
    elif any(isinstance(e, TimeoutError | urllib3.exceptions.TimeoutError) for e in causes):
        reason = "no answer within read_timeout"
    elif any(isinstance(e, ConnectionError | urllib3.exceptions.ProtocolError) for e in causes):
        reason = "connection lost"
    else:
        reason = type(exc).__name__
    url = getattr(getattr(exc, "request", None), "url", None)
    if isinstance(url, str):
        parts = urlsplit(url)
        if parts.hostname:
            reason += (
                f" ({parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)})"
            )
    return reason


def _causes(exc: BaseException, limit: int = 20) -> list[BaseException]:
    """``exc`` and what it wraps: causes, contexts, urllib3's ``reason`` and exception args."""
    found: list[BaseException] = []
    todo = [exc]
    while todo and len(found) < limit:
        current = todo.pop(0)
        if any(current is seen for seen in found):
            continue
        found.append(current)
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked += list(current.args)
        todo += [e for e in linked if isinstance(e, BaseException)]
    return found
