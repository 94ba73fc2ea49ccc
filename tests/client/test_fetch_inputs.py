"""Random input to the fetcher: handler lists, state files, settings, sizes, image records and
location URLs end in a clean error or a warning, never a traceback; and ``glimpse.fetch``
imports none of the server's dependencies.

Seeded (``derandomize``): the same examples every run.
"""

from __future__ import annotations

import hashlib
import json
import os
import string
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glimpse.errors import ConfigError, GlimpseError
from glimpse.fetch import (
    DataMismatch,
    Expected,
    Fetcher,
    FetchError,
    FetchSettings,
    HttpImageService,
)
from glimpse.fetch import settings as fetch_settings
from glimpse.fetch.base import Handler, HandlerContext, Job, Location
from glimpse.fetch.fetcher import _plan
from glimpse.fetch.file import FileHandler
from glimpse.fetch.http import HttpHandler
from glimpse.fetch.loading import choose, installed
from glimpse.fetch.s3 import S3Handler
from glimpse.fetch.service import locations_of
from glimpse.fetch.sink import Sink
from glimpse.fetch.swift import SwiftHandler
from glimpse.testing import ServerProcess, free_port
from helpers import make_image, upload

SEEDED = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SERVER_MODULES = ("starlette", "sqlalchemy", "granian", "pyvips", "alembic", "psycopg")
names = st.text(alphabet=string.ascii_letters + string.digits + "-_,. ", max_size=40)
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=6),
)


@pytest.fixture(scope="module")
def image(sqlite_server: ServerProcess) -> dict[str, Any]:
    with httpx.Client(base_url=sqlite_server.url, timeout=60) as client:
        created = make_image(client)
        assert upload(client, created["id"], os.urandom(65536)).status_code == 204
        shown: dict[str, Any] = client.get(f"/v2/images/{created['id']}").json()
        return shown


@pytest.fixture(scope="module")
def http(sqlite_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sqlite_server.url, timeout=60) as client:
        yield client


# -- handler lists and settings


@SEEDED
@given(text=names)
def test_any_handler_list_is_parsed_and_chosen_from(text: str) -> None:
    parsed = fetch_settings.parse_handlers(text)
    chosen = choose(parsed, installed())
    assert set(chosen) <= set(installed())
    assert len(chosen) == len(set(chosen))
    assert chosen == [n for i, n in enumerate(parsed) if n in installed() and n not in parsed[:i]]


@settings(derandomize=True, database=None, deadline=None, max_examples=6)
@given(text=st.text(alphabet=string.ascii_letters + ",-= ", min_size=1, max_size=20))
def test_the_cli_takes_any_handler_list_without_a_traceback(
    text: str,
    sqlite_server: ServerProcess,
    image: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    work = tmp_path_factory.mktemp("handlers")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "glimpse",
            "fetch",
            image["id"],
            str(work / "disk.raw"),
            "--endpoint",
            sqlite_server.url,
            f"--handlers={text}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(work),
            "XDG_CONFIG_HOME": str(work),
            "GLIMPSE_FETCH_STATE_FILE": str(work / "state.json"),
        },
    )
    assert done.returncode in (0, 1, 2), done.stderr
    assert "Traceback" not in done.stderr
    if done.returncode == 0:
        assert (work / "disk.raw").stat().st_size == 65536
    else:
        assert not (work / "disk.raw").exists()


@SEEDED
@given(text=st.one_of(st.text(max_size=30), st.integers(min_value=-5, max_value=1 << 50)))
def test_any_size_is_parsed_or_refused_cleanly(text: str | int) -> None:
    try:
        size = fetch_settings.parse_size(text, "fetch.cache_size")
    except ConfigError as exc:
        message = exc.message
    else:
        assert size >= 0
        return
    assert "fetch.cache_size" in message


def test_sizes_read_as_documented() -> None:
    parse = fetch_settings.parse_size
    assert [parse(t, "k") for t in ("1024", "1k", "1KiB", "1.5G", "2GB", "10 MiB", "3b")] == [
        1024,
        1024,
        1024,
        3 << 29,
        2_000_000_000,
        10 << 20,
        3,
    ]


@SEEDED
@given(
    document=st.dictionaries(
        # Not the paths: a random one would make directories wherever it points.
        st.sampled_from(["handlers", "cache_size", "parallel", "retries", "nope", "file", "s3"]),
        st.one_of(junk, st.dictionaries(st.sampled_from(["mounts", "x"]), junk, max_size=2)),
        max_size=4,
    )
)
def test_any_settings_table_loads_or_names_the_bad_key(
    document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("settings") / "fetch.toml"
    lines = ["[fetch]"]
    tables = []
    for key, value in document.items():
        if isinstance(value, dict):
            tables.append(
                f"[fetch.{key}]\n"
                + "".join(f"{k} = {_toml(v)}\n" for k, v in value.items() if v is not None)
            )
        elif value is not None:
            lines.append(f"{key} = {_toml(value)}")
    path.write_text("\n".join(lines) + "\n" + "\n".join(tables))
    try:
        loaded = fetch_settings.load(str(path), {})
        state = {"XDG_STATE_HOME": str(path.parent)}
        with httpx.Client() as http, Fetcher(HttpImageService(http), loaded, state) as fetcher:
            assert [h.name for h in fetcher.handlers] == choose(loaded.handlers, installed())
    except ConfigError as exc:
        message = exc.message
    else:
        return
    assert message.startswith(
        ("setting fetch", "unknown setting fetch", "settings fetch", "fetch settings")
    )


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


# -- state files


@SEEDED
@given(
    content=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        st.recursive(
            junk,
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=8), inner, max_size=3)
            ),
            max_leaves=10,
        ).map(
            lambda doc: json.dumps(
                {"version": 1, "targets": {"/t": doc, "/u": {"handler": "api", "fingerprint": doc}}}
            ).encode()
        ),
    )
)
def test_any_state_file_gives_a_warning_and_a_fresh_state(
    content: bytes,
    image: dict[str, Any],
    http: httpx.Client,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    work = tmp_path_factory.mktemp("state")
    (work / "state.json").write_bytes(content)
    chosen = FetchSettings(handlers=("file", "api"), state_file=str(work / "state.json"))
    with Fetcher(HttpImageService(http), chosen, {}) as fetcher:
        done = fetcher.fetch(image["id"], work / "disk.raw")
    assert done.handler == "file"
    targets = json.loads((work / "state.json").read_text())["targets"]
    assert list(targets) == [str(work / "disk.raw")]


# -- image records and locations


@SEEDED
@given(
    record=st.fixed_dictionaries(
        {}, optional={k: junk for k in ("size", "checksum", "os_hash_algo", "os_hash_value")}
    )
)
def test_any_image_record_gives_expectations_or_a_fetch_error(record: dict[str, Any]) -> None:
    try:
        expected = Expected.of(record)
    except FetchError:
        return
    assert expected.size is None or expected.size >= 0
    assert (expected.os_hash_value is None) == (expected.os_hash_algo is None)


@SEEDED
@given(
    locations=st.one_of(
        junk,
        st.lists(
            st.one_of(junk, st.fixed_dictionaries({"url": junk, "metadata": junk})), max_size=4
        ),
    ),
    direct=junk,
)
def test_any_locations_field_is_read_without_error(
    locations: Any, direct: Any, http: httpx.Client
) -> None:
    found = locations_of(
        HttpImageService(http), {"id": "x", "locations": locations, "direct_url": direct}
    )
    assert all(isinstance(loc.url, str) and loc.url for loc in found)


schemes = st.sampled_from(
    [
        "file",
        "http",
        "https",
        "s3",
        "s3+http",
        "s3+https",
        "swift",
        "swift+https",
        "ftp",
        "",
        "FILE",
    ]
)
url_text = st.text(alphabet=string.printable + "é%@", max_size=40)
urls = st.one_of(url_text, st.builds(lambda s, rest: f"{s}://{rest}", schemes, url_text))


@SEEDED
@given(url=urls)
def test_any_location_url_is_refused_with_a_fetch_error(
    url: str, image: dict[str, Any], http: httpx.Client, tmp_path_factory: pytest.TempPathFactory
) -> None:
    work = tmp_path_factory.mktemp("location")
    closed = f"http://127.0.0.1:{free_port()}"
    handlers: list[Handler] = [
        FileHandler(FileHandler.Options(mounts=(f"/srv={work}",)), HandlerContext("file", {})),
        HttpHandler(
            HttpHandler.Options(connect_timeout=2, read_timeout=2), HandlerContext("http", {})
        ),
        S3Handler(
            S3Handler.Options(
                endpoint_url=closed, access_key="a", secret_key="b", connect_timeout=2, retries=0
            ),
            HandlerContext("s3", {}),
        ),
        SwiftHandler(
            SwiftHandler.Options(
                auth_url=f"{closed}/auth/v1.0", user="a:b", key="c", connect_timeout=2
            ),
            HandlerContext("swift", {}),
        ),
    ]
    location = Location(url)
    assert isinstance(location.scheme, str)
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        netloc = ""
    if "@" in netloc:
        assert "***@" in location.shown()
    assert all(
        h in {p[0] for p in _plan(handlers, [location], None)}
        for h in handlers
        if location.scheme in h.schemes
    )
    job = Job(image["id"], image, Expected.of(image), work / "disk.raw", HttpImageService(http))
    for handler in handlers:
        if location.scheme not in handler.schemes:
            continue
        # Never a random host: web locations all go to a closed port here.
        place = Location(f"{closed}/{quote(url)}") if handler.name == "http" else location
        with Sink(work / "disk.raw", job.expected) as sink, pytest.raises(GlimpseError):
            handler.fetch(job, place, sink)
    for handler in handlers:
        close = getattr(handler, "close", None)
        if close is not None:
            close()
    assert sorted(p.name for p in work.iterdir()) == []


# -- what importing costs


def test_the_fetcher_and_its_command_import_no_server_dependency(
    image: dict[str, Any], sqlite_server: ServerProcess, tmp_path: Path
) -> None:
    """A fetch by the file or api handler loads no server module, nor boto3 or swiftclient."""
    arguments = [
        *("fetch", image["id"], str(tmp_path / "disk.raw"), "--endpoint", sqlite_server.url),
        *("--handlers", "s3,swift,file,api", "--state-file", str(tmp_path / "state.json")),
    ]
    unwanted = {*SERVER_MODULES, "boto3", "botocore", "swiftclient"}
    script = f"""
import sys
from glimpse.cli.main import main
code = main({arguments!r})
print(code, sorted({{m.split(".")[0] for m in sys.modules}} & {unwanted!r}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "0 []"


# -- verification


@pytest.mark.parametrize("md5_given", [None, "right", "wrong"])
@pytest.mark.parametrize("multihash_given", [None, "right", "wrong"])
def test_a_sink_checks_the_hashes_the_image_has(
    md5_given: str | None, multihash_given: str | None, tmp_path: Path
) -> None:
    data = os.urandom(300_000)
    digests = {
        "right": (hashlib.md5(data).hexdigest(), hashlib.sha512(data).hexdigest()),
        "wrong": (hashlib.md5(b"x").hexdigest(), hashlib.sha512(b"x").hexdigest()),
    }
    checksum = digests[md5_given][0] if md5_given else None
    multihash = digests[multihash_given][1] if multihash_given else None
    expected = Expected(len(data), checksum, "sha512" if multihash else None, multihash)
    target = tmp_path / "disk.raw"
    with Sink(target, expected) as sink:
        for start in range(0, len(data), 65536):
            sink.append(data[start : start + 65536])
        if "wrong" in (md5_given, multihash_given):
            with pytest.raises(DataMismatch, match="mismatch"):
                sink.commit()
        else:
            sink.commit()
    if "wrong" in (md5_given, multihash_given):
        assert list(tmp_path.iterdir()) == []
    else:
        assert target.read_bytes() == data
        assert list(tmp_path.iterdir()) == [target]


def test_a_sink_refuses_more_or_fewer_bytes_than_the_image_has(tmp_path: Path) -> None:
    data = os.urandom(1000)
    expected = Expected(len(data), hashlib.md5(data).hexdigest(), None, None)
    with Sink(tmp_path / "disk.raw", expected) as sink:
        sink.append(data)
        with pytest.raises(DataMismatch, match="more than the image's 1000 bytes"):
            sink.append(b"!")
    with Sink(tmp_path / "disk.raw", expected) as sink:
        sink.append(data[:999])
        with pytest.raises(DataMismatch, match="got 999 bytes, the image has 1000"):
            sink.commit()
    assert list(tmp_path.iterdir()) == []
