"""Running `glimpse` client commands in tests, and small data makers."""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import os
import struct
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, settings

from glimpse.fetch import Fetcher
from glimpse.fetch.service import HttpImageService
from glimpse.fetch.settings import FetchSettings
from glimpse.testing import ServerProcess

#: Seeded property tests of client commands (each example may start a process).
SEEDED = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: Variables a client command reads; tests give them explicitly, never inherit them.
_CLIENT_PREFIXES = ("OS_", "GLIMPSE_")


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any OS_* or GLIMPSE_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CLIENT_PREFIXES)}
    env.update(extra or {})
    return env


def glimpse(
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[bytes]:
    """Run `python -m glimpse ARGS` with a clean environment plus ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "glimpse", *args],
        input=stdin,
        capture_output=True,
        check=False,
        timeout=timeout,
        env=clean_environment(env),
    )


def at(server: ServerProcess, token: str | None = None) -> dict[str, str]:
    """The environment that points client commands at ``server`` (with a token)."""
    env = {"OS_IMAGE_URL": server.url}
    if token is not None:
        env["OS_AUTH_TOKEN"] = token
    return env


def ok(done: subprocess.CompletedProcess[bytes]) -> str:
    """The stdout of a command that must have succeeded."""
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    return done.stdout.decode()


def json_of(done: subprocess.CompletedProcess[bytes]) -> Any:
    return json.loads(ok(done))


def one_error_line(done: subprocess.CompletedProcess[bytes], code: int = 1) -> str:
    """The single stderr line of a command that failed with ``code``."""
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("glimpse: "), lines
    assert "Traceback" not in lines[0]
    return lines[0]


def png(width: int, height: int, rgb: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A solid-colour RGB PNG, written by hand so the tests need no imaging library."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


#: What a canned server answers at a path: status, headers and body.
Answer = tuple[int, dict[str, str], bytes]


@contextlib.contextmanager
def canned(answers: Mapping[str, Answer]) -> Iterator[str]:
    """A real HTTP server on loopback answering each path (query ignored) with its canned
    answer, and 404 elsewhere; yields its URL. For answers no Glimpse server gives."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            status, headers, body = answers.get(self.path.split("?")[0], (404, {}, b""))
            self.send_response(status)
            for name, value in {"Content-Length": str(len(body)), **headers}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@contextlib.contextmanager
def fetchers(tmp_path: Path) -> Iterator[Callable[..., Fetcher]]:
    """Makes in-process fetchers over the Image API at a URL; all closed afterwards."""
    made: list[tuple[Fetcher, httpx.Client]] = []

    def make(url: str, **chosen: Any) -> Fetcher:
        fetch_settings = FetchSettings(state_file=str(tmp_path / "state.json"), **chosen)
        http = httpx.Client(base_url=url, timeout=60)
        made.append((Fetcher(HttpImageService(http), fetch_settings, {}), http))
        return made[-1][0]

    try:
        yield make
    finally:
        for fetching, http in made:
            fetching.close()
            http.close()


def run_in_process(argv: list[str]) -> tuple[int, str]:
    """``glimpse ARGV`` run in this process: its exit code and what it wrote to stderr."""
    from glimpse.cli.main import main

    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, err.getvalue()
