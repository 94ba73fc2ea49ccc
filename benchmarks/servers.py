"""The servers a run starts: Glimpse, Glance (through the anchor's scripts) and nginx.

Every server started is in ``LIVE`` until it is stopped; ``stop_all`` stops what is
left (at exit, on Ctrl-C or SIGTERM). Glimpse is started and stopped with
``glimpse.testing``'s helpers, which need ``src/`` on ``sys.path`` (run.py puts it there).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from common import HERE, BenchError
from glimpse.testing import free_port
from glimpse.testing.server import answers, stop_group, wait_until_answers
from metering import HZ, memory, process_tree, tree_ticks
from tools import http_request


class Server:
    """A service under test (or nginx) listening on 127.0.0.1:port."""

    name = "server"

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.root_pid: int | None = None
        self.started_in: float | None = None
        self.data_dir: Path | None = None

    def pids(self) -> list[int]:
        return process_tree(self.root_pid) if self.root_pid else []

    def image_file(self, image_id: str) -> Path | None:
        """Where the server keeps an image's bytes, if it is known."""
        return None

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def total_cpu(self) -> float:
        return sum(tree_ticks(self.pids()).values()) / HZ

    def memory(self) -> list[dict[str, Any]]:
        """VmRSS/VmHWM of the root (role master) and of every descendant (worker)."""
        found = []
        for index, pid in enumerate(self.pids()):
            info = memory(pid)
            if info is not None:
                found.append({**info, "role": "master" if index == 0 else "worker"})
        return found


LIVE: set[Server] = set()  # stopped on exit, whatever happens


def stop_all() -> None:
    for server in list(LIVE):
        try:
            server.stop()
        except Exception as exc:  # best effort at exit
            print(f"could not stop {server.name} on port {server.port}: {exc}", file=sys.stderr)


def wait_http(url: str, alive: Callable[[], bool], timeout: float) -> None:
    """Wait until the server at ``url`` answers anything over HTTP."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise BenchError(f"server for {url} exited during start-up")
        with suppress(OSError):
            http_request(url, "GET", "/", timeout=2)
            return
        time.sleep(0.01)
    raise BenchError(f"{url} did not answer within {timeout:.0f}s")


class Glimpse(Server):
    """``glimpse serve`` in its own session, on a data directory of its own."""

    name = "glimpse"

    def __init__(
        self,
        command: str,
        workers: int,
        data_dir: Path,
        log_path: Path,
        ready_log: str,
        timeout: float,
    ) -> None:
        super().__init__(free_port())
        values = {"port": self.port, "workers": workers, "data_dir": data_dir, "host": "127.0.0.1"}
        self.argv = [token.format(**values) for token in shlex.split(command)]
        self.workers = workers
        self.data_dir = data_dir
        self.log_path = log_path
        self.ready_log = re.compile(ready_log) if ready_log else None
        self.timeout = timeout
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Spawn and wait until /versions answers 200 and every worker is serving.

        Every worker: the log shows ``ready_log`` once per worker (Granian prints
        "Started worker-N" when a worker has loaded the app and serves); with an
        empty pattern, the process tree must hold ``workers`` worker processes.
        """
        assert self.data_dir is not None  # set in __init__
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: SIM115 - handed to the child
        started = time.perf_counter()
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise BenchError(f"cannot run {self.argv[0]}: {exc}") from exc
        finally:
            log.close()
        self.root_pid = self.proc.pid
        LIVE.add(self)
        proc = self.proc
        ready = wait_until_answers(
            self.url,
            lambda: proc.poll() is None,
            self.timeout - (time.perf_counter() - started),
            ready=lambda: self.workers_ready() >= self.workers,
            interval=0.005,
        )
        if ready:
            self.started_in = time.perf_counter() - started
            return
        if proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise BenchError(f"glimpse exited with {proc.returncode}:\n{tail}")
        raise BenchError(
            f"glimpse not ready within {self.timeout:.0f}s (answered: {answers(self.url)}, "
            f"workers ready: {self.workers_ready()}/{self.workers}); see {self.log_path}"
        )

    def image_file(self, image_id: str) -> Path | None:
        assert self.data_dir is not None
        return self.data_dir / "images" / image_id  # the default file store

    def workers_ready(self) -> int:
        if self.ready_log is None:
            return len(self.pids()) - 1
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return 0
        return len(self.ready_log.findall(text))

    def stop(self) -> None:
        LIVE.discard(self)
        if self.proc is not None:
            stop_group(self.proc, timeout=20)


class Bare(Glimpse):
    """benchmarks/bare_app.py: a bare ASGI app under Granian that answers every request
    with one saved answer of Glimpse (``response``, JSON), started and stopped as Glimpse.

    ``python`` is the interpreter of Glimpse's virtualenv (the app needs Granian).
    """

    name = "bare"

    def __init__(
        self, python: str, workers: int, response: Path, work: Path, timeout: float
    ) -> None:
        command = (
            f"{shlex.quote(python)} {shlex.quote(str(HERE / 'bare_app.py'))} --port {{port}} "
            f"--workers {{workers}} --response {shlex.quote(str(response))}"
        )
        super().__init__(
            command,
            workers,
            work / "bare",
            work / "logs" / "bare.log",
            r"Started worker-\d+",
            timeout,
        )


class Glance(Server):
    """Reference Glance via the anchor's scripts, in a state directory of its own."""

    name = "glance"

    def __init__(self, anchor: Path, state_dir: Path, workers: int) -> None:
        super().__init__(free_port())
        self.anchor = anchor
        self.state_dir = state_dir
        self.workers = workers
        self.env = {**os.environ, "GLANCE_ANCHOR_DIR": str(state_dir), "GLANCE_CLIENTS_VENV": ""}

    def script(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.anchor / name), *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )

    def image_file(self, image_id: str) -> Path | None:
        return self.state_dir / "images" / image_id  # the anchor's filesystem store

    def reset_state(self) -> None:
        """setup.sh --reset: empty database and image store (the server must be stopped)."""
        done = self.script("setup.sh", "--reset")
        if done.returncode != 0:
            raise BenchError(f"setup.sh --reset failed:\n{done.stderr[-2000:]}")

    def start(self) -> None:
        """start.sh, which returns once /versions answers 200 and every uWSGI worker
        has logged that its app is ready."""
        LIVE.add(self)
        started = time.perf_counter()
        done = self.script("start.sh", str(self.port), str(self.workers))
        self.started_in = time.perf_counter() - started
        if done.returncode != 0:
            raise BenchError(f"start.sh failed:\n{done.stderr[-2000:]}")
        self.root_pid = int(done.stdout.split()[-1])

    def stop(self) -> None:
        LIVE.discard(self)
        self.script("stop.sh", str(self.port))


class Nginx(Server):
    """nginx serving the data file with sendfile and taking WebDAV PUTs to disk."""

    name = "nginx"

    def __init__(self, work: Path, data_file: Path) -> None:
        super().__init__(free_port())
        self.dir = work / "nginx"
        self.data_file = data_file
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        for sub in ("www", "up", "body"):
            (self.dir / sub).mkdir(parents=True)
            (self.dir / sub).chmod(0o777)  # workers run as nobody when started by root
        served = self.dir / "www" / self.data_file.name
        try:
            os.link(self.data_file, served)
        except OSError:
            shutil.copyfile(self.data_file, served)
        conf = self.dir / "nginx.conf"
        conf.write_text(
            f"""worker_processes 1;
daemon off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {self.dir}/body;
    server {{
        listen 127.0.0.1:{self.port};
        location /f/ {{ alias {self.dir}/www/; }}
        location /up/ {{
            alias {self.dir}/up/;
            dav_methods PUT;
            client_max_body_size 0;
            client_body_buffer_size 1m;
        }}
    }}
}}
"""
        )
        self.proc = subprocess.Popen(
            ["nginx", "-p", str(self.dir), "-e", str(self.dir / "error.log"), "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.root_pid = self.proc.pid
        LIVE.add(self)
        proc = self.proc
        wait_http(self.url, lambda: proc.poll() is None, timeout=10)

    def stop(self) -> None:
        LIVE.discard(self)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir / "www", ignore_errors=True)
        shutil.rmtree(self.dir / "up", ignore_errors=True)


def ensure_tool(name: str, package: str, install: bool) -> None:
    """Make sure ``name`` is on PATH: apt-get install ``package`` when allowed, or fail."""
    if shutil.which(name):
        return
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"{name} is missing: apt-get install {package}", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
            subprocess.run(argv, check=False, stdout=subprocess.DEVNULL, env=env)
        if shutil.which(name):
            return
    raise BenchError(
        f"{name} is missing; install it with `apt-get install {package}` "
        "(run.py does that itself when run as root, unless --no-install)"
    )
