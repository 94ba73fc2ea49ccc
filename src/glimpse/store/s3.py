"""The S3 store: image data as objects in one bucket of an S3-compatible service.

Why it works this way:

- Locations are ``s3://<bucket>/<key>`` and never carry credentials (Glance's
  ``s3://access:secret@host/bucket/key`` puts secrets into every location row,
  API answer and log line that shows one). The endpoint and the credentials
  come from the store's options only.
- ``put`` reads one part ahead: data that fits in it goes up as one PutObject,
  anything larger as a multipart upload, which S3 publishes only on
  CompleteMultipartUpload, so a reader never sees a partial object. Every
  failure aborts the upload, so no parts are left behind to pay for.
- Parts go up from a bounded pool while the next one is read, so memory stays
  at about ``part_size * (max_parts_in_flight + 1)`` whatever the image size,
  and a part is never copied into one big buffer (``_Part`` reads the chunks it
  was given).
- S3 allows 10,000 parts of 5 MiB to 5 GiB and objects of 5 TiB: the part size
  follows the declared size when there is one and, as data keeps coming,
  doubles every ``GROW_EVERY`` parts, so 10,000 parts always reach 5 TiB.
- botocore retries idempotent failures itself (standard mode, bounded, with
  jittered backoff). The one call whose retry can fail after a lost success,
  CompleteMultipartUpload, is checked against the object's ETag.
- Only this module imports boto3 and botocore. Their errors become Glimpse
  errors here (ObjectNotFound, StoreFull, StoreUnavailable) with messages that
  name the store and the cause, never a credential.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC
from typing import Any, ClassVar, NoReturn
from urllib.parse import quote, unquote, urlsplit

import boto3
import botocore.config
import botocore.exceptions

from glimpse.errors import ConfigError, GlimpseError, ObjectNotFound, StoreFull, StoreUnavailable
from glimpse.options import option
from glimpse.store.base import StoreContext, StoredObject

log = logging.getLogger(__name__)

MiB = 1 << 20
GiB = 1 << 30
#: S3's limits: parts but the last at least 5 MiB, at most 5 GiB; 10,000 parts; 5 TiB objects.
MIN_PART = 5 * MiB
MAX_PART = 5 * GiB
MAX_PARTS = 10_000
MAX_OBJECT = 5 << 40
#: The part size doubles every this many parts (every 1,000 would reach only
#: 4.9 TiB in 10,000 parts starting at 5 MiB).
GROW_EVERY = 900
READ_CHUNK = MiB
#: Connections kept per client: the parts in flight of several concurrent uploads, and reads.
MAX_CONNECTIONS = 50

_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_NOT_FOUND = frozenset({"NoSuchKey", "NotFound", "404"})
_FULL = frozenset({"EntityTooLarge", "QuotaExceeded", "InsufficientStorage"})
_REFUSED = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"}
)
_UNREACHABLE = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ResponseStreamingError,
    botocore.exceptions.IncompleteReadError,
)
_NO_CREDENTIALS = (
    botocore.exceptions.NoCredentialsError,
    botocore.exceptions.PartialCredentialsError,
)
_SDK_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


def part_size_for(number: int, base: int, declared: int | None = None) -> int:
    """The size of part ``number`` (from 1) of an upload with parts of ``base`` bytes.

    With a ``declared`` size, parts are at least that size over 10,000, rounded
    up to a MiB. Whatever was declared, the size doubles every ``GROW_EVERY``
    parts (up to 5 GiB), so data longer than declared still fits 10,000 parts
    up to 5 TiB.
    """
    size = base << ((number - 1) // GROW_EVERY)
    if declared is not None:
        size = max(size, _ceil_mib(-(-declared // MAX_PARTS)))
    return min(size, MAX_PART)


def _ceil_mib(size: int) -> int:
    return -(-size // MiB) * MiB


class S3Store:
    """Image data as objects in one S3 bucket, located by ``s3://<bucket>/<key>`` URLs."""

    schemes: ClassVar[tuple[str, ...]] = ("s3",)
    writable: ClassVar[bool] = True
    type_name: ClassVar[str] = "s3"

    @dataclass(frozen=True)
    class Options:
        endpoint_url: str = option(
            "", "URL of the S3 service (http or https); empty: AWS's endpoint for the region."
        )
        region: str = option("us-east-1", "Region the requests are signed for.")
        bucket: str = option("glimpse", "Bucket holding the image objects.")
        access_key: str = option("", "Access key id; empty: botocore's credential chain.")
        secret_key: str = option("", "Secret access key; never shown or logged.")
        addressing: str = option(
            "path", "Bucket addressing: path (host/bucket/key) or virtual (bucket.host/key)."
        )
        create_bucket: bool = option(False, "Create the bucket at start-up if it is missing.")
        prefix: str = option("", "Prefix of every object key this store writes.")
        part_size: int = option(
            8 * MiB,
            "Bytes per multipart part (5 MiB to 5 GiB); objects up to this size are one "
            "PutObject. Grows for large images so that 10,000 parts hold 5 TiB.",
            minimum=MIN_PART,
        )
        max_parts_in_flight: int = option(
            3,
            "Parts of one upload sent at once; memory per upload is about "
            "part_size * (max_parts_in_flight + 1).",
            minimum=1,
        )
        connect_timeout: float = option(10.0, "Seconds to wait for a connection.")
        read_timeout: float = option(60.0, "Seconds to wait for the service to answer or send.")
        retries: int = option(
            2, "Retries of a failed request, with jittered exponential backoff (0-10).", minimum=0
        )
        verify_tls: bool = option(True, "Verify the endpoint's TLS certificate.")
        ca_file: str = option("", "CA bundle to verify the endpoint with; empty: the system's.")

    def __init__(self, options: Options, context: StoreContext) -> None:
        self.name = context.name
        _validate(options, f"stores.{context.name}")
        self.options = options
        self.bucket = options.bucket
        self.prefix = options.prefix
        config = botocore.config.Config(
            region_name=options.region,
            signature_version="s3v4",
            s3={"addressing_style": options.addressing},
            connect_timeout=options.connect_timeout,
            read_timeout=options.read_timeout,
            retries={"max_attempts": options.retries + 1, "mode": "standard"},
            max_pool_connections=MAX_CONNECTIONS,
            user_agent_extra="glimpse",
        )
        session = boto3.session.Session(
            aws_access_key_id=options.access_key or None,
            aws_secret_access_key=options.secret_key or None,
            region_name=options.region,
        )
        try:
            self._client: Any = session.client(
                "s3",
                endpoint_url=options.endpoint_url or None,
                config=config,
                verify=options.ca_file or options.verify_tls,
            )
        except _SDK_ERRORS as exc:
            raise ConfigError(f"stores.{self.name}: {type(exc).__name__}") from None
        if options.create_bucket:
            self._create_bucket()

    # -- writing

    def put(
        self,
        key: str,
        chunks: Iterable[bytes],
        *,
        size: int | None = None,
        project: str | None = None,
    ) -> str:
        object_key = self._object_key(key)
        if size is not None and size > MAX_OBJECT:
            raise StoreFull(f"S3 store {self.name} holds objects of at most 5 TiB")
        reader = _Reader(chunks)
        first = reader.take(part_size_for(1, self.options.part_size, size))
        if not reader.more():
            try:
                self._client.put_object(Bucket=self.bucket, Key=object_key, Body=first)
            except _SDK_ERRORS as exc:
                raise self._error(exc) from None
            return self._location(object_key)
        # Hand part 1 back, so that only the pool holds a part while it is sent.
        reader.unread(first)
        del first
        try:
            upload_id = self._client.create_multipart_upload(
                Bucket=self.bucket, Key=object_key, ChecksumAlgorithm="CRC32"
            )["UploadId"]
        except _SDK_ERRORS as exc:
            raise self._error(exc) from None
        try:
            parts = self._upload_parts(object_key, upload_id, reader, size)
            self._complete(object_key, upload_id, parts)
        except BaseException as exc:
            self._abort(object_key, upload_id)
            if isinstance(exc, _SDK_ERRORS):
                raise self._error(exc) from None
            raise
        return self._location(object_key)

    def _upload_parts(
        self, object_key: str, upload_id: str, reader: _Reader, size: int | None
    ) -> list[dict[str, Any]]:
        """Send every part from a bounded pool while reading the next; the parts' entries.

        At most ``max_parts_in_flight`` parts are being sent and one more read,
        so memory stays bounded however slow the service is.
        """
        in_flight = self.options.max_parts_in_flight
        slots = threading.BoundedSemaphore(in_flight)
        failed: list[BaseException] = []
        futures: list[Future[dict[str, Any]]] = []

        def done(future: Future[dict[str, Any]]) -> None:
            error = None if future.cancelled() else future.exception()
            if error is not None:
                failed.append(error)
            slots.release()

        pool = ThreadPoolExecutor(in_flight, thread_name_prefix=f"s3-{self.name}-part")
        try:
            number = 0
            while reader.more():
                number += 1
                if number > MAX_PARTS:
                    raise StoreFull(f"S3 store {self.name} holds objects of at most 5 TiB")
                # The worker empties the box, so no reference to a sent part
                # outlives its upload (the pool keeps its arguments a little longer).
                box = [reader.take(part_size_for(number, self.options.part_size, size))]
                slots.acquire()
                if failed:
                    slots.release()
                    break
                future = pool.submit(self._upload_part, object_key, upload_id, number, box)
                future.add_done_callback(done)
                futures.append(future)
            return [future.result() for future in futures]  # raises the first failure
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _upload_part(
        self, object_key: str, upload_id: str, number: int, box: list[_Part]
    ) -> dict[str, Any]:
        part = box.pop()
        answer = self._client.upload_part(
            Bucket=self.bucket,
            Key=object_key,
            UploadId=upload_id,
            PartNumber=number,
            Body=part,
            ContentLength=len(part),
            ChecksumAlgorithm="CRC32",
        )
        entry = {"PartNumber": number, "ETag": answer["ETag"]}
        if "ChecksumCRC32" in answer:
            entry["ChecksumCRC32"] = answer["ChecksumCRC32"]
        return entry

    def _complete(self, object_key: str, upload_id: str, parts: list[dict[str, Any]]) -> None:
        try:
            self._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=object_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except botocore.exceptions.ClientError as exc:
            # botocore retries a Complete whose answer was lost; the retry then
            # finds no upload although the object was published. Believe it
            # only if the object there has this upload's multipart ETag.
            if _code(exc) != "NoSuchUpload" or self._etag(object_key) != _multipart_etag(parts):
                raise

    def _abort(self, object_key: str, upload_id: str) -> None:
        """Abort an upload after a failure; a failure to abort is logged, ``sweep`` retries."""
        try:
            self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=object_key, UploadId=upload_id
            )
        except botocore.exceptions.ClientError as exc:
            if _code(exc) != "NoSuchUpload":
                log.warning("%s; its unfinished upload is left to sweep", self._error(exc))
        except botocore.exceptions.BotoCoreError as exc:
            log.warning("%s; its unfinished upload is left to sweep", self._error(exc))

    # -- reading

    def open(self, location: str) -> S3Source:
        object_key = self._key_of(location)
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=object_key)
        except _SDK_ERRORS as exc:
            raise self._error(exc, location) from None
        return S3Source(self, object_key, int(head["ContentLength"]))

    def _get(self, object_key: str, first: int, last: int) -> Iterator[bytes]:
        """Bytes ``first`` to ``last`` (inclusive) of an object: one ranged GET, streamed."""
        location = self._location(object_key)
        try:
            body = self._client.get_object(
                Bucket=self.bucket, Key=object_key, Range=f"bytes={first}-{last}"
            )["Body"]
        except _SDK_ERRORS as exc:
            raise self._error(exc, location) from None
        return self._stream(body, location)

    def _stream(self, body: Any, location: str) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(READ_CHUNK)
        except _SDK_ERRORS as exc:
            raise self._error(exc, location) from None
        finally:
            body.close()

    # -- managing

    def delete(self, location: str) -> None:
        object_key = self._key_of(location)
        try:
            self._client.delete_object(Bucket=self.bucket, Key=object_key)
        except botocore.exceptions.ClientError as exc:
            if _kind(exc) != "no-object":
                raise self._error(exc, location) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise self._error(exc, location) from None

    def serves(self, location: str) -> bool:
        try:
            self._key_of(location)
        except ObjectNotFound:
            return False
        return True

    def sweep(self, key: str, project: str | None = None) -> None:
        object_key = self._object_key(key)
        try:
            pages = self._client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=object_key
            )
            stale = [
                upload["UploadId"]
                for page in pages
                for upload in page.get("Uploads", ())
                if upload["Key"] == object_key
            ]
            for upload_id in stale:
                self._client.abort_multipart_upload(
                    Bucket=self.bucket, Key=object_key, UploadId=upload_id
                )
        except botocore.exceptions.ClientError as exc:
            if _code(exc) != "NoSuchUpload":
                raise self._error(exc) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise self._error(exc) from None

    def objects(self) -> Iterator[StoredObject]:
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                for entry in page.get("Contents", ()):
                    modified = entry["LastModified"].astimezone(UTC).replace(tzinfo=None)
                    yield StoredObject(self._location(entry["Key"]), entry["Size"], modified)
        except _SDK_ERRORS as exc:
            raise self._error(exc) from None

    def check(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except _SDK_ERRORS as exc:
            raise self._bucket_error(exc) from None

    def properties(self) -> Mapping[str, object]:
        return {
            "bucket": self.bucket,
            "endpoint": _without_userinfo(self._client.meta.endpoint_url),
            "region": self.options.region,
            "addressing": self.options.addressing,
            "prefix": self.prefix,
            # Glance's names: the size above which uploads are multipart, the part size,
            # and the parts sent at once.
            "s3_store_large_object_size": self.options.part_size,
            "s3_store_large_object_chunk_size": self.options.part_size,
            "s3_store_thread_pools": self.options.max_parts_in_flight,
        }

    # -- helpers

    def _create_bucket(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return
        except botocore.exceptions.ClientError as exc:
            if _kind(exc) not in ("no-bucket", "no-object"):
                raise self._bucket_error(exc) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise self._bucket_error(exc) from None
        extra: dict[str, Any] = {}
        if self.options.region != "us-east-1":  # us-east-1 refuses its own name here
            extra["CreateBucketConfiguration"] = {"LocationConstraint": self.options.region}
        try:
            self._client.create_bucket(Bucket=self.bucket, **extra)
        except botocore.exceptions.ClientError as exc:
            if _code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise self._bucket_error(exc) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise self._bucket_error(exc) from None

    def _etag(self, object_key: str) -> str | None:
        try:
            return str(self._client.head_object(Bucket=self.bucket, Key=object_key)["ETag"])
        except botocore.exceptions.ClientError:
            return None

    def _object_key(self, key: str) -> str:
        # Keys are image ids chosen by the service; refuse what would make an
        # odd or ambiguous object name.
        if not key or key.startswith("/") or any(c in key for c in "\0\r\n"):
            raise ValueError(f"bad object key {key!r}")
        return self.prefix + key

    def _location(self, object_key: str) -> str:
        return f"s3://{self.bucket}/{quote(object_key, safe='/')}"

    def _key_of(self, location: str) -> str:
        """The object key of a location in this store's bucket; ObjectNotFound otherwise."""
        parts = urlsplit(location)
        # Decode after splitting, so an encoded "?" or "#" stays part of the key.
        object_key = unquote(parts.path[1:])
        if (
            parts.scheme != "s3"
            or parts.netloc != self.bucket
            or parts.query
            or parts.fragment
            or not object_key
        ):
            raise ObjectNotFound(f"not a location of S3 store {self.name}: {_shown(location)}")
        return object_key

    def _error(self, exc: Exception, location: str | None = None) -> GlimpseError:
        """The Glimpse error for an SDK error; its message never holds a credential.

        ``location`` is what was asked for, when a missing object is ObjectNotFound.
        """
        where = f"S3 store {self.name}"
        if isinstance(exc, _UNREACHABLE):
            return StoreUnavailable(f"{where} is unreachable: {self._redact(str(exc))}")
        if isinstance(exc, botocore.exceptions.ClientError):
            kind, code = _kind(exc), _code(exc)
            if kind == "no-object" and location is not None:
                return ObjectNotFound(f"no data at {_shown(location)}")
            if kind == "full":
                return StoreFull("Image storage media is full")
            if kind == "refused":
                return StoreUnavailable(f"{where}: the service refused the credentials ({code})")
            if kind == "no-bucket":
                return StoreUnavailable(f"{where}: bucket {self.bucket} does not exist")
            message = self._redact(str(exc.response.get("Error", {}).get("Message") or ""))
            return StoreUnavailable(f"{where} failed: {code} {message[:200]}".strip())
        if isinstance(exc, _NO_CREDENTIALS):
            return StoreUnavailable(f"{where} has no complete credentials")
        return StoreUnavailable(f"{where} failed: {type(exc).__name__}")

    def _bucket_error(self, exc: Exception) -> StoreUnavailable:
        """The error of a bucket-level call: a missing bucket, or the store is unusable."""
        if isinstance(exc, botocore.exceptions.ClientError) and _kind(exc) in (
            "no-bucket",
            "no-object",  # HeadBucket answers a bare 404
        ):
            return StoreUnavailable(f"S3 store {self.name}: bucket {self.bucket} does not exist")
        error = self._error(exc)
        return error if isinstance(error, StoreUnavailable) else StoreUnavailable(error.message)

    def _redact(self, text: str) -> str:
        for secret in (self.options.secret_key, self.options.access_key):
            if secret:
                text = text.replace(secret, "***")
        return text


class S3Source:
    """One object: its size, and ranged reads that ask S3 for exactly the bytes wanted."""

    def __init__(self, store: S3Store, key: str, size: int) -> None:
        # Plain attributes typed as the Source protocol declares them, so an
        # S3Source is a Source to the type checker too.
        self.size: int | None = size
        self.local_path: str | None = None
        self._store = store
        self._key = key
        self._length = size

    def chunks(self, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        if start < 0 or (length is not None and length < 0):
            raise ValueError(f"bad range start={start} length={length}")
        end = self._length if length is None else min(self._length, start + length)
        if start >= end:  # an empty object, a range at the end or an empty range
            return iter(())
        return self._store._get(self._key, start, end - 1)


class _Part:
    """One part's bytes as the chunks they came in, read as a seekable file.

    botocore reads a body in blocks (checksum, signature, sending) and seeks
    back for retries, so it never needs the part as one contiguous copy.
    """

    def __init__(self, pieces: list[memoryview]) -> None:
        self._pieces = pieces
        self._starts: list[int] = []
        total = 0
        for piece in pieces:
            self._starts.append(total)
            total += len(piece)
        self._size = total
        self._position = 0

    def __len__(self) -> int:
        return self._size

    def read(self, size: int | None = -1) -> bytes:
        end = self._size if size is None or size < 0 else min(self._size, self._position + size)
        out: list[bytes] = []
        index = bisect.bisect_right(self._starts, self._position) - 1
        while self._position < end:
            piece, start = self._pieces[index], self._starts[index]
            take = min(end, start + len(piece))
            out.append(bytes(piece[self._position - start : take - start]))
            self._position = take
            index += 1
        return b"".join(out)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._size}[whence]
        self._position = max(0, min(self._size, base + offset))
        return self._position

    def tell(self) -> int:
        return self._position

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True


class _Reader:
    """Cuts an iterator of chunks into parts of exact sizes, without joining them."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending: memoryview | None = None
        self._unread: _Part | None = None

    def take(self, size: int) -> _Part:
        """The next ``size`` bytes, or fewer at the end of the data; or the part given back."""
        if self._unread is not None:
            part, self._unread = self._unread, None
            return part
        pieces: list[memoryview] = []
        total = 0
        while total < size:
            piece = self._next()
            if piece is None:
                break
            if len(piece) > size - total:
                piece, self._pending = piece[: size - total], piece[size - total :]
            pieces.append(piece)
            total += len(piece)
        return _Part(pieces)

    def unread(self, part: _Part) -> None:
        """Give back the part just taken: the next ``take`` returns it as it is."""
        self._unread = part

    def more(self) -> bool:
        """Whether any data is left (reads ahead one chunk)."""
        if self._unread is not None:
            return True
        if self._pending is None:
            self._pending = self._next()
        return self._pending is not None

    def _next(self) -> memoryview | None:
        if self._pending is not None:
            piece, self._pending = self._pending, None
            return piece
        for chunk in self._chunks:
            if chunk:
                # A caller may reuse a mutable buffer; keep an immutable copy of those.
                return memoryview(chunk if isinstance(chunk, bytes) else bytes(chunk))
        return None


def _validate(options: S3Store.Options, where: str) -> None:
    def fail(key: str, problem: str) -> NoReturn:
        raise ConfigError(f"{where}.{key} {problem}")

    if options.endpoint_url:
        parts = urlsplit(options.endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            fail(
                "endpoint_url",
                f"must be an http or https URL, not {_shown(options.endpoint_url)!r}",
            )
        if parts.username is not None or parts.password is not None:
            fail("endpoint_url", "must not carry credentials; set access_key and secret_key")
        if parts.query or parts.fragment:
            fail("endpoint_url", "must have no query or fragment")
    if not options.region:
        fail("region", "must name a region")
    if not _BUCKET_NAME.fullmatch(options.bucket) or ".." in options.bucket:
        fail("bucket", f"must be a DNS-compatible bucket name, not {options.bucket!r}")
    if options.addressing not in ("path", "virtual"):
        fail("addressing", f"must be 'path' or 'virtual', not {options.addressing!r}")
    if bool(options.access_key) != bool(options.secret_key):
        fail("secret_key" if options.access_key else "access_key", "must be set with the other key")
    if options.prefix.startswith("/"):
        fail("prefix", "must not start with /")
    if not MIN_PART <= options.part_size <= MAX_PART:
        fail("part_size", f"must be between {MIN_PART} and {MAX_PART}, not {options.part_size}")
    if options.max_parts_in_flight < 1:
        fail("max_parts_in_flight", f"must be at least 1, not {options.max_parts_in_flight}")
    for key in ("connect_timeout", "read_timeout"):
        if not getattr(options, key) > 0:
            fail(key, f"must be a positive number of seconds, not {getattr(options, key)}")
    if not 0 <= options.retries <= 10:
        fail("retries", f"must be between 0 and 10, not {options.retries}")
    if options.ca_file and not os.path.isfile(options.ca_file):
        fail("ca_file", f"names no file: {options.ca_file}")


def _code(exc: botocore.exceptions.ClientError) -> str:
    """The error code of an S3 answer; HEAD answers have only the status, as the code."""
    return str(exc.response.get("Error", {}).get("Code") or _status(exc))


def _status(exc: botocore.exceptions.ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _kind(exc: botocore.exceptions.ClientError) -> str:
    """What an S3 error means here: no-bucket, no-object, full, refused or other."""
    code, status = _code(exc), _status(exc)
    if code == "NoSuchBucket":
        return "no-bucket"
    if code in _NOT_FOUND or status == 404:
        return "no-object"
    if code in _FULL or status == 507:
        return "full"
    if code in _REFUSED or status == 403:
        return "refused"
    return "other"


def _multipart_etag(parts: list[dict[str, Any]]) -> str:
    """The ETag S3 gives an object completed from ``parts``: md5 of the part md5s, dash, count."""
    digests = b"".join(bytes.fromhex(part["ETag"].strip('"')) for part in parts)
    return f'"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(parts)}"'


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def _shown(location: str) -> str:
    """A location fit for a message: Glance-style S3 locations carry credentials before ``@``."""
    return _without_userinfo(location)
