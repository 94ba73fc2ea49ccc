"""A real `glimpse serve` child process on a free loopback port, for tests and benchmarks.

Standard library only, so the benchmarks can use it without the server's dependencies.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def answers(
    url: str,
    path: str = "/versions",
    timeout: float = 2.0,
    *,
    context: ssl.SSLContext | None = None,
) -> bool:
    """Whether ``GET url+path`` answers 200 (``url`` is ``http(s)://host:port``).

    ``context`` is the TLS client context for an ``https`` URL (its CA, a client
    certificate for mutual TLS).
    """
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(host, parts.port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, parts.port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def wait_until_answers(
    url: str,
    alive: Callable[[], bool],
    timeout: float,
    *,
    ready: Callable[[], bool] | None = None,
    interval: float = 0.05,
    context: ssl.SSLContext | None = None,
) -> bool:
    """Poll until ``GET url/versions`` has answered 200 and ``ready()`` (if given) holds.

    Returns True then, False as soon as ``alive()`` is false (the server exited) or
    after ``timeout`` seconds; the caller tells the two apart by asking ``alive()``.
    Once the server has answered it is not asked again; only ``ready()`` is.
    """
    deadline = time.monotonic() + timeout
    answered = False
    while alive():
        answered = answered or answers(url, context=context)
        if answered and (ready is None or ready()):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return False


def stop_group(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM the process group led by ``process`` (started with ``start_new_session``);
    SIGKILL it when the leader has not exited after ``timeout`` seconds."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
    except ProcessLookupError:
        process.wait(timeout=timeout)


@dataclass
class ServerProcess:
    """A `glimpse serve` child process on a free loopback port.

    ``host`` is the address it listens on and clients use (``::1`` for IPv6);
    with ``tls`` (the client's context: the CA, and a client certificate for
    mutual TLS) the URL is ``https`` and readiness is checked through it; the
    server's own TLS settings come in ``env``.
    """

    data_dir: Path
    registry_url: str = ""
    workers: int = 1
    env: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    host: str = "127.0.0.1"
    tls: ssl.SSLContext | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def environment(self) -> dict[str, str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("GLIMPSE_")}
        environ.update(
            GLIMPSE_DATA_DIR=str(self.data_dir),
            GLIMPSE_SERVER__PORT=str(self.port),
            GLIMPSE_SERVER__WORKERS=str(self.workers),
        )
        if self.host != "127.0.0.1":
            environ["GLIMPSE_SERVER__HOST"] = f'"{self.host}"'
        if self.registry_url:
            environ["GLIMPSE_REGISTRY__URL"] = self.registry_url
        environ.update(self.env)
        return environ

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run another `glimpse` command with this server's settings."""
        return subprocess.run(
            [sys.executable, "-m", "glimpse", *args],
            env=self.environment(),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    def start(self, timeout: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child
        self.process = subprocess.Popen(
            [sys.executable, "-m", "glimpse", "serve"],
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        process = self.process
        if wait_until_answers(self.url, lambda: process.poll() is None, timeout, context=self.tls):
            return
        if process.poll() is not None:
            raise RuntimeError(f"glimpse serve exited early:\n{self.log()}")
        self.stop()
        raise RuntimeError(f"glimpse serve did not answer within {timeout}s:\n{self.log()}")

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"server-{self.port}.log"

    def log(self) -> str:
        path = self.log_path
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""

    def pids(self) -> list[int]:
        """The server process and its workers."""
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        found = [self.process.pid]
        with contextlib.suppress(OSError):
            found += [int(p) for p in children.read_text().split()]
        return found

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process, timeout=15)
