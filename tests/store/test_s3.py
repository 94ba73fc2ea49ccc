"""The S3 store against a real S3 API: OpenStack Swift with s3api (`swift` in conftest.py).

The shared contract runs with 5 MiB parts so its large object crosses parts; the tests after it
cover what only S3 shows: multipart clean-up, part sizes, memory, failures and credentials.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from glimpse.errors import ConfigError, ObjectNotFound, StoreFull, StoreUnavailable
from glimpse.store.base import Store, StoreContext
from glimpse.store.s3 import (
    MAX_OBJECT,
    MAX_PART,
    MAX_PARTS,
    MIN_PART,
    GiB,
    MiB,
    S3Store,
    part_size_for,
)
from glimpse.testing.store_contract import StoreContract
from swift.harness import Swift

PART = MIN_PART
NAME = "objects"


def _options(swift: Swift, bucket: str, **changes: Any) -> S3Store.Options:
    options = S3Store.Options(
        endpoint_url=swift.s3_endpoint,
        region=swift.s3_region,
        bucket=bucket,
        access_key=swift.access_key,
        secret_key=swift.secret_key,
        create_bucket=True,
        part_size=PART,
        connect_timeout=5,
        read_timeout=30,
        retries=1,
    )
    return replace(options, **changes)


def _make(options: S3Store.Options, tmp_path: Path | None = None) -> S3Store:
    return S3Store(options, StoreContext(tmp_path or Path("/nonexistent"), "sha512", NAME))


@pytest.fixture(scope="module")
def bucket(swift: Swift) -> Iterator[str]:
    """A bucket of this module's own, emptied and removed afterwards."""
    name = f"glimpse-s3-{secrets.token_hex(4)}"
    yield name
    # botocore refuses the name of the segments container, so use Swift's own API.
    swift.remove_containers(name, f"{name}+segments")


@pytest.fixture(scope="module")
def s3_store(swift: Swift, bucket: str) -> S3Store:
    return _make(_options(swift, bucket))


def _uploads(swift: Swift, bucket: str) -> list[str]:
    listed = swift.s3().list_multipart_uploads(Bucket=bucket)
    return [f"upload {u['Key']} {u['UploadId']}" for u in listed.get("Uploads", ())]


def _leftovers(swift: Swift, bucket: str) -> list[str]:
    segments = [f"segment {name}" for name in swift.objects(f"{bucket}+segments")]
    return _uploads(swift, bucket) + segments


class TestS3StoreContract(StoreContract):
    large_size = 12 * MiB + 12345

    @pytest.fixture
    def store(self, s3_store: S3Store, swift: Swift) -> Store:
        self.swift = swift
        return s3_store

    def leftovers(self, store: Store) -> list[str]:
        assert isinstance(store, S3Store)
        return _leftovers(self.swift, store.bucket)

    def secrets(self) -> list[str]:
        return [self.swift.secret_key]


# -- part sizes (no server)


def test_a_declared_5_tib_fits_10000_parts() -> None:
    for base in (MIN_PART, 16 * MiB, 64 * MiB):
        size = part_size_for(1, base, MAX_OBJECT)
        assert size % MiB == 0
        assert size * MAX_PARTS >= MAX_OBJECT
        assert MIN_PART <= size <= MAX_PART


def test_a_small_declared_size_keeps_the_configured_part_size() -> None:
    assert part_size_for(1, 16 * MiB, 100 * MiB) == 16 * MiB
    assert part_size_for(1, 16 * MiB, None) == 16 * MiB


@pytest.mark.parametrize("base", [MIN_PART, 8 * MiB, 16 * MiB, 64 * MiB, GiB, MAX_PART])
@pytest.mark.parametrize("declared", [None, 1, 100 * GiB])
def test_growing_parts_reach_5_tib_in_10000_parts(base: int, declared: int | None) -> None:
    # Data of unknown size, or longer than declared: the parts must still reach S3's limit.
    sizes = [part_size_for(n, base, declared) for n in range(1, MAX_PARTS + 1)]
    assert sum(sizes) >= MAX_OBJECT
    assert sizes == sorted(sizes)
    assert all(MIN_PART <= size <= MAX_PART for size in sizes)
    assert sizes[0] == max(base, part_size_for(1, base, declared))


# -- options (no server)


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"addressing": "dns"}, "addressing"),
        ({"part_size": 4 * MiB}, "part_size"),
        ({"part_size": 6 * GiB}, "part_size"),
        ({"max_parts_in_flight": 0}, "max_parts_in_flight"),
        ({"bucket": "Upper_Case"}, "bucket"),
        ({"endpoint_url": "ftp://example.com"}, "endpoint_url"),
        ({"endpoint_url": "http://key:hush@example.com"}, "endpoint_url"),
        ({"connect_timeout": 0.0}, "connect_timeout"),
        ({"retries": 100}, "retries"),
        ({"secret_key": ""}, "secret_key"),
        ({"access_key": ""}, "access_key"),
        ({"ca_file": "/nonexistent/ca.pem"}, "ca_file"),
        ({"prefix": "/images/"}, "prefix"),
    ],
)
def test_bad_options_name_their_key(changes: dict[str, Any], key: str) -> None:
    options = replace(
        S3Store.Options(endpoint_url="http://127.0.0.1:9", access_key="ak", secret_key="hush"),
        **changes,
    )
    with pytest.raises(ConfigError, match=rf"^stores\.{NAME}\.{key} ") as caught:
        _make(options)
    assert "hush" not in str(caught.value)


def test_locations_carry_no_credentials(swift: Swift, s3_store: S3Store) -> None:
    location = s3_store.put("no-credentials", iter([b"x"]))
    assert location == f"s3://{s3_store.bucket}/no-credentials"
    assert swift.access_key not in location
    assert swift.secret_key not in location
    assert s3_store.serves(location)
    assert not s3_store.serves("s3://other-bucket/no-credentials")
    assert not s3_store.serves(f"s3://{s3_store.bucket}/")
    assert not s3_store.serves("file:///var/lib/glimpse/no-credentials")
    # Glance writes the credentials into its locations; never repeat them.
    glance = f"s3://ak:hush@127.0.0.1/{s3_store.bucket}/no-credentials"
    assert not s3_store.serves(glance)
    with pytest.raises(ObjectNotFound) as caught:
        s3_store.open(glance)
    assert "hush" not in str(caught.value)
    s3_store.delete(location)


def test_prefix_names_and_lists_only_its_objects(swift: Swift, bucket: str) -> None:
    store = _make(_options(swift, bucket, prefix="prefixed/"))
    outside = _make(_options(swift, bucket)).put("outside-the-prefix", iter([b"o"]))
    location = store.put("inside", iter([b"abc"]))
    assert location == f"s3://{bucket}/prefixed/inside"
    listed = list(store.objects())
    assert [o.location for o in listed] == [location]
    assert listed[0].size == 3
    modified = listed[0].modified
    assert modified.tzinfo is None
    assert abs(modified - datetime.now(UTC).replace(tzinfo=None)) < timedelta(minutes=5)
    store.delete(location)
    store.delete(outside)


# -- how data goes up and comes back


def _etag(swift: Swift, bucket: str, key: str) -> str:
    return str(swift.s3().head_object(Bucket=bucket, Key=key)["ETag"])


def test_data_that_fits_one_part_is_one_put(swift: Swift, s3_store: S3Store) -> None:
    exactly = s3_store.put("one-part", iter([os.urandom(PART // 2), os.urandom(PART // 2)]))
    assert "-" not in _etag(swift, s3_store.bucket, "one-part")
    one_more = s3_store.put("two-parts", iter([os.urandom(PART), b"!"]))
    assert _etag(swift, s3_store.bucket, "two-parts").endswith('-2"')
    assert s3_store.open(one_more).size == PART + 1
    assert b"".join(s3_store.open(one_more).chunks(PART - 1))[1:] == b"!"
    for location in (exactly, one_more):
        s3_store.delete(location)
    assert _leftovers(swift, s3_store.bucket) == []


def test_reads_stream_in_bounded_chunks(s3_store: S3Store) -> None:
    block = os.urandom(MiB)
    location = s3_store.put("chunked-read", iter([block] * 3 + [b"tail"]))
    source = s3_store.open(location)
    assert source.size == 3 * MiB + 4
    assert source.local_path is None
    sizes = [len(chunk) for chunk in source.chunks(1, 3 * MiB)]
    assert sum(sizes) == 3 * MiB
    assert max(sizes) <= MiB
    assert list(source.chunks(source.size)) == []
    assert list(source.chunks(5, 0)) == []
    s3_store.delete(location)


def test_an_empty_object_reads_without_a_range(s3_store: S3Store) -> None:
    source = s3_store.open(s3_store.put("empty-range", iter([b"", b""])))
    assert source.size == 0
    assert list(source.chunks()) == []
    assert list(source.chunks(0, 10)) == []


def test_a_put_failing_in_part_2_leaves_nothing(swift: Swift, s3_store: S3Store) -> None:
    def chunks() -> Iterator[bytes]:
        yield os.urandom(PART)  # part 1 goes up
        yield os.urandom(MiB)
        raise RuntimeError("client went away in part 2")

    with pytest.raises(RuntimeError, match="in part 2"):
        s3_store.put("failed-in-part-2", chunks())
    assert _leftovers(swift, s3_store.bucket) == []
    with pytest.raises(ObjectNotFound):
        s3_store.open(f"s3://{s3_store.bucket}/failed-in-part-2")


def test_an_interrupted_put_leaves_nothing(swift: Swift, s3_store: S3Store) -> None:
    def chunks() -> Iterator[bytes]:
        yield os.urandom(PART + MiB)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        s3_store.put("interrupted", chunks())
    assert _leftovers(swift, s3_store.bucket) == []


def test_a_retried_complete_that_had_succeeded_is_believed(swift: Swift, s3_store: S3Store) -> None:
    # botocore retries a Complete whose answer was lost; the retry finds no upload.
    client, bucket, key = swift.s3(), s3_store.bucket, "completed-twice"
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for number, body in enumerate([os.urandom(PART), b"end"], start=1):
        answer = client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    s3_store._complete(key, upload_id, parts)
    s3_store._complete(key, upload_id, parts)  # the object there is this upload's
    with pytest.raises(Exception, match="NoSuchUpload"):
        s3_store._complete(key, upload_id, parts[:1])  # but not any object
    assert s3_store.open(f"s3://{bucket}/{key}").size == PART + 3
    s3_store.delete(f"s3://{bucket}/{key}")


def test_sweep_aborts_unfinished_uploads_of_its_key(swift: Swift, s3_store: S3Store) -> None:
    client, bucket = swift.s3(), s3_store.bucket
    for key in ("swept", "swept-not"):  # a node died mid-upload of both
        upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=os.urandom(PART)
        )
    s3_store.sweep("swept")
    assert [u.split()[1] for u in _uploads(swift, bucket)] == ["swept-not"]
    s3_store.sweep("swept-not")
    assert _leftovers(swift, bucket) == []


def test_memory_stays_bounded_whatever_the_size(swift: Swift, s3_store: S3Store) -> None:
    size = 200 * MiB

    def chunks() -> Iterator[bytes]:
        for _ in range(size // MiB):
            yield os.urandom(MiB)  # fresh memory per chunk, like data off the network

    in_flight = s3_store.options.max_parts_in_flight
    tracemalloc.start()
    try:
        location = s3_store.put("bounded-memory", chunks())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PART * (in_flight + 2), f"peak {peak / MiB:.1f} MiB"
    source = s3_store.open(location)
    assert source.size == size
    s3_store.delete(location)
    assert _leftovers(swift, s3_store.bucket) == []


# -- failures: no SDK error escapes, no credential shows


@pytest.mark.parametrize(
    ("code", "status", "error", "message"),
    [
        ("NoSuchKey", 404, ObjectNotFound, "no data at s3://b/k"),
        ("404", 404, ObjectNotFound, "no data at s3://b/k"),
        ("NoSuchBucket", 404, StoreUnavailable, "bucket glimpse does not exist"),
        ("EntityTooLarge", 400, StoreFull, "Image storage media is full"),
        ("QuotaExceeded", 403, StoreFull, "Image storage media is full"),
        ("InsufficientStorage", 507, StoreFull, "Image storage media is full"),
        ("507", 507, StoreFull, "Image storage media is full"),
        ("AccessDenied", 403, StoreUnavailable, "refused the credentials"),
        ("InvalidAccessKeyId", 403, StoreUnavailable, "refused the credentials"),
        ("SignatureDoesNotMatch", 403, StoreUnavailable, "refused the credentials"),
        ("SlowDown", 503, StoreUnavailable, f"S3 store {NAME} failed: SlowDown"),
    ],
)
def test_sdk_errors_become_glimpse_errors(
    code: str, status: int, error: type[Exception], message: str
) -> None:
    # Swift cannot be made full or quota-bound here, so the answers are built by hand.
    store = _make(
        S3Store.Options(endpoint_url="http://127.0.0.1:9", access_key="ak", secret_key="hush")
    )
    answer = {
        "Error": {"Code": code, "Message": "hush is not shown"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    translated = store._error(ClientError(answer, "GetObject"), "s3://b/k")
    assert type(translated) is error
    assert message in str(translated)
    assert "hush" not in str(translated)


def test_a_declared_size_above_5_tib_is_refused_before_sending() -> None:
    store = _make(S3Store.Options(endpoint_url=f"http://127.0.0.1:{_closed_port()}"))
    with pytest.raises(StoreFull, match="at most 5 TiB"):
        store.put("too-large", iter([b"x"]), size=MAX_OBJECT + 1)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_endpoint_is_unavailable_quickly(
    caplog: pytest.LogCaptureFixture, bucket: str
) -> None:
    secret = f"hush-{secrets.token_hex(8)}"
    store = _make(
        S3Store.Options(
            endpoint_url=f"http://127.0.0.1:{_closed_port()}",
            bucket=bucket,
            access_key="glimpse-test",
            secret_key=secret,
            connect_timeout=1,
            read_timeout=1,
            retries=0,
        )
    )
    caplog.set_level(logging.DEBUG)
    began = time.monotonic()
    calls: list[Callable[[], object]] = [
        store.check,
        lambda: store.put("unreachable", iter([b"x"])),
        lambda: store.put("unreachable", iter([os.urandom(PART), b"x"])),
        lambda: store.open(f"s3://{bucket}/unreachable"),
        lambda: store.delete(f"s3://{bucket}/unreachable"),
        lambda: store.sweep("unreachable"),
        lambda: list(store.objects()),
    ]
    for call in calls:
        with pytest.raises(StoreUnavailable, match=f"S3 store {NAME} is unreachable") as caught:
            call()
        assert secret not in str(caught.value)
    # Bounded: no retries and a one-second connect timeout, not minutes of backing off.
    assert time.monotonic() - began < 30
    assert secret not in caplog.text


def test_a_wrong_secret_is_credentials_refused(
    caplog: pytest.LogCaptureFixture, swift: Swift, s3_store: S3Store, bucket: str
) -> None:
    location = s3_store.put("refused", iter([b"x"]))
    secret = f"wrong-{secrets.token_hex(8)}"
    store = _make(_options(swift, bucket, secret_key=secret, create_bucket=False))
    caplog.set_level(logging.DEBUG)
    calls: list[Callable[[], object]] = [
        store.check,
        lambda: store.put("refused", iter([b"y"])),
        lambda: store.put("refused", iter([os.urandom(PART), b"y"])),
        lambda: store.open(location),
        lambda: store.delete(location),
        lambda: list(store.objects()),
    ]
    for call in calls:
        with pytest.raises(StoreUnavailable, match="refused the credentials") as caught:
            call()
        assert NAME in str(caught.value)
        assert secret not in str(caught.value)
    assert secret not in caplog.text
    with pytest.raises(StoreUnavailable, match="refused the credentials"):
        _make(_options(swift, f"{bucket}-new", secret_key=secret))  # creating the bucket
    assert b"".join(s3_store.open(location).chunks()) == b"x"
    s3_store.delete(location)


def test_a_missing_bucket_fails_the_check(swift: Swift, bucket: str) -> None:
    store = _make(_options(swift, f"{bucket}-missing", create_bucket=False))
    with pytest.raises(StoreUnavailable, match=rf"bucket {bucket}-missing does not exist"):
        store.check()


def test_properties_show_no_secret(swift: Swift, s3_store: S3Store) -> None:
    shown = dict(s3_store.properties())
    assert shown["bucket"] == s3_store.bucket
    assert shown["endpoint"] == swift.s3_endpoint
    assert shown["s3_store_large_object_chunk_size"] == PART
    assert swift.secret_key not in repr(shown)


def test_the_proxy_dying_mid_upload_is_unavailable_then_swept(swift: Swift, bucket: str) -> None:
    store = _make(_options(swift, bucket, connect_timeout=1, read_timeout=5, retries=0))
    segments = f"{bucket}+segments"

    def chunks() -> Iterator[bytes]:
        yield os.urandom(PART)
        yield os.urandom(MiB)
        # Part 1 is on its way and part 2 is being read: wait until part 1 is stored, so the
        # upload that cannot be aborted now holds data for sweep to remove.
        deadline = time.monotonic() + 30
        while not any(name.endswith("/1") for name in swift.objects(segments)):
            assert time.monotonic() < deadline, "part 1 was never stored"
            time.sleep(0.05)
        swift.stop_proxy()
        yield os.urandom(PART)

    try:
        with pytest.raises(StoreUnavailable, match=f"S3 store {NAME} is unreachable") as caught:
            store.put("proxy-died", chunks())
        assert swift.secret_key not in str(caught.value)
    finally:
        swift.start_proxy()
    assert _leftovers(swift, bucket) != []  # the abort could not reach the proxy
    store.sweep("proxy-died")
    assert _leftovers(swift, bucket) == []
    with pytest.raises(ObjectNotFound):
        store.open(f"s3://{bucket}/proxy-died")
