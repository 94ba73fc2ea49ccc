#!/usr/bin/env python3
"""Glimpse against real Glance 33 and this machine's physical limits, in one run.

    python3 benchmarks/run.py [PHASE ...] [--runs N] [--no-glance] [--glimpse-cmd CMD]
    python3 benchmarks/run.py --summary /tmp/glimpse-bench/results/run-....jsonl

Phases (default: all, in this order): upload, download, create, get, list, startup.
Every phase starts each service on a fresh data directory and database with a
fresh server (Glance through the anchor's setup.sh --reset + start.sh, in a
state directory of its own), measures it, stops it, and moves on. Each timed
run is recorded with wall time, client CPU, server CPU (utime+stime of the
server's process tree from /proc) and the CPU that anything else on the machine
used meanwhile; runs during which others used more than --foreign-max cores are
kept but marked busy and repeated, and medians use the clean runs. The end is a
Markdown table: medians, ratios to Glance and to the physical limits, targets.

Raw records: one JSON object per line in /tmp/glimpse-bench/results/run-*.jsonl.
Standard library only; needs curl, dd and sync, plus wrk (get) and nginx (the
upload and download baselines). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import http.client
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CLIENT = HERE / "client.py"
DEFAULT_ANCHOR = ROOT.parent / "shared" / "anchors" / "glance"
DEFAULT_WORK = Path(os.environ.get("GLIMPSE_BENCH_DIR", "/tmp/glimpse-bench"))
DEFAULT_GLIMPSE_CMD = (
    f"{ROOT}/.venv/bin/glimpse serve --host 127.0.0.1 --port {{port}} "
    "--workers {workers} --data-dir {data_dir}"
)
PHASES = ("upload", "download", "create", "get", "list", "startup")
SERVICES = ("glimpse", "glance")
GIB = 1 << 30
MB = 1e6
MIB = 1 << 20
HZ = os.sysconf("SC_CLK_TCK")
IMAGES = 1000  # images created by the create phase and present for get and list

T = TypeVar("T")


class BenchError(RuntimeError):
    """A measurement could not be taken (server answer, missing tool, bad data)."""


# --------------------------------------------------------------------------- /proc


def proc_ticks(pid: int) -> int | None:
    """utime+stime of one process (all its threads), in clock ticks; None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants, parent first."""
    found: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop(0)
        found.append(current)
        try:
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                pending.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                continue
    return found


def tree_ticks(pids: Sequence[int]) -> dict[int, int]:
    ticks = {}
    for pid in pids:
        value = proc_ticks(pid)
        if value is not None:
            ticks[pid] = value
    return ticks


def kernel_thread_ticks() -> int:
    return sum(tree_ticks(process_tree(2)).values())


def machine_busy_ticks() -> int:
    """user + nice + system + steal over all CPUs, from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(value) for value in stat.readline().split()[1:]]
    return values[0] + values[1] + values[2] + values[7]


def own_ticks(who: int) -> float:
    usage = resource.getrusage(who)
    return (usage.ru_utime + usage.ru_stime) * HZ


def memory(pid: int) -> dict[str, Any] | None:
    """Name, VmRSS and VmHWM (MiB) of one process; None if it is gone."""
    fields: dict[str, str] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    except OSError:
        return None
    if "VmRSS" not in fields:
        return None
    return {
        "pid": pid,
        "name": fields.get("Name", "?"),
        "rss_mib": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
        "hwm_mib": round(int(fields["VmHWM"].split()[0]) / 1024, 1),
    }


# ---------------------------------------------------------------------- measuring


@dataclass
class Timing:
    wall: float
    client_cpu: float
    server_cpu: float
    foreign_cores: float
    idle_before: float | None
    clean: bool


@dataclass
class Sample:
    """One timed run: what the tables are computed from."""

    phase: str
    service: str  # glimpse, glance, or limit (the machine's own baselines)
    metric: str
    values: dict[str, float]
    timing: Timing
    attempt: int = 1
    detail: dict[str, Any] = field(default_factory=dict)


class Meter:
    """Times an action and splits the machine's CPU into client, server and foreign.

    Client = CPU of this script's reaped children (curl, wrk, dd, client.py);
    server = ticks of the server's process tree; foreign = everything else that
    was busy (minus kernel threads and this script), i.e. other jobs on the machine.
    """

    def __init__(self, foreign_max: float, quiet_max: float, quiet_wait: float) -> None:
        self.foreign_max = foreign_max
        self.quiet_max = quiet_max
        self.quiet_wait = quiet_wait

    def busy_elsewhere(self, server_pids: Sequence[int], seconds: float = 1.0) -> float:
        """Cores used by anything but the (idle) server and kernel threads."""
        server0, kernel0 = tree_ticks(server_pids), kernel_thread_ticks()
        busy0, mine0 = machine_busy_ticks(), own_ticks(resource.RUSAGE_SELF)
        time.sleep(seconds)
        server1, kernel1 = tree_ticks(server_pids), kernel_thread_ticks()
        busy1, mine1 = machine_busy_ticks(), own_ticks(resource.RUSAGE_SELF)
        server = sum(server1.get(pid, ticks) - ticks for pid, ticks in server0.items())
        other = (busy1 - busy0) - server - (kernel1 - kernel0) - (mine1 - mine0)
        return max(0.0, other / HZ / seconds)

    def wait_quiet(self, server_pids: Sequence[int]) -> float | None:
        """Wait (at most quiet_wait seconds) until other jobs leave the machine idle."""
        if self.quiet_wait <= 0:
            return None
        deadline = time.monotonic() + self.quiet_wait
        while True:
            busy = self.busy_elsewhere(server_pids)
            if busy <= self.quiet_max or time.monotonic() >= deadline:
                return round(busy, 3)
            print(f"    (machine busy: {busy:.2f} cores used by other jobs; waiting)", flush=True)
            time.sleep(4)

    def measure(
        self, action: Callable[[], T], server_pids: Callable[[], Sequence[int]] | None = None
    ) -> tuple[T, Timing]:
        """Run ``action`` once. ``server_pids`` is asked before and after the run: a
        server started by the action itself (start-up) has all its CPU counted."""
        pids_of = server_pids or (lambda: [])
        idle = self.wait_quiet(pids_of())
        server0 = tree_ticks(pids_of())
        kernel0, busy0 = kernel_thread_ticks(), machine_busy_ticks()
        children0, mine0 = own_ticks(resource.RUSAGE_CHILDREN), own_ticks(resource.RUSAGE_SELF)
        started = time.perf_counter()
        result = action()
        wall = time.perf_counter() - started
        server1 = tree_ticks(pids_of())
        kernel1, busy1 = kernel_thread_ticks(), machine_busy_ticks()
        children1, mine1 = own_ticks(resource.RUSAGE_CHILDREN), own_ticks(resource.RUSAGE_SELF)
        server = sum(ticks - server0.get(pid, 0) for pid, ticks in server1.items())
        client = children1 - children0
        foreign = (busy1 - busy0) - server - client - (kernel1 - kernel0) - (mine1 - mine0)
        # Ticks are 1/HZ s: allow two of them of noise on short runs.
        clean = foreign <= self.foreign_max * wall * HZ + 2
        timing = Timing(
            wall=round(wall, 4),
            client_cpu=round(client / HZ, 3),
            server_cpu=round(server / HZ, 3),
            foreign_cores=round(max(0.0, foreign / HZ / wall), 3),
            idle_before=idle,
            clean=clean,
        )
        return result, timing


class Recorder:
    """Appends every record to a JSON-lines file and keeps the samples for the table."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.samples: list[Sample] = []
        self.records: list[dict[str, Any]] = []
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict[str, Any]) -> None:
        record = {"time": round(time.time(), 3), **record}
        self.records.append(record)
        with open(self.path, "a") as out:
            out.write(json.dumps(record) + "\n")

    def sample(self, sample: Sample) -> None:
        self.samples.append(sample)
        self.write({"type": "sample", **asdict(sample)})
        timing = sample.timing
        shown = ", ".join(f"{key} {value:g}" for key, value in sample.values.items())
        busy = "" if timing.clean else f"  BUSY (others used {timing.foreign_cores} cores)"
        print(
            f"  {sample.service:<8}{sample.metric:<22}{shown}  "
            f"[wall {timing.wall:.2f}s, server CPU {timing.server_cpu:.2f}s]{busy}",
            flush=True,
        )

    def error(self, phase: str, service: str, message: str) -> None:
        self.write({"type": "error", "phase": phase, "service": service, "message": message})
        print(f"  ERROR {service} {phase}: {message}", file=sys.stderr, flush=True)

    @classmethod
    def load(cls, path: Path) -> Recorder:
        recorder = cls(path)
        for line in path.read_text().splitlines():
            record = json.loads(line)
            recorder.records.append(record)
            if record.get("type") == "sample":
                fields = {k: v for k, v in record.items() if k not in ("type", "time")}
                fields["timing"] = Timing(**fields["timing"])
                recorder.samples.append(Sample(**fields))
        return recorder


# ------------------------------------------------------------------------ servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_request(
    url: str, method: str, path: str, body: bytes | None = None, timeout: float = 120
) -> tuple[int, bytes]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body, headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def api(url: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One JSON call; raises BenchError unless the answer is 2xx."""
    payload = json.dumps(body).encode() if body is not None else None
    status, data = http_request(url, method, path, payload)
    if not 200 <= status < 300:
        raise BenchError(f"{method} {path} answered {status}: {data[:300]!r}")
    return json.loads(data) if data else None


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
        deadline = started + self.timeout
        answered = False
        while True:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise BenchError(f"glimpse exited with {self.proc.returncode}:\n{tail}")
            if not answered:
                with suppress(OSError):
                    answered = http_request(self.url, "GET", "/versions", timeout=2)[0] == 200
            if answered and self.workers_ready() >= self.workers:
                self.started_in = time.perf_counter() - started
                return
            if time.perf_counter() > deadline:
                raise BenchError(
                    f"glimpse not ready within {self.timeout:.0f}s (answered: {answered}, "
                    f"workers ready: {self.workers_ready()}/{self.workers}); see {self.log_path}"
                )
            time.sleep(0.005)

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
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass


class Glance(Server):
    """Reference Glance via the anchor's scripts, in a state directory of its own."""

    name = "glance"

    def __init__(self, anchor: Path, state_dir: Path, workers: int) -> None:
        super().__init__(free_port())
        self.anchor = anchor
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


# ------------------------------------------------------------------ client tools


def curl(*args: str) -> dict[str, float]:
    """One curl transfer; returns code, seconds and byte counts as curl measured them."""
    done = subprocess.run(
        [
            "curl",
            "-sS",
            "--max-time",
            "900",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{time_total} %{size_upload} %{size_download}",
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    fields = done.stdout.split()
    if done.returncode != 0 or len(fields) != 4:
        raise BenchError(f"curl {' '.join(args)} failed: {done.stderr.strip()}")
    return {
        "code": int(fields[0]),
        "seconds": float(fields[1]),
        "up": float(fields[2]),
        "down": float(fields[3]),
    }


def client(*args: str) -> dict[str, Any]:
    """Run benchmarks/client.py in a child process; returns its JSON answer."""
    done = subprocess.run(
        [sys.executable, str(CLIENT), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"client.py {args[0]} failed: {done.stderr.strip()[-1000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def sync() -> None:
    subprocess.run(["sync"], check=True)


def ensure_tool(name: str, package: str, install: bool) -> None:
    if shutil.which(name):
        return
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"{name} is missing: apt-get install {package}", flush=True)
        quiet = {
            "stdout": subprocess.DEVNULL,
            "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        }
        subprocess.run(["apt-get", "update", "-qq"], check=False, **quiet)
        subprocess.run(["apt-get", "install", "-y", "-qq", package], check=False, **quiet)
        if shutil.which(name):
            return
    raise BenchError(
        f"{name} is missing; install it with `apt-get install {package}` "
        "(run.py does that itself when run as root, unless --no-install)"
    )


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/sec, latency percentiles (ms), request and error counts from wrk."""

    def ms(text: str) -> float:
        number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
        return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]

    found: dict[str, float] = {}
    if match := re.search(r"Requests/sec:\s+([\d.]+)", output):
        found["req_s"] = float(match.group(1))
    if match := re.search(r"(\d+) requests in", output):
        found["requests"] = float(match.group(1))
    for percent in ("50", "99"):
        if match := re.search(rf"^\s+{percent}%\s+(\S+)", output, re.MULTILINE):
            found[f"p{percent}_ms"] = round(ms(match.group(1)), 3)
    errors = 0
    if match := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        errors += int(match.group(1))
    if match := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        errors += sum(int(group) for group in match.groups())
    found["errors"] = errors
    if "req_s" not in found:
        raise BenchError(f"cannot read wrk's output:\n{output}")
    return found


# --------------------------------------------------------------------- the bench


@dataclass
class Config:
    runs: int
    workers: int
    services: tuple[str, ...]
    glimpse_cmd: str
    glimpse_ready_log: str
    anchor: Path
    work: Path
    data_file: Path
    list_requests: int
    wrk_duration: int
    extra: int
    start_timeout: float
    keep_data: bool


class Bench:
    def __init__(self, config: Config, meter: Meter, recorder: Recorder) -> None:
        self.config = config
        self.meter = meter
        self.recorder = recorder
        self.digests: dict[str, str] = {}
        self.served = 0

    # -- infrastructure

    def make_server(self, service: str, phase: str, data_dir: Path | None = None) -> Server:
        """A server object, not started: Glimpse on ``data_dir`` (default: a new
        directory for this phase), Glance on the bench's own anchor state dir."""
        config = self.config
        self.served += 1
        tag = f"{phase}-{self.served}"
        if service == "glance":
            return Glance(config.anchor, config.work / "glance-anchor", config.workers)
        return Glimpse(
            config.glimpse_cmd,
            config.workers,
            data_dir or config.work / "data" / tag,
            config.work / "logs" / f"glimpse-{tag}.log",
            config.glimpse_ready_log,
            config.start_timeout,
        )

    def discard(self, server: Server) -> None:
        server.stop()
        if server.data_dir is not None and not self.config.keep_data:
            shutil.rmtree(server.data_dir, ignore_errors=True)

    @contextmanager
    def server(self, service: str, phase: str) -> Iterator[Server]:
        """A fresh server on an empty data dir / database; stopped (after its CPU and
        memory are recorded) when the block ends, whatever happens in it."""
        server = self.make_server(service, phase)
        try:
            if isinstance(server, Glance):
                server.reset_state()
            elif server.data_dir is not None:
                shutil.rmtree(server.data_dir, ignore_errors=True)
            server.start()
            yield server
            self.recorder.write(
                {
                    "type": "server",
                    "phase": phase,
                    "service": service,
                    "port": server.port,
                    "started_in": server.started_in,
                    "cpu_total": round(server.total_cpu(), 3),
                    "memory": server.memory(),
                }
            )
        finally:
            self.discard(server)

    def repeat(self, once: Callable[[int], Sample]) -> None:
        """Call once(attempt) until `runs` clean samples, at most runs + extra times."""
        clean = 0
        for attempt in range(1, self.config.runs + self.config.extra + 1):
            sample = once(attempt)
            sample.attempt = attempt
            self.recorder.sample(sample)
            clean += sample.timing.clean
            if clean >= self.config.runs:
                return

    def for_each_service(self, phase: str, body: Callable[[str], None]) -> None:
        for service in self.config.services:
            try:
                body(service)
            except (BenchError, OSError, subprocess.SubprocessError, ValueError) as exc:
                self.recorder.error(phase, service, str(exc))

    def ensure_data(self) -> None:
        """The 1 GiB random file, its md5 and sha512, and the file in the page cache."""
        path = self.config.data_file
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.stat().st_size != GIB:
            print(f"writing {GIB} random bytes to {path}", flush=True)
            partial = path.with_suffix(".partial")
            with open(partial, "wb") as out:
                for _ in range(GIB // MIB):
                    out.write(os.urandom(MIB))
            partial.replace(path)
        sidecar = path.with_suffix(".digests.json")
        stamp = [path.stat().st_size, path.stat().st_mtime_ns]
        known = json.loads(sidecar.read_text()) if sidecar.exists() else {}
        if known.get("stamp") != stamp:
            hashes = client("hash", str(path), "md5+sha512")["hex"]
            known = {"stamp": stamp, **hashes}
            sidecar.write_text(json.dumps(known))
        self.digests = {"md5": known["md5"], "sha512": known["sha512"]}
        with open(path, "rb", buffering=0) as source:  # into the page cache
            while source.read(4 * MIB):
                pass

    def upload(self, server: Server, image_id: str, chunked: bool) -> dict[str, float]:
        extra = ["-H", "Transfer-Encoding: chunked"] if chunked else []
        return curl(
            "-X",
            "PUT",
            "-H",
            "Expect:",
            "-H",
            "Content-Type: application/octet-stream",
            *extra,
            "-T",
            str(self.config.data_file),
            f"{server.url}/v2/images/{image_id}/file",
        )

    def check_image(self, server: Server, image_id: str) -> None:
        image = api(server.url, "GET", f"/v2/images/{image_id}")
        problems = []
        if image.get("status") != "active":
            problems.append(f"status {image.get('status')}")
        if image.get("size") != GIB:
            problems.append(f"size {image.get('size')}")
        if image.get("checksum") != self.digests["md5"]:
            problems.append("checksum is not the file's md5")
        if image.get("os_hash_value") not in (None, self.digests["sha512"]):
            problems.append("os_hash_value is not the file's sha512")
        if problems:
            raise BenchError(f"{server.name} image {image_id} after upload: {', '.join(problems)}")

    def new_image(self, server: Server, name: str) -> str:
        body = {"name": name, "disk_format": "raw", "container_format": "bare"}
        return str(api(server.url, "POST", "/v2/images", body)["id"])

    def populate(self, server: Server, count: int) -> list[str]:
        """Create ``count`` images (untimed), with two client processes in parallel."""
        halves = [count // 2, count - count // 2]
        files = [self.config.work / f"ids-{index}.txt" for index in range(2)]
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(CLIENT),
                    "create",
                    server.url,
                    str(n),
                    "--keep-alive",
                    "--ids",
                    str(path),
                    "--prefix",
                    f"fill-{index}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for index, (n, path) in enumerate(zip(halves, files, strict=True))
        ]
        try:
            failures = [proc.communicate()[1].decode() for proc in procs if proc.wait() != 0]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        if failures:
            raise BenchError(f"creating {count} images failed: {failures[0][-500:]}")
        ids = [line for path in files for line in path.read_text().split()]
        if len(ids) != count:
            raise BenchError(f"created {len(ids)} images, wanted {count}")
        return ids

    def sample(
        self,
        phase: str,
        service: str,
        metric: str,
        values: dict[str, float],
        timing: Timing,
        **detail: Any,
    ) -> Sample:
        return Sample(phase, service, metric, values, timing, detail=detail)

    # -- phases

    def phase_upload(self) -> None:
        """1 GiB PUT (Content-Length, chunked) vs hashing, dd fdatasync, nginx, Glance."""
        self.ensure_data()
        path = str(self.config.data_file)
        for algorithms in ("sha512", "md5"):

            def hashing(_: int, algorithms: str = algorithms) -> Sample:
                result, timing = self.meter.measure(lambda: client("hash", path, algorithms))
                values = {"MB_s": result["MB_s"]}
                return self.sample("upload", "limit", algorithms, values, timing)

            self.repeat(hashing)
        target = self.config.work / "dd.out"

        def dd(_: int) -> Sample:
            target.unlink(missing_ok=True)
            sync()
            argv = ["dd", f"if={path}", f"of={target}", "bs=1M", "conv=fdatasync"]
            done, timing = self.meter.measure(
                lambda: subprocess.run(argv, capture_output=True, text=True, check=True)
            )
            line = [text for text in done.stderr.splitlines() if "copied" in text][-1]
            copied, seconds = int(line.split()[0]), float(line.split("copied, ")[1].split()[0])
            target.unlink(missing_ok=True)
            return self.sample(
                "upload",
                "limit",
                "dd_fdatasync",
                {"MB_s": round(copied / seconds / MB, 1)},
                timing,
                dd=line,
            )

        self.repeat(dd)
        sync()
        self.nginx_baseline("upload")
        self.for_each_service("upload", self.upload_service)

    def upload_service(self, service: str) -> None:
        with self.server(service, "upload") as server:
            for chunked in (False, True):

                def once(attempt: int, chunked: bool = chunked) -> Sample:
                    image_id = self.new_image(server, f"upload-{attempt}")
                    sync()
                    result, timing = self.meter.measure(
                        lambda: self.upload(server, image_id, chunked), server.pids
                    )
                    if result["code"] != 204:
                        raise BenchError(f"{service} upload answered {result['code']}")
                    self.check_image(server, image_id)
                    api(server.url, "DELETE", f"/v2/images/{image_id}")
                    sync()
                    values = {
                        "MB_s": round(GIB / result["seconds"] / MB, 1),
                        "server_cpu_s": timing.server_cpu,
                    }
                    metric = "upload_chunked" if chunked else "upload_sized"
                    return self.sample("upload", service, metric, values, timing)

                self.repeat(once)

    def nginx_baseline(self, phase: str) -> None:
        """nginx on loopback: WebDAV PUT to disk (upload), sendfile GET (download)."""
        server = Nginx(self.config.work, self.config.data_file)
        try:
            server.start()
            if phase == "upload":

                def put(_: int) -> Sample:
                    for old in (server.dir / "up").iterdir():
                        old.unlink()
                    sync()
                    args = ["-X", "PUT", "-H", "Expect:", "-T", str(self.config.data_file)]
                    result, timing = self.meter.measure(
                        lambda: curl(*args, f"{server.url}/up/u.bin"), server.pids
                    )
                    if result["code"] not in (201, 204):
                        raise BenchError(f"nginx PUT answered {result['code']}")
                    values = {"MB_s": round(GIB / result["seconds"] / MB, 1)}
                    return self.sample(phase, "limit", "nginx_put", values, timing)

                self.repeat(put)
            else:

                def get(_: int) -> Sample:
                    url = f"{server.url}/f/{self.config.data_file.name}"
                    result, timing = self.meter.measure(lambda: curl(url), server.pids)
                    if result["code"] != 200 or result["down"] != GIB:
                        raise BenchError(f"nginx GET answered {result['code']}")
                    values = {"MB_s": round(GIB / result["seconds"] / MB, 1)}
                    return self.sample(phase, "limit", "nginx_get", values, timing)

                self.repeat(get)
        except BenchError as exc:
            self.recorder.error(phase, "nginx", str(exc))
        finally:
            server.stop()
            sync()

    def phase_download(self) -> None:
        """1 GiB GET to /dev/null vs nginx sendfile and Glance."""
        self.ensure_data()
        self.nginx_baseline("download")
        self.for_each_service("download", self.download_service)

    def download_service(self, service: str) -> None:
        with self.server(service, "download") as server:
            image_id = self.new_image(server, "download")
            if self.upload(server, image_id, chunked=False)["code"] != 204:
                raise BenchError(f"{service} upload failed")
            self.check_image(server, image_id)
            self.check_download(server, image_id)

            def once(_: int) -> Sample:
                url = f"{server.url}/v2/images/{image_id}/file"
                result, timing = self.meter.measure(lambda: curl(url), server.pids)
                if result["code"] != 200 or result["down"] != GIB:
                    raise BenchError(f"{service} download: {result}")
                values = {
                    "MB_s": round(GIB / result["seconds"] / MB, 1),
                    "server_cpu_s": timing.server_cpu,
                }
                return self.sample("download", service, "download", values, timing)

            self.repeat(once)

    def check_download(self, server: Server, image_id: str) -> None:
        """Once per server, untimed: the bytes served are the bytes uploaded."""
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=300)
        digest = hashlib.md5(usedforsecurity=False)
        try:
            conn.request("GET", f"/v2/images/{image_id}/file")
            response = conn.getresponse()
            while chunk := response.read(MIB):
                digest.update(chunk)
        finally:
            conn.close()
        if response.status != 200 or digest.hexdigest() != self.digests["md5"]:
            raise BenchError(f"{server.name} served other bytes (status {response.status})")

    def phase_create(self) -> None:
        """1,000 sequential creates, each round on a fresh server and database."""

        def body(service: str) -> None:
            for keep_alive in (False, True):

                def once(_: int, keep_alive: bool = keep_alive) -> Sample:
                    with self.server(service, "create") as server:
                        argv = ["create", server.url, str(IMAGES)]
                        argv += ["--keep-alive"] if keep_alive else []
                        result, timing = self.meter.measure(lambda: client(*argv), server.pids)
                        values = {
                            "per_s": result["per_s"],
                            "server_cpu_ms": round(timing.server_cpu / IMAGES * 1000, 3),
                        }
                        metric = "create_keepalive" if keep_alive else "create_newconn"
                        return self.sample(
                            "create",
                            service,
                            metric,
                            values,
                            timing,
                            connections=result["connections"],
                        )

                self.repeat(once)

        self.for_each_service("create", body)

    def phase_get(self) -> None:
        """wrk -t2 -c32 -d10s --latency on GET /v2/images/{id} among 1,000 images."""

        def body(service: str) -> None:
            with self.server(service, "get") as server:
                ids = self.populate(server, IMAGES)
                url = f"{server.url}/v2/images/{ids[0]}"
                if api(server.url, "GET", f"/v2/images/{ids[0]}")["id"] != ids[0]:
                    raise BenchError("GET answered another image")
                argv = ["wrk", "-t2", "-c32", f"-d{self.config.wrk_duration}s", "--latency", url]

                def once(_: int) -> Sample:
                    done, timing = self.meter.measure(
                        lambda: subprocess.run(argv, capture_output=True, text=True, check=True),
                        server.pids,
                    )
                    values = parse_wrk(done.stdout)
                    values["server_cpu_ms"] = round(
                        timing.server_cpu / max(values.get("requests", 1), 1) * 1000, 3
                    )
                    if values["errors"]:
                        self.recorder.error("get", service, f"wrk saw {values['errors']:g} errors")
                    return self.sample("get", service, "get", values, timing, wrk=done.stdout)

                self.repeat(once)

        self.for_each_service("get", body)

    def phase_list(self) -> None:
        """GET /v2/images?limit=1000 over 1,000 images, one curl per request."""

        def body(service: str) -> None:
            with self.server(service, "list") as server:
                self.populate(server, IMAGES)
                path = f"/v2/images?limit={IMAGES}"
                listed = api(server.url, "GET", path)["images"]
                if len(listed) != IMAGES:
                    raise BenchError(f"list returned {len(listed)} images, wanted {IMAGES}")
                count = self.config.list_requests

                def requests() -> list[dict[str, float]]:
                    return [curl(server.url + path) for _ in range(count)]

                def once(_: int) -> Sample:
                    results, timing = self.meter.measure(requests, server.pids)
                    if any(result["code"] != 200 for result in results):
                        raise BenchError(f"list answered {[r['code'] for r in results]}")
                    times = [result["seconds"] * 1000 for result in results]
                    values = {
                        "median_ms": round(statistics.median(times), 3),
                        "server_cpu_ms": round(timing.server_cpu / count * 1000, 3),
                        "body_bytes": results[0]["down"],
                    }
                    return self.sample(
                        "list",
                        service,
                        "list",
                        values,
                        timing,
                        times_ms=[round(t, 3) for t in times],
                    )

                self.repeat(once)

        self.for_each_service("list", body)

    def phase_startup(self) -> None:
        """Spawn to first 200 on /versions with every worker ready; RSS per worker.

        cold: a fresh data dir (Glimpse creates its database; Glance's is made by
        setup.sh --reset beforehand, untimed); warm: a restart on an existing one."""
        warm_dir = self.config.work / "data" / "startup-warm"

        def body(service: str) -> None:
            for warm in (False, True):
                if warm and service == "glimpse":  # a data dir served once before
                    shutil.rmtree(warm_dir, ignore_errors=True)
                    primer = self.make_server(service, "startup", warm_dir)
                    try:
                        primer.start()
                    finally:
                        primer.stop()

                def once(_: int, warm: bool = warm) -> Sample:
                    server = self.make_server(service, "startup", warm_dir if warm else None)
                    try:
                        if isinstance(server, Glance) and not warm:
                            server.reset_state()
                        _, timing = self.meter.measure(server.start, server.pids)
                        time.sleep(1)  # settle, then read memory
                        memory = server.memory()
                        workers = [m for m in memory if m["role"] == "worker"]
                        masters = [m["rss_mib"] for m in memory if m["role"] == "master"]
                        values = {
                            "seconds": round(server.started_in or 0.0, 4),
                            "server_cpu_s": timing.server_cpu,
                            "worker_rss_mib": max((m["rss_mib"] for m in workers), default=0),
                            "worker_hwm_mib": max((m["hwm_mib"] for m in workers), default=0),
                            "master_rss_mib": masters[0] if masters else 0,
                        }
                        metric = "startup_warm" if warm else "startup_cold"
                        return self.sample(
                            "startup", service, metric, values, timing, memory=memory
                        )
                    finally:
                        if warm:
                            server.stop()
                        else:
                            self.discard(server)

                self.repeat(once)
            shutil.rmtree(warm_dir, ignore_errors=True)

        self.for_each_service("startup", body)


# ------------------------------------------------------------------------- table


@dataclass(frozen=True)
class Row:
    label: str
    metric: str
    key: str
    unit: str
    higher_is_better: bool = True
    limits: tuple[str, ...] = ()  # limit metrics (MB_s); the row's limit is their minimum
    vs_glance: float | None = None  # target: Glimpse better than Glance by this factor
    vs_limit: float | None = None  # target: Glimpse >= this fraction of the limit
    at_most: float | None = None  # target: Glimpse <= this value
    aggregate: str = "median"  # or "max"


ROWS = [
    Row(
        "upload 1 GiB, Content-Length",
        "upload_sized",
        "MB_s",
        "MB/s",
        limits=("sha512", "dd_fdatasync"),
        vs_glance=2.5,
        vs_limit=0.9,
    ),
    Row(
        "upload 1 GiB, chunked",
        "upload_chunked",
        "MB_s",
        "MB/s",
        limits=("sha512", "dd_fdatasync"),
        vs_glance=2.5,
        vs_limit=0.9,
    ),
    Row("  server CPU per GiB (Content-Length)", "upload_sized", "server_cpu_s", "s", False),
    Row("  limit: sha512, 1 thread, 64 KiB reads", "", "", "MB/s", limits=("sha512",)),
    Row("  limit: dd bs=1M conv=fdatasync", "", "", "MB/s", limits=("dd_fdatasync",)),
    Row("  (info) md5, 1 thread, 64 KiB reads", "", "", "MB/s", limits=("md5",)),
    Row("  (info) nginx WebDAV PUT to disk", "", "", "MB/s", limits=("nginx_put",)),
    Row(
        "download 1 GiB to /dev/null",
        "download",
        "MB_s",
        "MB/s",
        limits=("nginx_get",),
        vs_limit=0.9,
    ),
    Row("  server CPU per GiB", "download", "server_cpu_s", "s", False),
    Row("1,000 creates, new connection each", "create_newconn", "per_s", "/s", vs_glance=10),
    Row("1,000 creates, keep-alive", "create_keepalive", "per_s", "/s", vs_glance=10),
    Row("  server CPU per create", "create_newconn", "server_cpu_ms", "ms", False),
    Row("GET /v2/images/{id}, wrk -t2 -c32", "get", "req_s", "req/s", vs_glance=10),
    Row("  latency p50", "get", "p50_ms", "ms", False),
    Row("  latency p99", "get", "p99_ms", "ms", False),
    Row("  server CPU per GET", "get", "server_cpu_ms", "ms", False),
    Row("GET /v2/images?limit=1000 (1,000 images)", "list", "median_ms", "ms", False, vs_glance=10),
    Row("  server CPU per list", "list", "server_cpu_ms", "ms", False),
    Row("start-up, fresh data dir", "startup_cold", "seconds", "s", False, at_most=0.5),
    Row("start-up, existing data dir", "startup_warm", "seconds", "s", False, at_most=0.5),
    Row("  server CPU to start", "startup_cold", "server_cpu_s", "s", False),
    Row(
        "RSS per worker after start (VmRSS)",
        "startup_cold",
        "worker_rss_mib",
        "MiB",
        False,
        at_most=60,
        aggregate="max",
    ),
    Row(
        "RSS per worker, peak of all phases (VmHWM)",
        "",
        "hwm",
        "MiB",
        False,
        at_most=60,
        aggregate="max",
    ),
    Row(
        "  master process RSS after start",
        "startup_cold",
        "master_rss_mib",
        "MiB",
        False,
        aggregate="max",
    ),
]


@dataclass
class Stat:
    value: float
    clean: int
    total: int

    @property
    def busy(self) -> bool:
        return self.clean == 0


def statistic(recorder: Recorder, service: str, metric: str, key: str, how: str) -> Stat | None:
    if metric == "" and key == "hwm":  # peak worker memory: every sample and server record
        peaks = [
            entry["hwm_mib"]
            for record in recorder.records
            if record.get("service") == service and record.get("type") in ("server", "sample")
            for entry in record.get("memory") or record.get("detail", {}).get("memory") or []
            if entry.get("role") == "worker"
        ]
        return Stat(max(peaks), len(peaks), len(peaks)) if peaks else None
    samples = [
        s
        for s in recorder.samples
        if s.service == service and s.metric == metric and key in s.values
    ]
    clean = [s for s in samples if s.timing.clean]
    used = clean or samples
    if not used:
        return None
    values = [s.values[key] for s in used]
    value = max(values) if how == "max" else statistics.median(values)
    return Stat(value, len(clean), len(samples))


def number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if value >= 0.01 else f"{value:.2g}"


def shown(stat: Stat | None) -> str:
    if stat is None:
        return "–"
    return number(stat.value) + ("*" if stat.busy else "")


def render(recorder: Recorder) -> str:
    lines = [
        "| figure | unit | Glimpse | Glance 33 | physical limit | Glimpse vs Glance | "
        "Glimpse / limit | target | met |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for row in ROWS:
        mine = glance = None
        if row.metric or row.key == "hwm":
            mine = statistic(recorder, "glimpse", row.metric, row.key, row.aggregate)
            glance = statistic(recorder, "glance", row.metric, row.key, row.aggregate)
        limit_stats = [statistic(recorder, "limit", name, "MB_s", "median") for name in row.limits]
        limit = None
        if row.limits and all(limit_stats):
            limit = min((s for s in limit_stats if s), key=lambda s: s.value)
        if mine is None and glance is None and limit is None:
            continue  # not measured in this run
        advantage = ratio = None
        if mine and glance and mine.value and glance.value:
            advantage = (
                mine.value / glance.value if row.higher_is_better else glance.value / mine.value
            )
        if mine and limit and limit.value:
            ratio = mine.value / limit.value
        targets, verdicts = [], []
        if row.vs_glance is not None:
            targets.append(f"≥ {row.vs_glance:g}× Glance")
            if advantage is not None:
                verdicts.append(advantage >= row.vs_glance)
        if row.vs_limit is not None:
            targets.append(f"≥ {row.vs_limit:g}× limit")
            if ratio is not None:
                verdicts.append(ratio >= row.vs_limit)
        if row.at_most is not None:
            targets.append(f"≤ {row.at_most:g} {row.unit}")
            if mine is not None:
                verdicts.append(mine.value <= row.at_most)
        met = "" if not verdicts else ("yes" if all(verdicts) else "**NO**")
        lines.append(
            f"| {row.label} | {row.unit} | {shown(mine)} | {shown(glance)} | {shown(limit)} | "
            f"{f'{advantage:.2f}×' if advantage else ''} | {f'{ratio:.2f}' if ratio else ''} | "
            f"{', '.join(targets)} | {met} |"
        )
    return "\n".join(lines)


def per_phase(recorder: Recorder) -> str:
    """Server CPU from spawn to stop (start-up: to ready), summed over the phase's
    servers, and the peak VmHWM of any worker, per phase and service."""
    cpu: dict[tuple[str, str], float] = {}
    peak: dict[tuple[str, str], float] = {}
    for record in recorder.records:
        if record.get("service") not in SERVICES:
            continue
        key = (record["phase"], record["service"])
        if record.get("type") == "server":
            cpu[key] = cpu.get(key, 0.0) + record["cpu_total"]
        elif record.get("type") == "sample" and record["phase"] == "startup":
            cpu[key] = cpu.get(key, 0.0) + record["timing"]["server_cpu"]
        memory = record.get("memory") or record.get("detail", {}).get("memory") or []
        for entry in memory:
            if entry.get("role") == "worker":
                peak[key] = max(peak.get(key, 0.0), entry["hwm_mib"])
    if not cpu:
        return ""

    def cell(table: dict[tuple[str, str], float], phase: str, service: str) -> str:
        value = table.get((phase, service))
        return "" if value is None else f"{value:.1f}"

    lines = [
        "| per phase | Glimpse server CPU s | Glance server CPU s "
        "| Glimpse worker peak MiB | Glance worker peak MiB |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for phase in PHASES:
        if any(phase == key[0] for key in cpu):
            lines.append(
                f"| {phase} | {cell(cpu, phase, 'glimpse')} | {cell(cpu, phase, 'glance')} "
                f"| {cell(peak, phase, 'glimpse')} | {cell(peak, phase, 'glance')} |"
            )
    return "\n".join(lines)


def report(recorder: Recorder) -> str:
    samples = recorder.samples
    busy = [s for s in samples if not s.timing.clean]
    parts = [render(recorder), "", per_phase(recorder), ""]
    parts.append(
        "MB = 10^6 bytes. Medians of clean runs; Glimpse vs Glance is how many times better "
        "Glimpse is (rate ratio, or time ratio for times). * = no clean run: median of runs "
        "taken while other jobs used the machine."
    )
    if busy:
        worst = max(s.timing.foreign_cores for s in busy)
        parts.append(
            f"Busy machine: {len(busy)} of {len(samples)} timed runs saw other jobs use more "
            f"than the allowed CPU (up to {worst:.2f} cores); they are in the raw records, "
            "marked clean=false, and left out of medians where clean runs exist."
        )
    errors = [r for r in recorder.records if r.get("type") == "error"]
    for error in errors:
        parts.append(f"ERROR {error['service']} {error['phase']}: {error['message']}")
    parts.append(f"Raw records: {recorder.path}")
    return "\n".join(parts)


# -------------------------------------------------------------------------- main


def machine() -> dict[str, Any]:
    def first_line(argv: list[str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
        except OSError:
            return "missing"
        return (
            (done.stdout or done.stderr).strip().splitlines()[0]
            if done.stdout or done.stderr
            else ""
        )

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg": os.getloadavg(),
        "curl": first_line(["curl", "--version"]),
        "wrk": first_line(["wrk", "-v"]),
        "nginx": first_line(["nginx", "-v"]),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("phases", nargs="*", metavar="PHASE", help=f"any of {', '.join(PHASES)}")
    parser.add_argument("--runs", type=int, default=3, help="clean runs per figure (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="server workers (default 2)")
    parser.add_argument(
        "--glimpse-cmd",
        default=DEFAULT_GLIMPSE_CMD,
        help="command starting Glimpse; {port}, {workers}, {data_dir}, {host} "
        "are filled in (default: %(default)s)",
    )
    parser.add_argument(
        "--glimpse-ready-log",
        default=r"Started worker-\d+",
        help="regex the server log shows once per ready worker; '' = count "
        "worker processes instead (default: %(default)s)",
    )
    parser.add_argument("--no-glance", action="store_true", help="measure Glimpse only")
    parser.add_argument("--no-glimpse", action="store_true", help="measure Glance only")
    parser.add_argument(
        "--anchor",
        type=Path,
        default=DEFAULT_ANCHOR,
        help="directory of the Glance anchor scripts (default: %(default)s)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=DEFAULT_WORK,
        help="scratch and results directory (default: %(default)s)",
    )
    parser.add_argument(
        "--file", type=Path, help="the 1 GiB data file (default: WORK/random-1GiB.bin)"
    )
    parser.add_argument(
        "--list-requests", type=int, default=11, help="list requests per run (≥ 11)"
    )
    parser.add_argument("--wrk-duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--extra", type=int, default=2, help="extra attempts for busy runs")
    parser.add_argument(
        "--foreign-max",
        type=float,
        default=0.10,
        help="cores other jobs may use during a clean run (default 0.10)",
    )
    parser.add_argument(
        "--quiet-max",
        type=float,
        default=0.20,
        help="cores other jobs may use before a run starts (default 0.20)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60,
        help="seconds to wait for a quiet machine before each run; 0 = no check",
    )
    parser.add_argument("--start-timeout", type=float, default=60, help="server start-up limit, s")
    parser.add_argument("--keep-data", action="store_true", help="keep Glimpse data dirs")
    parser.add_argument("--no-install", action="store_true", help="never apt-get install tools")
    parser.add_argument(
        "--summary",
        type=Path,
        metavar="JSONL",
        help="print the table of an earlier run's raw records and exit",
    )
    args = parser.parse_args(argv)
    unknown = [phase for phase in args.phases if phase not in PHASES]
    if unknown:
        parser.error(f"unknown phase {', '.join(unknown)}; phases: {', '.join(PHASES)}")
    if args.runs < 1 or args.list_requests < 1:
        parser.error("--runs and --list-requests must be positive")
    return args


def check_prerequisites(
    args: argparse.Namespace, phases: Sequence[str], services: Sequence[str]
) -> None:
    install = not args.no_install
    for tool in ("curl", "dd", "sync"):
        ensure_tool(tool, {"curl": "curl"}.get(tool, "coreutils"), install)
    if "get" in phases:
        ensure_tool("wrk", "wrk", install)
    if {"upload", "download"} & set(phases):
        ensure_tool("nginx", "nginx", install)
    if "glimpse" in services:
        program = shlex.split(args.glimpse_cmd)[0]
        if not (shutil.which(program) or os.access(program, os.X_OK)):
            raise BenchError(
                f"Glimpse is not runnable: {program} not found (bootstrap .venv with "
                "`make serve` or `make test`, pass --glimpse-cmd, or use --no-glimpse)"
            )
    if "glance" in services:
        for script in ("setup.sh", "start.sh", "stop.sh"):
            if not (args.anchor / script).exists():
                raise BenchError(
                    f"Glance anchor script {args.anchor / script} is missing (--anchor)"
                )
        venv = Path(os.environ.get("GLANCE_VENV", "/tmp/glance-venv"))
        if not (venv / "bin" / "uwsgi").exists():
            print(
                f"Glance is not installed in {venv}: the first setup.sh takes a few minutes",
                flush=True,
            )


def on_signal(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.summary:
        print(report(Recorder.load(args.summary)))
        return 0
    phases = args.phases or list(PHASES)
    services = tuple(
        s
        for s in SERVICES
        if not (s == "glance" and args.no_glance) and not (s == "glimpse" and args.no_glimpse)
    )
    work: Path = args.work
    config = Config(
        runs=args.runs,
        workers=args.workers,
        services=services,
        glimpse_cmd=args.glimpse_cmd,
        glimpse_ready_log=args.glimpse_ready_log,
        anchor=args.anchor,
        work=work,
        data_file=args.file or work / "random-1GiB.bin",
        list_requests=args.list_requests,
        wrk_duration=args.wrk_duration,
        extra=args.extra,
        start_timeout=args.start_timeout,
        keep_data=args.keep_data,
    )
    try:
        check_prerequisites(args, phases, services)
    except BenchError as exc:
        print(f"run.py: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    atexit.register(stop_all)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    recorder = Recorder(work / "results" / f"run-{stamp}.jsonl")
    meter = Meter(args.foreign_max, args.quiet_max, args.quiet_wait)
    bench = Bench(config, meter, recorder)
    recorder.write(
        {
            "type": "run",
            "argv": sys.argv,
            "phases": phases,
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
            "machine": machine(),
        }
    )
    print(f"raw records: {recorder.path}", flush=True)
    try:
        for phase in phases:
            print(f"== {phase}", flush=True)
            began = time.monotonic()
            try:
                getattr(bench, f"phase_{phase}")()
            except BenchError as exc:
                recorder.error(phase, "-", str(exc))
            print(f"   ({phase}: {time.monotonic() - began:.0f} s)", flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping servers", file=sys.stderr)
        stop_all()
        print(report(recorder))
        return 130
    finally:
        stop_all()
    recorder.write({"type": "end", "loadavg": os.getloadavg()})
    table = report(recorder)
    recorder.path.with_suffix(".md").write_text(table + "\n")
    print()
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
