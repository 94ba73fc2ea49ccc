"""The read-only http store against a real web server on loopback.

The server (``glimpse.testing.web_server``) misbehaves on purpose under path
prefixes: redirects, error statuses, hangs, bodies cut short, Range ignored.
"""

from __future__ import annotations

import logging
import os
import string
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import certifi
import httpx
import pytest
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

import glimpse
from glimpse import options
from glimpse.errors import ConfigError, ObjectNotFound, StoreUnavailable
from glimpse.store.base import Source, Store, StoreContext
from glimpse.store.http import READ_CHUNK, HttpSource, HttpStore, redact
from glimpse.testing import free_port
from glimpse.testing.web_server import WebServer, serve_directory

SIZE = 3 * READ_CHUNK + 12345
USER, PASSWORD = "alice", "s3cr3t-pa55"


_OPEN: list[HttpStore] = []


def _store(tmp_path: Path, **overrides: Any) -> HttpStore:
    # Small timeouts keep the hang tests short; no retries unless a test asks. The web
    # servers of these tests listen on loopback, which a store reads only when told to.
    opts = {
        "connect_timeout": 2.0,
        "read_timeout": 0.5,
        "retries": 0,
        "retry_backoff": 0.0,
        "allow_private_addresses": True,
    }
    store = HttpStore(
        HttpStore.Options(**{**opts, **overrides}), StoreContext(tmp_path, "sha512", "web")
    )
    _OPEN.append(store)
    return store


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    """Close every store a test built: pooled sockets left to the collector would warn."""
    yield
    while _OPEN:
        _OPEN.pop().close()


@pytest.fixture
def www(tmp_path: Path) -> Path:
    directory = tmp_path / "www"
    directory.mkdir()
    (directory / "image.bin").write_bytes(os.urandom(SIZE))
    (directory / "empty.bin").write_bytes(b"")
    (directory / "small.txt").write_bytes(b"0123456789")
    return directory


@pytest.fixture
def web(www: Path) -> Iterator[WebServer]:
    with serve_directory(www, credentials=(USER, PASSWORD)) as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> HttpStore:
    return _store(tmp_path)


def _read(source: Source, start: int = 0, length: int | None = None) -> bytes:
    return b"".join(source.chunks(start, length))


def test_what_the_store_is(store: HttpStore) -> None:
    checked: Store = store  # the protocol, checked by mypy on the tests too
    assert checked.schemes == ("http", "https")
    assert not checked.writable
    assert checked.type_name == "http"
    checked.check()
    assert dict(checked.properties()) == {}
    assert list(checked.objects()) == []


def test_reads_a_whole_object(store: HttpStore, web: WebServer, www: Path) -> None:
    source = store.open(web.url_for("image.bin"))
    assert source.size == SIZE
    assert source.local_path is None
    chunks = list(source.chunks())
    assert b"".join(chunks) == (www / "image.bin").read_bytes()
    assert max(len(c) for c in chunks) <= READ_CHUNK
    head, get = web.seen("HEAD")[-1], web.seen("GET")[-1]
    assert head.headers["User-Agent"] == f"glimpse/{glimpse.__version__}"
    assert get.headers["Accept-Encoding"] == "identity"


def test_the_user_agent_can_be_set(tmp_path: Path, web: WebServer) -> None:
    _store(tmp_path, user_agent="mirror-bot/2").open(web.url_for("small.txt"))
    assert web.seen("HEAD")[-1].headers["User-Agent"] == "mirror-bot/2"


@pytest.mark.parametrize("honour_range", [True, False], ids=["ranges", "ranges-ignored"])
@pytest.mark.parametrize(
    ("start", "length"),
    [
        (0, 10),
        (10, 100),
        (SIZE - 5, None),
        (READ_CHUNK - 1, 2),
        (READ_CHUNK + 7, 2 * READ_CHUNK),
        (SIZE - 3, 100),  # past the end: clipped to the object
        (SIZE, None),
        (SIZE + 10, 5),
    ],
)
def test_reads_ranges(
    tmp_path: Path, www: Path, honour_range: bool, start: int, length: int | None
) -> None:
    whole = (www / "image.bin").read_bytes()
    stop = None if length is None else start + length
    with serve_directory(www, honour_range=honour_range) as web:
        source = _store(tmp_path).open(web.url_for("image.bin"))
        assert _read(source, start, length) == whole[start:stop]


def test_asks_for_exactly_the_range_wanted(store: HttpStore, web: WebServer) -> None:
    source = store.open(web.url_for("image.bin"))
    _read(source, 10, 100)
    _read(source, SIZE - 5)
    _read(source)
    ranges = [r.headers.get("Range") for r in web.seen("GET")]
    assert ranges == ["bytes=10-109", f"bytes={SIZE - 5}-{SIZE - 1}", f"bytes=0-{SIZE - 1}"]


def test_empty_object(store: HttpStore, web: WebServer) -> None:
    source = store.open(web.url_for("empty.bin"))
    assert source.size == 0
    assert _read(source) == b""
    assert web.seen("GET") == []  # nothing to fetch when HEAD said 0 bytes


def test_without_a_content_length_the_size_is_unknown(
    store: HttpStore, web: WebServer, www: Path
) -> None:
    source = store.open(web.url_for("nolength/image.bin"))
    assert source.size is None
    whole = (www / "image.bin").read_bytes()
    assert _read(source) == whole
    assert _read(source, 100, 50) == whole[100:150]
    # Past the end the server answers 416: that is the end of the data, not an error.
    assert _read(source, SIZE) == b""
    assert web.seen("GET")[-1].headers["Range"] == f"bytes={SIZE}-"


def test_a_server_that_refuses_head_is_asked_with_get(
    store: HttpStore, web: WebServer, www: Path
) -> None:
    source = store.open(web.url_for("nohead/image.bin"))
    assert source.size == SIZE
    assert _read(source, 5, 5) == (www / "image.bin").read_bytes()[5:10]
    assert store.open(web.url_for("nohead/empty.bin")).size == 0
    with pytest.raises(ObjectNotFound):
        store.open(web.url_for("nohead/missing.bin"))


@pytest.mark.parametrize("path", ["missing.bin", "status/404", "status/410", "status/403"])
def test_missing_or_forbidden_is_not_found(store: HttpStore, web: WebServer, path: str) -> None:
    with pytest.raises(ObjectNotFound, match="no data at"):
        store.open(web.url_for(path))


@pytest.mark.parametrize("code", [500, 502, 503, 504, 429, 408])
def test_a_failing_server_is_unavailable(store: HttpStore, web: WebServer, code: int) -> None:
    with pytest.raises(StoreUnavailable, match=f"answered {code}"):
        store.open(web.url_for(f"status/{code}"))


def test_a_download_that_fails_after_head_raises_from_the_iterator(
    store: HttpStore, web: WebServer, www: Path
) -> None:
    source = store.open(web.url_for("small.txt"))
    (www / "small.txt").unlink()
    chunks = source.chunks()
    with pytest.raises(ObjectNotFound):
        next(chunks)


def test_redirects_are_followed_within_the_limit(
    store: HttpStore, web: WebServer, www: Path
) -> None:
    source = store.open(web.url_for("redirect/5/image.bin"))
    assert source.size == SIZE
    assert _read(source, 3, 4) == (www / "image.bin").read_bytes()[3:7]
    # Every read starts again at the location: a redirect may be a short-lived URL.
    assert web.seen("GET")[0].path == "/redirect/5/image.bin"


def test_too_many_redirects(tmp_path: Path, store: HttpStore, web: WebServer) -> None:
    with pytest.raises(StoreUnavailable, match=r"too many redirects .*\(more than 5\)"):
        store.open(web.url_for("redirect/6/image.bin"))
    assert len(web.seen("HEAD")) == 6
    strict = _store(tmp_path, max_redirects=0)
    with pytest.raises(StoreUnavailable, match="too many redirects"):
        strict.open(web.url_for("redirect/1/image.bin"))


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "ftp://127.0.0.1/image.bin", "gopher://x/", "data:,x"]
)
def test_redirects_leave_the_web_only_refused(
    store: HttpStore, web: WebServer, target: str
) -> None:
    with pytest.raises(StoreUnavailable, match=r"redirected to an? \S+ URL"):
        store.open(web.url_for(f"goto?to={target}"))


def test_a_hung_server_times_out(store: HttpStore, web: WebServer) -> None:
    with pytest.raises(StoreUnavailable, match="timed out"):
        store.open(web.url_for("hang/image.bin"))


def test_a_stalled_body_times_out_in_the_iterator(store: HttpStore, web: WebServer) -> None:
    chunks = store.open(web.url_for("stall/image.bin")).chunks()
    assert len(next(chunks)) == READ_CHUNK
    with pytest.raises(StoreUnavailable, match="timed out"):
        list(chunks)


def test_a_cut_body_raises_from_the_iterator(store: HttpStore, web: WebServer) -> None:
    source = store.open(web.url_for("cut/image.bin"))
    assert source.size == SIZE
    chunks = source.chunks()
    assert len(next(chunks)) == READ_CHUNK
    with pytest.raises(StoreUnavailable, match=r"reading \S+ failed"):
        list(chunks)


def test_a_cut_body_of_unknown_size_also_raises(store: HttpStore, web: WebServer) -> None:
    with pytest.raises(StoreUnavailable):
        _read(store.open(web.url_for("nolength/cut/image.bin")))


def test_no_bytes_beyond_the_head_size_are_served(tmp_path: Path, www: Path) -> None:
    # A server that ignores Range and sends no length: only the HEAD size decides.
    with serve_directory(www, honour_range=False) as web:
        store = _store(tmp_path)
        location = web.url_for("nolength/small.txt")
        assert _read(HttpSource(store, httpx.URL(location), location, 4)) == b"0123"
        assert _read(HttpSource(store, httpx.URL(location), location, 4), 2) == b"23"
        # And fewer bytes than the HEAD size is an error, not a short image.
        with pytest.raises(StoreUnavailable, match="short of its size 20"):
            _read(HttpSource(store, httpx.URL(location), location, 20))


@pytest.mark.parametrize("honour_range", [True, False])
def test_an_object_that_changed_since_open_is_not_mixed(
    tmp_path: Path, www: Path, honour_range: bool
) -> None:
    with serve_directory(www, honour_range=honour_range) as web:
        source = _store(tmp_path).open(web.url_for("small.txt"))
        (www / "small.txt").write_bytes(b"a longer replacement")
        with pytest.raises(StoreUnavailable, match="changed while it was being read"):
            _read(source, 2)


def test_an_object_that_shrank_past_the_start_is_unavailable(
    store: HttpStore, web: WebServer, www: Path
) -> None:
    source = store.open(web.url_for("small.txt"))
    (www / "small.txt").write_bytes(b"01")
    with pytest.raises(StoreUnavailable, match="no longer has 10 bytes"):
        _read(source, 5)


def test_unreachable_servers_are_unavailable(store: HttpStore) -> None:
    with pytest.raises(StoreUnavailable, match="cannot read"):
        store.open(f"http://127.0.0.1:{free_port()}/image.bin")
    with pytest.raises(StoreUnavailable, match="cannot read"):
        store.open("http://glimpse-test.invalid/image.bin")  # RFC 6761: never resolves


def test_transient_failures_are_retried(
    tmp_path: Path, web: WebServer, www: Path, caplog: pytest.LogCaptureFixture
) -> None:
    patient = _store(tmp_path, retries=2)
    with caplog.at_level(logging.WARNING, logger="glimpse.store.http"):
        source = patient.open(web.url_for("flaky/2/image.bin", userinfo=f"{USER}:{PASSWORD}"))
    assert source.size == SIZE
    assert len(web.seen("HEAD")) == 3
    assert "retry 2 of 2" in caplog.text
    assert PASSWORD not in caplog.text
    assert USER not in caplog.text
    with pytest.raises(StoreUnavailable, match="answered 503"):
        _store(tmp_path, retries=1).open(web.url_for("flaky/2/small.txt"))


def test_a_refused_connection_is_retried(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="glimpse.store.http"),
        pytest.raises(StoreUnavailable, match="Connection refused"),
    ):
        _store(tmp_path, retries=2).open(f"http://127.0.0.1:{free_port()}/x")
    assert "retry 2 of 2" in caplog.text


@pytest.mark.parametrize(
    "path",
    [
        "status/404",
        "status/500",
        "hang/x",
        "redirect/9/image.bin",
        "goto?to=file:///etc/passwd",
        "cut/image.bin",
        "private/small.txt",
    ],
)
def test_credentials_never_appear_in_messages(tmp_path: Path, web: WebServer, path: str) -> None:
    store = _store(tmp_path, retries=1)
    location = web.url_for(path, userinfo=f"{USER}:{PASSWORD}-wrong")
    with pytest.raises((ObjectNotFound, StoreUnavailable)) as caught:
        _read(store.open(location))
    message = str(caught.value)
    assert "***@" in message
    assert USER not in message
    assert PASSWORD not in message


def test_credentials_never_appear_in_reprs(store: HttpStore, web: WebServer) -> None:
    source = store.open(web.url_for("private/small.txt", userinfo=f"{USER}:{PASSWORD}"))
    assert PASSWORD not in repr(source)
    assert USER not in repr(source)


def test_redact() -> None:
    assert redact("http://u:p@h:1/a/b?sig=x#f") == "http://***@h:1/a/b?..."
    assert redact("https://h/a") == "https://h/a"
    assert "pw" not in redact("http://u:pw@[bad/x")
    assert redact("not a url") == "not a url"
    assert redact("http://h/a\nforged line") == "http://h/a\\nforged line"


def test_credentials_go_to_their_own_origin_only(
    tmp_path: Path, store: HttpStore, www: Path
) -> None:
    with serve_directory(www, credentials=(USER, PASSWORD)) as web:
        userinfo = f"{USER}:{PASSWORD}"
        assert _read(store.open(web.url_for("private/small.txt", userinfo=userinfo))) == (
            b"0123456789"
        )
        assert store.open(web.url_for("redirect/2/private/small.txt", userinfo=userinfo)).size == 10
        with pytest.raises(ObjectNotFound, match="answered 401"):
            store.open(web.url_for("private/small.txt"))
        with serve_directory(www, credentials=(USER, PASSWORD)) as other:
            away = web.url_for(f"goto?to={other.url}/private/small.txt", userinfo=userinfo)
            with pytest.raises(ObjectNotFound, match="answered 401"):
                store.open(away)
            assert "Authorization" not in other.seen("HEAD")[-1].headers


def test_put_is_refused(store: HttpStore) -> None:
    taken: list[bytes] = []

    def chunks() -> Iterator[bytes]:
        taken.append(b"x")
        yield b"x"

    with pytest.raises(StoreUnavailable, match="The http store web is read-only"):
        store.put("abc", chunks())
    assert taken == []


def test_delete_and_sweep_leave_the_object_alone(
    store: HttpStore, web: WebServer, www: Path
) -> None:
    location = web.url_for("small.txt")
    store.delete(location)
    store.delete(web.url_for("missing.bin"))
    store.sweep("small.txt")
    assert (www / "small.txt").exists()
    assert web.seen() == []  # not even asked
    assert _read(store.open(location)) == b"0123456789"


def test_serves_any_web_url(store: HttpStore) -> None:
    assert store.serves("http://example.com/a.img")
    assert store.serves("https://user:pw@10.0.0.1:8443/a?b=c")
    for location in ["file:///tmp/x", "s3://bucket/key", "", "http://", "http://[bad/", "x"]:
        assert not store.serves(location)
        with pytest.raises(ObjectNotFound):
            store.open(location)


def test_allowed_hosts_restrict_locations_and_redirects(
    tmp_path: Path, web: WebServer, www: Path
) -> None:
    store = _store(tmp_path, allowed_hosts=("127.0.0.1", ".example.org"))
    assert store.serves(web.url_for("small.txt"))
    assert store.serves("https://images.example.org/x")
    assert not store.serves("https://example.org.evil.com/x")
    assert not store.serves(f"http://localhost:{web.host.rpartition(':')[2]}/small.txt")
    with pytest.raises(ObjectNotFound, match="does not read from localhost"):
        store.open(f"http://localhost:{web.host.rpartition(':')[2]}/small.txt")
    assert web.seen() == []
    with pytest.raises(StoreUnavailable, match="redirected to localhost"):
        store.open(web.url_for(f"goto?to=http://localhost:{web.host.rpartition(':')[2]}/small.txt"))


def test_concurrent_reads_share_one_client(store: HttpStore, web: WebServer, www: Path) -> None:
    whole = (www / "image.bin").read_bytes()
    source = store.open(web.url_for("image.bin"))
    starts = [i * 100_003 for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        parts = list(pool.map(lambda s: _read(source, s, 200_000), starts))
    assert parts == [whole[s : s + 200_000] for s in starts]


def test_options_from_settings(tmp_path: Path) -> None:
    built = options.build(
        HttpStore.Options,
        {"connect_timeout": 1, "allowed_hosts": ["a.example"], "verify_tls": True},
        "stores.web",
    )
    assert built.connect_timeout == 1.0
    assert built.allowed_hosts == ("a.example",)
    HttpStore(built, StoreContext(tmp_path, "sha512", "web"))
    _store(tmp_path, ca_file=certifi.where())
    _store(tmp_path, verify_tls=False)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"connect_timeout": 0.0}, "stores.web.connect_timeout must be more than 0"),
        ({"read_timeout": -1.0}, "stores.web.read_timeout must be more than 0"),
        ({"retry_backoff": -1.0}, "stores.web.retry_backoff must be at least 0"),
        ({"ca_file": "/nonexistent/ca.pem"}, "stores.web.ca_file: cannot load"),
        ({"ca_file": "ca.pem", "verify_tls": False}, "ca_file is set but verify_tls is false"),
    ],
)
def test_bad_options_stop_startup(tmp_path: Path, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _store(tmp_path, **overrides)
    with pytest.raises(ConfigError, match=r"stores\.web\.max_redirects must be at least 0"):
        options.build(HttpStore.Options, {"max_redirects": -1}, "stores.web")


def test_the_web_server_leaves_no_threads(www: Path) -> None:
    before = set(threading.enumerate())
    with serve_directory(www) as web:
        store = _store(www)
        _read(store.open(web.url_for("small.txt")))
        with pytest.raises(StoreUnavailable):
            store.open(web.url_for("hang/x"))
        with pytest.raises(StoreUnavailable):
            _read(store.open(web.url_for("stall/image.bin")))
    assert set(threading.enumerate()) <= before


# -- random locations: only Glimpse errors come out -------------------------------------


@pytest.fixture(scope="module")
def fuzz_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    directory = tmp_path_factory.mktemp("fuzz-www")
    (directory / "image.bin").write_bytes(os.urandom(3 * READ_CHUNK))
    (directory / "small.txt").write_bytes(b"0123456789")
    with serve_directory(directory, credentials=(USER, PASSWORD)) as server:
        yield server


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpStore]:
    # Only the test server's host is allowed, so no random name reaches the network.
    store = HttpStore(
        HttpStore.Options(
            connect_timeout=2.0,
            read_timeout=0.3,
            retries=0,
            allowed_hosts=("127.0.0.1",),
        ),
        StoreContext(tmp_path_factory.mktemp("fuzz-data"), "sha512", "web"),
    )
    yield store
    store.close()


_SECRET = st.text(alphabet="abcdefghijklmnopqrstuvwxyz%:", max_size=12)
_TEXT = st.text(max_size=40)
_PREFIXES = st.sampled_from(
    [
        "",
        "redirect/2/",
        "redirect/7/",
        "status/",
        "nolength/",
        "nohead/",
        "private/",
        "cut/",
        "flaky/1/",
        "nohead/nolength/",
        "goto?to=",
        "goto?to=file:///",
        "%2e%2e/",
        "./",
    ]
)
_NAMES = st.sampled_from(
    ["image.bin", "small.txt", "500", "403", "image.bin?x=1", "small.txt#f", "missing", ""]
)

_TARGETS = st.sampled_from(
    [
        "data:,x",
        "http:",
        "//",
        "http://[::1",
        "http://127.0.0.1:99999/",
        "javascript:alert(1)",
        "mailto:a@b",
        "/redirect/9/small.txt",
        "/small.txt",
        "small.txt",
        "../small.txt",
        "http://localhost/small.txt",
    ]
)
_GOOD_PREFIXES = st.sampled_from(["", "redirect/2/", "nolength/", "nohead/", "./", "a/../"])
_GOOD_NAMES = st.sampled_from(["image.bin", "small.txt", "image.bin?x=1", "small.txt#f"])


@st.composite
def _locations(draw: st.DrawFn, host: str) -> tuple[str, str | None]:
    """A location string, and the password it carries (if any).

    Most are well-formed URLs of the test server, so that reads happen too;
    the rest are anything at all.
    """
    kind = draw(st.integers(0, 6))
    if kind == 6:  # a redirect to anything at all
        target = draw(_TARGETS | st.text(alphabet=string.printable.strip(), max_size=30))
        return f"http://{host}/goto?to={quote(target, safe='')}", None
    if kind == 0:
        return draw(st.text(max_size=80)), None
    if kind == 1:
        prefix = draw(
            st.sampled_from(["http://", "https://", "HTTP://", "http:", "http:///", "ftp://", ""])
        )
        return prefix + draw(_TEXT), None
    password = draw(st.sampled_from([None, PASSWORD]))
    userinfo = f"{draw(_SECRET)}:{password}@" if password is not None else ""
    if kind <= 3:  # an object the server has, reached one way or another
        path = draw(_GOOD_PREFIXES) + draw(_GOOD_NAMES)
        return f"http://{userinfo}{host}/{path}", password
    scheme = draw(st.sampled_from(["http", "http", "https", "Http"]))
    others = ["127.0.0.1:1", "127.0.0.1:99999", "127.0.0.1:x", "[::1", "", "@", host.upper()]
    netloc = draw(st.one_of(st.just(host), st.sampled_from(others), _TEXT))
    path = draw(_PREFIXES) + draw(st.one_of(_NAMES, _TEXT))
    return f"{scheme}://{userinfo}{netloc}/{path}", password


@seed(20261230)
@settings(
    database=None,
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_random_locations_raise_only_glimpse_errors(
    fuzz_web: WebServer, fuzz_store: HttpStore, data: st.DataObject
) -> None:
    store = fuzz_store
    location, password = data.draw(_locations(fuzz_web.host))
    start = data.draw(st.integers(0, 4 * READ_CHUNK))
    length = data.draw(st.none() | st.integers(0, 2 * READ_CHUNK))
    message = ""
    try:
        source = store.open(location)
        got = _read(source, start, length)
        assert source.size is None or len(got) <= max(0, source.size - start)
        event("read")
    except (ObjectNotFound, StoreUnavailable) as exc:
        event(type(exc).__name__)
        message = str(exc)
    assert password is None or password not in message


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "10.1.2.3", "169.254.169.254"])
def test_non_public_addresses_are_refused_unless_allowed(tmp_path: Path, host: str) -> None:
    store = _store(tmp_path, allow_private_addresses=False)
    with pytest.raises(ObjectNotFound, match="not a public address"):
        store.open(f"http://{host}:9/disk.img")


def test_hosts_named_in_allowed_hosts_are_read_whatever_they_resolve_to(
    tmp_path: Path, www: Path
) -> None:
    (www / "disk.img").write_bytes(b"local bytes")
    with serve_directory(www) as web:
        store = _store(tmp_path, allow_private_addresses=False, allowed_hosts=("127.0.0.1",))
        assert b"".join(store.open(web.url_for("/disk.img")).chunks()) == b"local bytes"
        # A name is trusted only as named: localhost is loopback too, but not listed.
        port = web.url.rsplit(":", 1)[1]
        with pytest.raises(ObjectNotFound):
            store.open(f"http://localhost:{port}/disk.img")
        named = _store(
            tmp_path, allow_private_addresses=False, allowed_hosts=("127.0.0.1", "localhost")
        )
        assert b"".join(named.open(f"http://localhost:{port}/disk.img").chunks()) == b"local bytes"
