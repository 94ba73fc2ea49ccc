"""A real `glimpse serve` child process on a free loopback port, for tests and benchmarks.

Standard library only, so the benchmarks can use it without the server's dependencies.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
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


def answers(url: str, path: str = "/versions", timeout: float = 2.0) -> bool:
    """Whether ``GET url+path`` answers 200 (``url`` is ``http://host:port``)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
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
) -> bool:
    """Poll until ``GET url/versions`` has answered 200 and ``ready()`` (if given) holds.

    Returns True then, False as soon as ``alive()`` is false (the server exited) or
    after ``timeout`` seconds; the caller tells the two apart by asking ``alive()``.
    Once the server has answered it is not asked again; only ``ready()`` is.
    """
    deadline = time.monotonic() + timeout
    answered = False
    while alive():
        answered = answered or answers(url)
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
    """A `glimpse serve` child process on a free loopback port."""

    data_dir: Path
    registry_url: str = ""
    workers: int = 1
    env: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("GLIMPSE_")}
        environ.update(
            GLIMPSE_DATA_DIR=str(self.data_dir),
            GLIMPSE_SERVER__PORT=str(self.port),
            GLIMPSE_SERVER__WORKERS=str(self.workers),
        )
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
        log = open(self.data_dir / f"server-{self.port}.log", "ab")  # noqa: SIM115 - kept open for the child
        self.process = subprocess.Popen(
            [sys.executable, "-m", "glimpse", "serve"],
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        process = self.process
        if wait_until_answers(self.url, lambda: process.poll() is None, timeout):
            return
        if process.poll() is not None:
            raise RuntimeError(f"glimpse serve exited early:\n{self.log()}")
        self.stop()
        raise RuntimeError(f"glimpse serve did not answer within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        path = self.data_dir / f"server-{self.port}.log"
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
