"""The Swift store on a real Swift all-in-one: the shared contract, then what only Swift shows."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import socket
import threading
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from glimpse.errors import ConfigError, ObjectNotFound, StoreUnavailable
from glimpse.options import build
from glimpse.store.base import Store, StoreContext
from glimpse.store.swift import SwiftStore
from glimpse.testing.store_contract import StoreContract
from swift.harness import Swift

MiB = 1 << 20
BLOCK = 1 << 16


def _name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def _options(swift: Swift, container: str, **overrides: Any) -> SwiftStore.Options:
    values: dict[str, Any] = {
        "auth_url": swift.auth_url,
        "user": swift.user,
        "key": swift.key,
        "container": container,
        "segment_size": MiB,
        "large_object_size": 2 * MiB,
        "retries": 1,
        "connect_timeout": 5.0,
        "read_timeout": 30.0,
    }
    values.update(overrides)
    return SwiftStore.Options(**values)


@contextlib.contextmanager
def _store(
    swift: Swift, container: str, tmp_path: Path, name: str = "swift", **overrides: Any
) -> Iterator[SwiftStore]:
    store = SwiftStore(
        _options(swift, container, **overrides), StoreContext(tmp_path, "sha512", name)
    )
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(scope="module")
def module_container() -> str:
    return _name("glimpse")


@pytest.fixture
def container(module_container: str) -> str:
    """A container of the test's own, so that it sees only its own segments."""
    return _name(module_container)


@pytest.fixture
def store(swift: Swift, container: str, tmp_path: Path) -> Iterator[SwiftStore]:
    with _store(swift, container, tmp_path) as made:
        yield made


def _blocks(total: int, block: bytes | None = None) -> Iterator[bytes]:
    block = block or os.urandom(BLOCK)
    count, tail = divmod(total, len(block))
    for _ in range(count):
        yield block
    if tail:
        yield block[:tail]


def _head(swift: Swift, location: str) -> dict[str, str]:
    container, name = location.removeprefix("swift://").split("/", 1)
    with contextlib.closing(swift.connection()) as connection:
        headers: dict[str, str] = connection.head_object(container, name)
    return headers


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens on it once the socket is closed


class TestSwiftStoreContract(StoreContract):
    large_size = 5 * MiB + 12345  # five 1 MiB segments and a bit: a Static Large Object

    @pytest.fixture
    def store(self, swift: Swift, module_container: str, tmp_path: Path) -> Iterator[Store]:
        self.swift = swift
        with _store(swift, module_container, tmp_path) as made:
            yield made

    def leftovers(self, store: Store) -> list[str]:
        assert isinstance(store, SwiftStore)
        return self.swift.objects(store.options.container + "_segments")

    def secrets(self) -> list[str]:
        return [self.swift.key]


# -- locations ------------------------------------------------------------------------


def test_location_names_container_and_key_without_credentials(
    swift: Swift, store: SwiftStore, container: str
) -> None:
    location = store.put("located", iter([b"abc"]))
    assert location == f"swift://{container}/located"
    assert swift.key not in location
    assert swift.user not in location
    assert "AUTH_" not in location
    assert store.serves(location)
    assert b"".join(store.open(location).chunks()) == b"abc"


@pytest.mark.parametrize(
    "location",
    [
        "swift://elsewhere/located",
        "swift://{container}_segments/located",
        "swift://{container}/a%2Fb",
        "swift://{container}/",
        "swift://{container}/located?x=1",
        "file:///tmp/located",
        "s3://{container}/located",
    ],
)
def test_foreign_locations_are_not_served(store: SwiftStore, container: str, location: str) -> None:
    location = location.format(container=container)
    assert not store.serves(location)
    with pytest.raises(ObjectNotFound):
        store.open(location)
    with pytest.raises(ObjectNotFound):
        store.delete(location)


@pytest.mark.parametrize("key", ["", "a/b", ".hidden", "x\0y"])
def test_bad_keys_are_refused(store: SwiftStore, key: str) -> None:
    with pytest.raises(ValueError, match="bad object key"):
        store.put(key, iter([b"x"]))


# -- small objects and Static Large Objects -------------------------------------------


def test_small_image_is_one_object_large_one_an_slo(
    swift: Swift, store: SwiftStore, container: str
) -> None:
    small = store.put("one-object", _blocks(2 * MiB), size=2 * MiB)
    assert "x-static-large-object" not in _head(swift, small)
    large = store.put("slo-object", _blocks(5 * MiB + 1), size=5 * MiB + 1)
    headers = _head(swift, large)
    assert headers["x-static-large-object"].lower() == "true"
    assert int(headers["content-length"]) == 5 * MiB + 1
    segments = swift.objects(f"{container}_segments")
    assert len(segments) == 6
    prefixes = {name.rsplit("/", 1)[0] for name in segments}
    assert len(prefixes) == 1
    assert prefixes.pop().startswith("slo-object/")
    assert sorted(name.rsplit("/", 1)[1] for name in segments) == [f"{n:08d}" for n in range(6)]
    listed = {o.location: o.size for o in store.objects()}
    assert listed[large] == 5 * MiB + 1
    store.delete(large)
    store.delete(small)
    assert swift.objects(f"{container}_segments") == []


@pytest.mark.parametrize(("size", "slo"), [(2 * MiB, False), (2 * MiB + 1, True)])
def test_unknown_size_reads_ahead_to_the_threshold(
    swift: Swift, store: SwiftStore, container: str, size: int, slo: bool
) -> None:
    location = store.put(_name("unsized"), _blocks(size))
    headers = _head(swift, location)
    assert (headers.get("x-static-large-object", "").lower() == "true") is slo
    assert int(headers["content-length"]) == size
    store.delete(location)
    assert swift.objects(f"{container}_segments") == []


def test_declared_large_but_empty_is_an_empty_object(swift: Swift, store: SwiftStore) -> None:
    location = store.put("declared-large", iter([b""]), size=10 * MiB)
    assert int(_head(swift, location)["content-length"]) == 0
    assert b"".join(store.open(location).chunks()) == b""


def test_ranges_across_segments(store: SwiftStore) -> None:
    data = os.urandom(3 * MiB + 7)
    source = store.open(store.put("ranged", iter([data]), size=len(data)))
    assert source.size == len(data)
    assert source.local_path is None
    assert b"".join(source.chunks(MiB - 3, 6)) == data[MiB - 3 : MiB + 3]
    assert b"".join(source.chunks(2 * MiB - 1)) == data[2 * MiB - 1 :]
    assert b"".join(source.chunks(len(data))) == b""
    assert b"".join(source.chunks(5, 0)) == b""
    assert b"".join(source.chunks(len(data) - 2, 100)) == data[-2:]
    pieces = list(source.chunks())
    assert max(len(p) for p in pieces) <= MiB
    assert b"".join(pieces) == data


def test_replacing_an_slo_removes_its_segments(
    swift: Swift, store: SwiftStore, container: str
) -> None:
    first = store.put("replaced", _blocks(3 * MiB), size=3 * MiB)
    assert swift.objects(f"{container}_segments")
    second = store.put("replaced", iter([b"small now"]))
    assert second == first
    assert swift.objects(f"{container}_segments") == []
    assert b"".join(store.open(second).chunks()) == b"small now"


def test_delete_of_an_slo_removes_its_segments(
    swift: Swift, store: SwiftStore, container: str
) -> None:
    location = store.put("deleted-slo", _blocks(4 * MiB), size=4 * MiB)
    assert len(swift.objects(f"{container}_segments")) == 4
    store.delete(location)
    assert swift.objects(f"{container}_segments") == []
    with pytest.raises(ObjectNotFound):
        store.open(location)
    store.delete(location)


@pytest.mark.parametrize("size", [None, 10 * MiB])
def test_interrupted_slo_put_leaves_no_segments(
    swift: Swift, store: SwiftStore, container: str, size: int | None
) -> None:
    def three_segments_then_fail() -> Iterator[bytes]:
        yield from _blocks(3 * MiB + BLOCK)
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError, match="client went away"):
        store.put("interrupted", three_segments_then_fail(), size=size)
    assert swift.objects(f"{container}_segments") == []
    assert "interrupted" not in swift.objects(container)


def test_callers_own_error_passes_through_unchanged(
    swift: Swift, store: SwiftStore, container: str
) -> None:
    # An OSError raised while the transport pulls the body would come out wrapped
    # as a connection error; the store raises the caller's own exception instead.
    gone = ConnectionResetError("the client reset the connection")

    def failing() -> Iterator[bytes]:
        yield from _blocks(MiB + BLOCK)
        raise gone

    with pytest.raises(ConnectionResetError) as raised:
        store.put("reset", failing(), size=10 * MiB)
    assert raised.value is gone
    with pytest.raises(ConnectionResetError) as raised:
        store.put("reset", failing(), size=MiB + BLOCK)
    assert raised.value is gone
    assert swift.objects(f"{container}_segments") == []
    assert "reset" not in swift.objects(container)


def test_sweep_removes_orphan_segments_and_keeps_published_ones(
    swift: Swift, store: SwiftStore, container: str
) -> None:
    data = os.urandom(3 * MiB)
    location = store.put("swept-slo", iter([data]), size=len(data))
    published = swift.objects(f"{container}_segments")
    with contextlib.closing(swift.connection()) as connection:
        for n in range(2):
            connection.put_object(f"{container}_segments", f"swept-slo/crashed/{n:08d}", b"x")
        connection.put_object(f"{container}_segments", f"swept-slo-other/crashed/{0:08d}", b"x")
    store.sweep("swept-slo")
    assert sorted(swift.objects(f"{container}_segments")) == sorted(
        [*published, "swept-slo-other/crashed/00000000"]
    )
    assert b"".join(store.open(location).chunks()) == data
    store.sweep("swept-slo-other")
    store.delete(location)
    assert swift.objects(f"{container}_segments") == []


def test_proxy_stopped_mid_upload_then_sweep(swift: Swift, tmp_path: Path) -> None:
    container = _name("stopped")
    with _store(swift, container, tmp_path, retries=0) as store:

        def stops_the_proxy() -> Iterator[bytes]:
            yield from _blocks(2 * MiB + BLOCK)
            swift.stop_proxy()
            yield from _blocks(2 * MiB)

        try:
            with pytest.raises(StoreUnavailable, match="Swift store swift is unreachable"):
                store.put("stopped", stops_the_proxy(), size=4 * MiB + BLOCK)
            with pytest.raises(StoreUnavailable, match="unreachable: connection refused"):
                store.check()
        finally:
            swift.start_proxy()
        assert swift.objects(f"{container}_segments")  # the proxy was down for the cleanup
        store.sweep("stopped")
        assert swift.objects(f"{container}_segments") == []
        assert swift.objects(container) == []
        assert store.put("stopped", iter([b"after"])).endswith("/stopped")


# -- projects -------------------------------------------------------------------------


def test_per_project_containers_are_made_on_demand_and_listed(swift: Swift, tmp_path: Path) -> None:
    base = _name("projects")
    with _store(swift, base, tmp_path, container_per_project=True) as store:
        one = store.put("img-1", iter([b"one"]), project="p1")
        two = store.put("img-2", _blocks(3 * MiB), size=3 * MiB, project="p2")
        odd = store.put("img-3", iter([b"odd"]), project="Odd_proj/x")
        none = store.put("img-4", iter([b"none"]))
        assert one == f"swift://{base}_p1/img-1"
        assert two == f"swift://{base}_p2/img-2"
        assert none == f"swift://{base}/img-4"
        odd_container = f"{base}_.{b'Odd_proj/x'.hex()}"
        assert odd == f"swift://{odd_container}/img-3"
        assert sorted(c for c in swift.containers() if c.startswith(base)) == sorted(
            [base, f"{base}_p1", f"{base}_p2", f"{base}_p2_segments", odd_container]
        )
        listed = {o.location: o.size for o in store.objects()}
        assert listed == {one: 3, two: 3 * MiB, odd: 3, none: 4}
        assert all(store.serves(location) for location in listed)
        assert not store.serves(f"swift://{base}_p2_segments/img-2")
        assert sum(len(piece) for piece in store.open(two).chunks()) == 3 * MiB
        store.delete(two)
        assert swift.objects(f"{base}_p2_segments") == []
        # A project called "segments" is not confused with the segments container.
        tricky = store.put("img-5", iter([b"s"]), project="segments")
        assert tricky.startswith(f"swift://{base}_.")
        assert tricky in {o.location for o in store.objects()}


def test_projects_share_the_container_unless_asked(store: SwiftStore, container: str) -> None:
    location = store.put("owned", iter([b"x"]), project="p1")
    assert location == f"swift://{container}/owned"


# -- errors ---------------------------------------------------------------------------


def test_unreachable_auth_url_is_unavailable(swift: Swift, tmp_path: Path) -> None:
    port = _closed_port()
    auth_url = f"http://127.0.0.1:{port}/auth/v1.0"
    with _store(swift, _name("nowhere"), tmp_path, auth_url=auth_url, retries=0) as store:
        with pytest.raises(StoreUnavailable) as raised:
            store.check()
        message = str(raised.value)
        assert message == f"Swift store swift is unreachable: connection refused (127.0.0.1:{port})"
        with pytest.raises(StoreUnavailable, match="unreachable"):
            store.put("x", iter([b"x"]))
        with pytest.raises(StoreUnavailable, match="unreachable"):
            list(store.objects())
    assert swift.key not in message


def test_unreachable_keystone_is_unavailable(swift: Swift, tmp_path: Path) -> None:
    keystone: dict[str, Any] = {
        "auth_url": f"http://127.0.0.1:{_closed_port()}/v3",
        "auth_version": "3",
        "user": "glimpse",
        "key": "k3y-never-shown",
        "project_name": "service",
        "retries": 0,
    }
    with (
        _store(swift, _name("keystone"), tmp_path, **keystone) as store,
        pytest.raises(StoreUnavailable, match="is unreachable: connection refused") as raised,
    ):
        store.check()
    assert "k3y-never-shown" not in str(raised.value)


def test_wrong_key_is_refused_without_showing_it(
    swift: Swift, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = f"wrong-{secrets.token_hex(8)}"
    caplog.set_level(logging.DEBUG)
    with _store(swift, _name("refused"), tmp_path, key=wrong) as store:
        with pytest.raises(StoreUnavailable, match="refused the credentials") as checked:
            store.check()
        with pytest.raises(StoreUnavailable, match="refused the credentials") as put:
            store.put("x", iter([b"x"]))
    for shown in (str(checked.value), str(put.value), caplog.text):
        assert wrong not in shown
    assert caplog.records  # swiftclient and urllib3 did log, at DEBUG and INFO


def test_key_never_logged_on_success(
    swift: Swift, store: SwiftStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    location = store.put(_name("logged"), _blocks(3 * MiB))
    assert b"".join(store.open(location).chunks(0, 10))
    store.delete(location)
    assert caplog.records
    assert swift.key not in caplog.text


def test_missing_container_without_create(swift: Swift, tmp_path: Path) -> None:
    with _store(swift, _name("absent"), tmp_path, create_container=False) as store:
        with pytest.raises(StoreUnavailable, match="does not exist and create_container is off"):
            store.check()
        with pytest.raises(StoreUnavailable, match="does not exist"):
            store.put("x", iter([b"x"]))
        assert list(store.objects()) == []


def test_missing_object(store: SwiftStore, container: str) -> None:
    with pytest.raises(ObjectNotFound):
        store.open(f"swift://{container}/never-written")
    store.delete(f"swift://{container}/never-written")
    store.sweep("never-written")


def test_object_deleted_after_open(store: SwiftStore) -> None:
    location = store.put("vanishing", iter([b"here"]))
    source = store.open(location)
    store.delete(location)
    with pytest.raises(ObjectNotFound):
        b"".join(source.chunks())


def test_read_resumes_after_the_proxy_restarts(
    swift: Swift, store: SwiftStore, caplog: pytest.LogCaptureFixture
) -> None:
    data = os.urandom(24 * MiB)  # more than the sockets buffer, so the restart cuts the read
    location = store.put("resumed", iter([data]), size=len(data))
    pieces = store.open(location).chunks()
    read = [next(pieces)]
    try:
        swift.stop_proxy()
    finally:
        swift.start_proxy()
    with caplog.at_level(logging.INFO, logger="glimpse.store.swift"):
        read += list(pieces)
    assert b"".join(read) == data
    assert "resumes reading" in caplog.text


def test_object_replaced_after_open_is_not_spliced(store: SwiftStore) -> None:
    location = store.put("changing", iter([b"first version"]))
    source = store.open(location)
    store.put("changing", iter([b"second version"]))
    with pytest.raises(StoreUnavailable, match="changed while it was read"):
        b"".join(source.chunks())


# -- connections ----------------------------------------------------------------------


def test_preauthenticated_storage_url(swift: Swift, tmp_path: Path) -> None:
    with _store(swift, _name("preauth"), tmp_path, storage_url=swift.account_url) as store:
        location = store.put("pre", iter([b"pre"]))
        assert b"".join(store.open(location).chunks()) == b"pre"
        assert "AUTH_" not in repr(dict(store.properties()))


def test_threads_each_use_their_own_connection(store: SwiftStore) -> None:
    datas = {f"threaded-{n}": os.urandom(BLOCK * (n + 1)) for n in range(8)}

    started = threading.Barrier(4)

    def round_trip(key: str) -> tuple[bool, object]:
        started.wait(timeout=30)  # four threads at once, each with a connection of its own
        location = store.put(key, iter([datas[key]]))
        return b"".join(store.open(location).chunks()) == datas[key], store._threads.conn

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(round_trip, datas))
    assert all(ok for ok, _ in results)
    assert len({id(conn) for _, conn in results}) == 4


def test_objects_reports_size_and_naive_utc_time(store: SwiftStore) -> None:
    before = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=5)
    location = store.put("timed", iter([b"12345"]))
    found = {o.location: o for o in store.objects()}[location]
    assert found.size == 5
    assert found.modified.tzinfo is None
    assert before <= found.modified <= datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=5)


def test_properties_show_no_secrets(swift: Swift, store: SwiftStore, container: str) -> None:
    assert dict(store.properties()) == {
        "container": container,
        "large_object_size": 2 * MiB,
        "segment_size": MiB,
        "auth_version": "1",
    }
    assert swift.key not in repr(dict(store.properties()))


def test_memory_stays_bounded_for_a_100_mib_slo(swift: Swift, store: SwiftStore) -> None:
    size = 100 * MiB
    digest = hashlib.md5(usedforsecurity=False)

    def generated() -> Iterator[bytes]:
        for _ in range(size // BLOCK):
            piece = os.urandom(BLOCK)  # fresh bytes, as an upload's chunks are
            digest.update(piece)
            yield piece

    tracemalloc.start()
    try:
        location = store.put("hundred", generated())  # size unknown: the read-ahead too
        _, written_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        read = hashlib.md5(usedforsecurity=False)
        for piece in store.open(location).chunks():
            read.update(piece)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert read.hexdigest() == digest.hexdigest()
    assert _head(swift, location)["x-static-large-object"].lower() == "true"
    # The 2 MiB read-ahead, then a few 64 KiB chunks in flight; 1 MiB pieces when reading.
    assert written_peak < 8 * MiB, written_peak
    assert read_peak < 8 * MiB, read_peak
    store.delete(location)


# -- options --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "key", "match"),
    [
        ({}, "auth_url", "must be an http"),
        ({"auth_url": "ftp://x/auth"}, "auth_url", "must be an http"),
        ({"auth_url": "http://u:p@x/auth"}, "auth_url", "must not carry credentials"),
        ({"auth_version": "2"}, "auth_version", 'must be "1" or "3"'),
        ({"user": ""}, "user", "is required"),
        ({"key": ""}, "key", "is required"),
        ({"auth_version": "3"}, "project_name", "is required with auth_version 3"),
        ({"interface": "private"}, "interface", "must be public, internal or admin"),
        ({"container": "a/b"}, "container", "without '/'"),
        ({"segment_size": 1000}, "segment_size", "must be at least 1048576"),
        ({"large_object_size": 6 << 30}, "large_object_size", "must be between"),
        ({"retries": 11}, "retries", "must be between 0 and 10"),
        ({"read_timeout": 0}, "read_timeout", "must be more than 0"),
        ({"storage_url": "nope"}, "storage_url", "must be an http"),
    ],
)
def test_options_are_checked_naming_the_key(
    tmp_path: Path, raw: dict[str, Any], key: str, match: str
) -> None:
    values = {"auth_url": "http://127.0.0.1:1/auth/v1.0", "user": "a:b", "key": "k"}
    values.update(raw)
    if not raw:
        del values["auth_url"]

    def configure() -> SwiftStore:
        options = build(SwiftStore.Options, values, "stores.mine")
        return SwiftStore(options, StoreContext(tmp_path, "sha512", "mine"))

    with pytest.raises(ConfigError, match=match) as raised:
        configure()
    assert f"stores.mine.{key}" in str(raised.value)


def test_defaults_follow_glance(tmp_path: Path) -> None:
    options = SwiftStore.Options()
    assert options.large_object_size == 5 << 30
    assert options.segment_size == 200 << 20
    assert options.container == "glimpse"
    assert options.auth_version == "1"
    assert options.create_container is True
    assert options.container_per_project is False
