"""`glimpse fetch` and `glimpse.fetch` against a real server: trial order, fallback, the state
file across restarts, resumed downloads, corrupted locations, the host cache.

The server keeps images in a file store on this host (so the ``file`` handler can read
them) and shows locations (``show_multiple_locations``); its ``web`` http store lets an
image carry a second location on a local web server. A small TCP proxy in front of the
server counts image-data GETs and can cut the first answer after some bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from client_support import fetchers

from glimpse.fetch import Fetcher, NoHandlerAvailable
from glimpse.fetch.cache import HostCache
from glimpse.fetch.ranged import split
from glimpse.testing import ServerProcess
from glimpse.testing.web_server import WebServer, serve_directory
from helpers import make_image, upload

MiB = 1 << 20
PATCH = "application/openstack-images-v2.1-json-patch"


# -- a proxy that counts and cuts


@dataclass
class Proxy:
    """A TCP proxy to ``upstream``: records each request head; can cut one image-data answer.

    ``cut_after``: the first answer to a ``GET .../file`` is closed after this many bytes
    (headers included); later answers pass whole.
    """

    upstream: int
    cut_after: int | None = None
    heads: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cut_done: bool = False

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def data_gets(self, image_id: str) -> list[str]:
        with self._lock:
            return [h for h in self.heads if h.startswith(f"GET /v2/images/{image_id}/file ")]

    def close(self) -> None:
        self._listener.close()
        for sock in self._open:
            with _quiet():
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            self._open += [client, upstream]
            watch = {"armed": False, "sent": 0}
            threading.Thread(
                target=self._requests, args=(client, upstream, watch), daemon=True
            ).start()
            threading.Thread(
                target=self._answers, args=(upstream, client, watch), daemon=True
            ).start()

    def _requests(
        self, client: socket.socket, upstream: socket.socket, watch: dict[str, Any]
    ) -> None:
        buffer = b""
        with _quiet():
            while data := client.recv(65536):
                buffer += data
                while b"\r\n\r\n" in buffer:
                    head, buffer = buffer.split(b"\r\n\r\n", 1)
                    text = head.decode("latin-1")
                    with self._lock:
                        self.heads.append(text)
                        if (
                            self.cut_after is not None
                            and not self._cut_done
                            and text.startswith("GET ")
                            and text.split(" ")[1].endswith("/file")
                        ):
                            self._cut_done = True
                            watch["armed"] = True
                            watch["sent"] = 0
                upstream.sendall(data)
        with _quiet():
            upstream.shutdown(socket.SHUT_WR)

    def _answers(
        self, upstream: socket.socket, client: socket.socket, watch: dict[str, Any]
    ) -> None:
        with _quiet():
            while data := upstream.recv(65536):
                if watch["armed"]:
                    assert self.cut_after is not None
                    left = self.cut_after - watch["sent"]
                    if len(data) >= left:
                        client.sendall(data[:left])
                        client.shutdown(socket.SHUT_RDWR)
                        client.close()
                        upstream.close()
                        return
                    watch["sent"] += len(data)
                client.sendall(data)
        with _quiet():
            client.shutdown(socket.SHUT_WR)


class _quiet:
    """Ignore socket errors: either side may close first."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        return kind is not None and issubclass(kind, OSError)


# -- the server, images and fetchers


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    with serve_directory(tmp_path_factory.mktemp("fetch-web")) as running:
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, web: WebServer) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("fetch-server")
    srv = ServerProcess(
        data_dir=data,
        env={
            "GLIMPSE_IMAGES__SHOW_MULTIPLE_LOCATIONS": "true",
            "GLIMPSE_STORES__DEFAULT": '"local"',
            "GLIMPSE_STORES__LOCAL__DRIVER": '"file"',
            "GLIMPSE_STORES__LOCAL__DIRECTORY": json.dumps(str(data / "images")),
            "GLIMPSE_STORES__WEB__DRIVER": '"http"',
            "GLIMPSE_STORES__WEB__RETRIES": "0",
            "GLIMPSE_STORES__WEB__ALLOWED_HOSTS": '["127.0.0.1"]',
        },
    )
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


@pytest.fixture
def proxy(server: ServerProcess) -> Iterator[Proxy]:
    running = Proxy(server.port)
    yield running
    running.close()


@dataclass(frozen=True)
class Uploaded:
    id: str
    data: bytes
    json: dict[str, Any]

    @property
    def file(self) -> Path:
        url = next(loc["url"] for loc in self.json["locations"] if loc["url"].startswith("file:"))
        return Path(url.removeprefix("file://"))


def uploaded(api: httpx.Client, size: int = 3 * MiB + 17) -> Uploaded:
    data = os.urandom(size)
    image = make_image(api)
    assert upload(api, image["id"], data).status_code == 204
    shown = api.get(f"/v2/images/{image['id']}").json()
    return Uploaded(image["id"], data, shown)


def add_web_location(api: httpx.Client, web: WebServer, image: Uploaded, data: bytes) -> str:
    """Serve ``data`` on the web server and add it as the image's second location."""
    name = f"{image.id}.raw"
    (web.directory / name).write_bytes(data)
    url = web.url_for(name)
    answer = api.patch(
        f"/v2/images/{image.id}",
        content=json.dumps(
            [{"op": "add", "path": "/locations/-", "value": {"url": url, "metadata": {}}}]
        ),
        headers={"Content-Type": PATCH},
    )
    assert answer.status_code == 200, answer.text
    return url


@pytest.fixture
def fetcher(tmp_path: Path) -> Iterator[Callable[..., Fetcher]]:
    """Makes in-process fetchers over the Image API at a URL; all closed afterwards."""
    with fetchers(tmp_path) as make:
        yield make


def run_fetch(
    *args: str, state: Path, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`glimpse fetch ARGS` in a child process with only what it needs in its environment."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(state.parent),
        "XDG_CONFIG_HOME": str(state.parent / "config"),
        "GLIMPSE_FETCH_STATE_FILE": str(state),
        **(extra or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "glimpse", "fetch", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )


def ranges(heads: list[str]) -> list[tuple[int, int | None]]:
    """The byte ranges the request heads asked for."""
    found: list[tuple[int, int | None]] = []
    for head in heads:
        for line in head.lower().split("\r\n"):
            if line.startswith("range: bytes="):
                first, last = line.removeprefix("range: bytes=").split("-")
                found.append((int(first), int(last) if last else None))
    return found


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".fetching"))


# -- handlers and their order


def test_the_file_handler_copies_the_store_file(
    api: httpx.Client,
    server: ServerProcess,
    proxy: Proxy,
    tmp_path: Path,
    fetcher: Callable[..., Fetcher],
) -> None:
    image = uploaded(api)
    done = fetcher(proxy.url).fetch(image.id, tmp_path / "disk.raw")
    assert (done.handler, done.location) == ("file", image.json["locations"][0]["url"])
    assert (tmp_path / "disk.raw").read_bytes() == image.data
    assert proxy.data_gets(image.id) == []  # nothing went through the API


def test_the_api_handler_reads_through_the_image_api(
    api: httpx.Client, proxy: Proxy, tmp_path: Path, fetcher: Callable[..., Fetcher]
) -> None:
    image = uploaded(api)
    done = fetcher(proxy.url, handlers=("api",)).fetch(image.id, tmp_path / "disk.raw")
    assert (done.handler, done.location) == ("api", None)
    assert (tmp_path / "disk.raw").read_bytes() == image.data
    assert len(proxy.data_gets(image.id)) == 1


def test_parallel_ranged_reads_assemble_a_large_image(
    api: httpx.Client, proxy: Proxy, tmp_path: Path, fetcher: Callable[..., Fetcher]
) -> None:
    image = uploaded(api, 40 * MiB + 5)
    chosen = fetcher(proxy.url, handlers=("api",), parallel=4, parallel_min_size=MiB)
    chosen.fetch(image.id, tmp_path / "disk.raw")
    assert md5((tmp_path / "disk.raw").read_bytes()) == md5(image.data)
    parts = split(len(image.data), 4)
    assert len(parts) == 4
    assert sorted(ranges(proxy.data_gets(image.id))) == sorted((s, e - 1) for s, e in parts)


def test_the_http_handler_reads_a_web_location(
    api: httpx.Client, web: WebServer, proxy: Proxy, tmp_path: Path, fetcher: Callable[..., Fetcher]
) -> None:
    image = uploaded(api)
    url = add_web_location(api, web, image, image.data)
    before = len(web.seen("GET"))
    done = fetcher(proxy.url, handlers=("http", "api")).fetch(image.id, tmp_path / "disk.raw")
    assert (done.handler, done.location) == ("http", url)
    assert (tmp_path / "disk.raw").read_bytes() == image.data
    assert len(web.seen("GET")) == before + 1
    assert proxy.data_gets(image.id) == []
    # No Glimpse credential went to the web server.
    assert all("x-auth-token" not in {k.lower() for k in r.headers} for r in web.seen("GET"))


def test_a_deleted_store_file_falls_back_to_the_next_location(
    api: httpx.Client, web: WebServer, tmp_path: Path, fetcher: Callable[..., Fetcher]
) -> None:
    image = uploaded(api)
    url = add_web_location(api, web, image, image.data)
    image.file.unlink()
    done = fetcher(str(api.base_url), handlers=("file", "http", "api")).fetch(
        image.id, tmp_path / "disk.raw"
    )
    assert (done.handler, done.location) == ("http", url)
    assert (tmp_path / "disk.raw").read_bytes() == image.data


def test_locations_are_tried_in_order_and_the_api_last(
    api: httpx.Client,
    web: WebServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    fetcher: Callable[..., Fetcher],
) -> None:
    image = uploaded(api)
    add_web_location(api, web, image, image.data)
    image.file.unlink()
    (web.directory / f"{image.id}.raw").unlink()
    caplog.set_level("WARNING", logger="glimpse.fetch")
    with pytest.raises(NoHandlerAvailable) as raised:
        fetcher(str(api.base_url), handlers=("api", "http", "file")).fetch(
            image.id, tmp_path / "disk.raw"
        )
    tried = [(a.handler, a.location is not None) for a in raised.value.attempts]
    assert tried == [("file", True), ("http", True), ("api", False)]
    message = raised.value.message
    assert "file (file://" in message
    assert "no such file" in message
    assert "http (http://127.0.0.1" in message
    assert "HTTP 404" in message
    assert "api: the Image API answered HTTP" in message
    assert not (tmp_path / "disk.raw").exists()
    assert leftovers(tmp_path) == []
    assert [
        r.getMessage().split(" failed")[0] for r in caplog.records if "failed:" in r.getMessage()
    ] == [
        f"fetch handler file ({image.json['locations'][0]['url']})",
        f"fetch handler http ({web.url_for(image.id + '.raw')})",
        "fetch handler api",
    ]


def test_no_handler_available_exits_1_with_one_line(api: httpx.Client, tmp_path: Path) -> None:
    image = uploaded(api)
    image.file.unlink()
    done = run_fetch(
        image.id,
        str(tmp_path / "disk.raw"),
        "--endpoint",
        str(api.base_url),
        "--handlers",
        "file,api",
        state=tmp_path / "state.json",
    )
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"glimpse: no handler could fetch image {image.id}: file (file://")
    assert "no such file; api: the Image API answered HTTP" in last
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "disk.raw").exists()
    assert leftovers(tmp_path) == []


def test_a_corrupted_location_leaves_nothing_and_the_next_handler_is_used(
    api: httpx.Client, web: WebServer, tmp_path: Path, fetcher: Callable[..., Fetcher]
) -> None:
    image = uploaded(api)
    bad = bytearray(image.data)
    bad[len(bad) // 2] ^= 0xFF
    add_web_location(api, web, image, bytes(bad))
    with pytest.raises(NoHandlerAvailable) as raised:
        fetcher(str(api.base_url), handlers=("http",)).fetch(image.id, tmp_path / "disk.raw")
    assert "checksum (md5) mismatch" in raised.value.message
    assert not (tmp_path / "disk.raw").exists()
    assert leftovers(tmp_path) == []
    done = fetcher(str(api.base_url), handlers=("http", "api")).fetch(
        image.id, tmp_path / "disk.raw"
    )
    assert done.handler == "api"
    assert (tmp_path / "disk.raw").read_bytes() == image.data


def test_a_mismatch_keeps_an_existing_target_untouched(
    api: httpx.Client, web: WebServer, tmp_path: Path, fetcher: Callable[..., Fetcher]
) -> None:
    image = uploaded(api)
    bad = bytes(reversed(image.data))
    add_web_location(api, web, image, bad)
    (tmp_path / "disk.raw").write_bytes(b"what was there")
    with pytest.raises(NoHandlerAvailable):
        fetcher(str(api.base_url), handlers=("http",)).fetch(image.id, tmp_path / "disk.raw")
    assert (tmp_path / "disk.raw").read_bytes() == b"what was there"


def test_a_web_server_that_ignores_ranges_is_read_in_one_stream(
    api: httpx.Client, web: WebServer, tmp_path: Path, fetcher: Callable[..., Fetcher]
) -> None:
    image = uploaded(api, 20 * MiB)
    add_web_location(api, web, image, image.data)
    web.honour_range = False
    try:
        chosen = fetcher(str(api.base_url), handlers=("http",), parallel=4, parallel_min_size=MiB)
        done = chosen.fetch(image.id, tmp_path / "disk.raw")
    finally:
        web.honour_range = True
    assert done.handler == "http"
    assert md5((tmp_path / "disk.raw").read_bytes()) == md5(image.data)


# -- resuming


@pytest.mark.parametrize("parallel", [1, 4])
def test_an_interrupted_download_is_resumed_with_range(
    api: httpx.Client, proxy: Proxy, tmp_path: Path, parallel: int, fetcher: Callable[..., Fetcher]
) -> None:
    image = uploaded(api, 24 * MiB + 3)
    proxy.cut_after = 5 * MiB + 1234
    chosen = fetcher(proxy.url, handlers=("api",), parallel=parallel, parallel_min_size=MiB)
    done = chosen.fetch(image.id, tmp_path / "disk.raw")
    assert done.handler == "api"
    assert md5((tmp_path / "disk.raw").read_bytes()) == md5(image.data)
    parts = split(len(image.data), parallel) if parallel > 1 else [(0, len(image.data))]
    gets = proxy.data_gets(image.id)
    assert len(gets) == len(parts) + 1  # one answer was cut, and read again from where it stopped
    starts = {start for start, _ in parts}
    resumed = [r for r in ranges(gets) if r[0] not in starts]
    assert len(resumed) == 1
    # The read went on from where the cut stopped it (headers came first), no earlier.
    assert 5 * MiB < resumed[0][0] < 5 * MiB + 1234


# -- the state file


def test_the_recorded_handler_finds_the_target_after_a_restart(
    api: httpx.Client, proxy: Proxy, tmp_path: Path
) -> None:
    image = uploaded(api)
    state = tmp_path / "state.json"
    target = tmp_path / "disk.raw"
    first = run_fetch(
        image.id, str(target), "--endpoint", proxy.url, "--handlers", "api", state=state
    )
    assert first.returncode == 0, first.stderr
    assert "fetched by api" in first.stdout
    recorded = json.loads(state.read_text())["targets"][str(target)]
    assert (recorded["handler"], recorded["image_id"]) == ("api", image.id)
    again = run_fetch(
        image.id, str(target), "--endpoint", proxy.url, "--handlers", "file,api", state=state
    )
    assert again.returncode == 0, again.stderr
    assert "already there (recorded for api)" in again.stdout
    assert len(proxy.data_gets(image.id)) == 1


def test_a_changed_target_is_fetched_again_by_its_handler(
    api: httpx.Client, proxy: Proxy, tmp_path: Path, fetcher: Callable[..., Fetcher]
) -> None:
    image = uploaded(api)
    target = tmp_path / "disk.raw"
    fetcher(proxy.url, handlers=("api",)).fetch(image.id, target)
    with open(target, "r+b") as f:
        f.seek(100)
        f.write(b"\0" * 8)
    done = fetcher(proxy.url, handlers=("file", "api")).fetch(image.id, target)
    assert not done.reused
    assert done.handler == "api"
    assert target.read_bytes() == image.data
    assert len(proxy.data_gets(image.id)) == 2


def test_a_touched_but_intact_target_is_verified_by_reading_it(
    api: httpx.Client, proxy: Proxy, tmp_path: Path, fetcher: Callable[..., Fetcher]
) -> None:
    image = uploaded(api)
    target = tmp_path / "disk.raw"
    fetcher(proxy.url, handlers=("api",)).fetch(image.id, target)
    os.utime(target, (1, 1))
    done = fetcher(proxy.url, handlers=("api",)).fetch(image.id, target)
    assert done.reused
    assert len(proxy.data_gets(image.id)) == 1


def test_a_corrupt_state_file_is_set_aside_with_a_warning(
    api: httpx.Client, tmp_path: Path
) -> None:
    image = uploaded(api)
    state = tmp_path / "state.json"
    state.write_text('{"version": 1, "targets": {"/x": ')
    done = run_fetch(
        image.id, str(tmp_path / "disk.raw"), "--endpoint", str(api.base_url), state=state
    )
    assert done.returncode == 0, done.stderr
    assert "is not valid" in done.stderr
    assert "starts afresh" in done.stderr
    assert (tmp_path / "state.json.corrupt").exists()
    assert str(tmp_path / "disk.raw") in json.loads(state.read_text())["targets"]


# -- handler names and third-party handlers


def test_unknown_and_repeated_handler_names_are_warned_about_and_skipped(
    api: httpx.Client, tmp_path: Path
) -> None:
    image = uploaded(api)
    done = run_fetch(
        image.id,
        str(tmp_path / "disk.raw"),
        "--endpoint",
        str(api.base_url),
        state=tmp_path / "state.json",
        extra={"GLIMPSE_FETCH_HANDLERS": "nfs,api,file,api,nfs,ceph"},
    )
    assert done.returncode == 0, done.stderr
    assert "fetch handlers not installed, skipped: 'nfs', 'ceph'" in done.stderr
    assert "named more than once, later ones skipped: 'api'" in done.stderr
    assert "fetched by file" in done.stdout


PROBE = '''
import json, os
from dataclasses import dataclass
from glimpse.fetch.errors import FetchError

class ProbeHandler:
    """Reads through the API like `api`, and writes what prepare was given to $PROBE_LOG."""
    schemes = ()

    @dataclass(frozen=True)
    class Options:
        refuse: bool = False

    def __init__(self, options, context):
        self.name = context.name
        self.options = options
        self.log = context.environ["PROBE_LOG"]

    def prepare(self, owned):
        with open(self.log, "a") as f:
            f.write(json.dumps(sorted(owned)) + "\\n")

    def fetch(self, job, location, sink):
        if self.options.refuse:
            raise FetchError("the probe refuses")
        with job.service.http.stream("GET", f"/v2/images/{job.image_id}/file") as answer:
            for chunk in answer.iter_bytes():
                sink.append(chunk)
'''


def test_a_third_party_handler_is_prepared_with_its_targets_after_a_restart(
    api: httpx.Client, tmp_path: Path
) -> None:
    image = uploaded(api)
    site = tmp_path / "site"
    (site / "fetch_probe-1.0.dist-info").mkdir(parents=True)
    (site / "fetch_probe.py").write_text(PROBE)
    (site / "fetch_probe-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fetch-probe\nVersion: 1.0\n"
    )
    (site / "fetch_probe-1.0.dist-info" / "entry_points.txt").write_text(
        "[glimpse.fetchers]\nprobe = fetch_probe:ProbeHandler\n"
    )
    log = tmp_path / "prepared.log"
    extra = {"PYTHONPATH": str(site), "PROBE_LOG": str(log)}
    target = tmp_path / "disk.raw"
    args = (image.id, str(target), "--endpoint", str(api.base_url), "--handlers", "probe,api")
    first = run_fetch(*args, state=tmp_path / "state.json", extra=extra)
    assert first.returncode == 0, first.stderr
    assert "fetched by probe" in first.stdout
    target.unlink()
    second = run_fetch(*args, state=tmp_path / "state.json", extra=extra)
    assert second.returncode == 0, second.stderr
    assert log.read_text().splitlines() == ["[]", json.dumps([str(target)])]
    config = tmp_path / "fetch.toml"
    config.write_text("[fetch]\nhandlers = ['probe']\n[fetch.probe]\nrefuse = true\n")
    refused = run_fetch(
        *args[:4], "--fetch-config", str(config), state=tmp_path / "state2.json", extra=extra
    )
    assert refused.returncode == 1
    assert (
        refused.stderr.strip().splitlines()[-1]
        == f"glimpse: no handler could fetch image {image.id}: probe: the probe refuses"
    )
    config.write_text("[fetch]\nhandlers = ['probe']\n[fetch.probe]\nrefuse = 'yes'\n")
    wrong = run_fetch(
        *args[:4], "--fetch-config", str(config), state=tmp_path / "state2.json", extra=extra
    )
    assert wrong.returncode == 2
    assert (
        wrong.stderr.strip()
        == "glimpse: configuration error: setting fetch.probe.refuse must be a bool, not 'yes'"
    )


# -- the host cache


def test_ten_concurrent_fetches_into_one_cache_download_once(
    api: httpx.Client, proxy: Proxy, tmp_path: Path
) -> None:
    image = uploaded(api, 8 * MiB + 1)
    cache = tmp_path / "cache"
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "glimpse",
                "fetch",
                image.id,
                str(tmp_path / f"disk-{n}.raw"),
                "--endpoint",
                proxy.url,
                "--handlers",
                "api",
                "--cache-dir",
                str(cache),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={
                "PATH": os.environ.get("PATH", ""),
                "HOME": str(tmp_path),
                "XDG_CONFIG_HOME": str(tmp_path / "config"),
                "GLIMPSE_FETCH_STATE_FILE": str(tmp_path / "state.json"),
            },
        )
        for n in range(10)
    ]
    outputs = [child.communicate(timeout=180) for child in children]
    assert [c.returncode for c in children] == [0] * 10, outputs
    assert len(proxy.data_gets(image.id)) == 1
    for n in range(10):
        assert md5((tmp_path / f"disk-{n}.raw").read_bytes()) == md5(image.data)
    assert sum("from the host cache" in out for out, _ in outputs) == 10
    state = json.loads((tmp_path / "state.json").read_text())["targets"]
    assert len(state) == 10
    assert all(v["cached"] and v["handler"] == "api" for v in state.values())
    # Each fetch removed the image's lock file as it let go: the cache keeps no lock per image.
    assert list((cache / "locks").iterdir()) == []
    entry = f"{image.id}-sha512-{hashlib.sha512(image.data).hexdigest()}"
    assert sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if not p.is_dir()) == [
        f"images/{entry}",
        "index.json",
        "index.lock",
    ]


def test_an_entry_lock_excludes_while_its_file_comes_and_goes(tmp_path: Path) -> None:
    """Threads take one entry's lock in turn (flock: each open file is its own lock). Every
    holder unlinks the lock file as it lets go, so waiters often hold an unlinked inode and
    must take the new file: still, one holder at a time, and no lock file left."""
    cache = HostCache(tmp_path / "cache", 1 << 30)
    inside: list[int] = []
    overlaps: list[int] = []
    turns = {"done": 0}
    guard = threading.Lock()

    def take(worker: int) -> None:
        for _ in range(150):
            with cache.hold("entry"):
                with guard:
                    inside.append(worker)
                    if len(inside) > 1:
                        overlaps.append(len(inside))
                time.sleep(0)  # let another thread run while this one holds the lock
                with guard:
                    inside.remove(worker)
                    turns["done"] += 1

    threads = [threading.Thread(target=take, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
    assert turns["done"] == 6 * 150
    assert list((tmp_path / "cache" / "locks").iterdir()) == []
    # A lock nobody holds is free for the taking, and leaves nothing behind either.
    with cache._try_hold("entry") as held:
        assert held
        with cache._try_hold("entry") as again:
            assert not again
    assert list((tmp_path / "cache" / "locks").iterdir()) == []


def test_the_cache_evicts_least_recently_used_images_within_its_bound(
    api: httpx.Client, proxy: Proxy, tmp_path: Path, fetcher: Callable[..., Fetcher]
) -> None:
    images = [uploaded(api, 2 * MiB) for _ in range(4)]
    cache = tmp_path / "cache"
    bound = 5 * MiB  # two images fit, three do not
    chosen = fetcher(proxy.url, handlers=("api",), cache_dir=str(cache), cache_size=str(bound))

    def cached() -> set[str]:
        return {
            p.name.split("-sha512-")[0]
            for p in (cache / "images").iterdir()
            if not p.name.startswith(".")
        }

    a, b, c, d = images
    chosen.fetch(a.id, tmp_path / "a.raw")
    chosen.fetch(b.id, tmp_path / "b.raw")
    assert cached() == {a.id, b.id}
    chosen.fetch(a.id, tmp_path / "a2.raw")  # a hit: a is now the most recently used
    chosen.fetch(c.id, tmp_path / "c.raw")
    assert cached() == {a.id, c.id}
    chosen.fetch(d.id, tmp_path / "d.raw")
    assert cached() == {c.id, d.id}
    assert sum(p.stat().st_size for p in (cache / "images").iterdir()) <= bound
    assert [len(proxy.data_gets(i.id)) for i in images] == [1, 1, 1, 1]
    for name, image in (("a", a), ("a2", a), ("b", b), ("c", c), ("d", d)):
        assert (tmp_path / f"{name}.raw").read_bytes() == image.data
    # An image larger than the whole cache is fetched straight to its target.
    big = uploaded(api, 6 * MiB)
    done = chosen.fetch(big.id, tmp_path / "big.raw")
    assert not done.cached
    assert (tmp_path / "big.raw").read_bytes() == big.data
    assert cached() == {c.id, d.id}


# -- progress


def _stderr_on_a_terminal(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``command`` with stderr on a pseudo-terminal; its exit status and what it drew."""
    import pty

    leader, follower = pty.openpty()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=follower, env=env)
    os.close(follower)
    drawn = b""
    with _quiet():
        while chunk := os.read(leader, 65536):
            drawn += chunk
    os.close(leader)
    child.communicate(timeout=120)
    return child.returncode, drawn.decode(errors="replace")


def test_progress_is_drawn_on_a_terminal_only(api: httpx.Client, tmp_path: Path) -> None:
    image = uploaded(api, 4 * MiB)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "GLIMPSE_FETCH_STATE_FILE": str(tmp_path / "state.json"),
        "TERM": "xterm",
        "COLUMNS": "120",
    }
    command = [sys.executable, "-m", "glimpse", "fetch", "--endpoint", str(api.base_url)]
    command += ["--handlers", "api", image.id]
    code, drawn = _stderr_on_a_terminal([*command, str(tmp_path / "a.raw")], env)
    assert code == 0, drawn
    assert f"fetch {image.id}" in drawn
    assert "4.2/4.2 MB" in drawn
    code, drawn = _stderr_on_a_terminal([*command, str(tmp_path / "b.raw"), "--no-progress"], env)
    assert code == 0, drawn
    assert drawn == ""
    piped = run_fetch(image.id, str(tmp_path / "c.raw"), "--endpoint", str(api.base_url),
                      state=tmp_path / "state.json")  # fmt: skip
    assert piped.returncode == 0
    assert piped.stderr == ""
