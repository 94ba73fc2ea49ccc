"""Test support: run a real Glimpse server process, and the store contract suite.

Used by Glimpse's own tests and available to third-party store drivers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from glimpse.errors import ObjectNotFound
from glimpse.store.base import Store


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"glimpse serve exited early:\n{self.log()}")
            if self._answers():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"glimpse serve did not answer within {timeout}s:\n{self.log()}")

    def _answers(self) -> bool:
        url = f"{self.url}/versions"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our loopback URL
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

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
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)


def run_store_contract(make_store: Callable[[], Store], tmp_chunks: int = 3) -> None:
    """Check the behaviour every store driver promises (see store/base.py)."""
    store = make_store()
    data = [os.urandom(1 << 16) for _ in range(tmp_chunks)]
    location = store.put("contract-object", iter(data))
    whole = b"".join(data)
    assert b"".join(store.get(location)) == whole
    assert b"".join(store.get(location, 10, 100)) == whole[10:110]
    assert b"".join(store.get(location, len(whole) - 5)) == whole[-5:]

    def failing() -> Iterator[bytes]:
        yield b"partial"
        raise RuntimeError("client went away")

    try:
        store.put("contract-failed", failing())
    except RuntimeError:
        pass
    else:
        raise AssertionError("put() swallowed the error of its chunk source")
    store.delete(location)
    store.delete(location)  # deleting twice is not an error
    try:
        b"".join(store.get(location))
    except ObjectNotFound:
        pass
    else:
        raise AssertionError("get() of a deleted object did not raise ObjectNotFound")
