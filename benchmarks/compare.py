#!/usr/bin/env python3
"""Glimpse against real Glance 33 and the machine's own limits, side by side.

Runs on demand, never in CI. Each phase starts each service on a fresh data
directory (Glance through ../shared/anchors/glance/setup.sh --reset), measures,
stops it, and prints medians and the ratios the targets are stated in.

    python3 benchmarks/compare.py [limits data meta startup] [--runs N] [--no-glance]

Needs curl, dd, wrk and nginx (apt-get install wrk nginx-light), a bootstrapped
.venv (make test or make serve does it) and, for the Glance column, the anchor
set up once with ../shared/anchors/glance/setup.sh.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANCHOR = ROOT.parent / "shared" / "anchors" / "glance"
WORK = Path(os.environ.get("GLIMPSE_BENCH_DIR", "/tmp/glimpse-bench"))
DATA_FILE = WORK / "rand1g.bin"
GIB = 1 << 30
MB = 1e6
RESULTS: dict[str, dict[str, float]] = {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree_cpu(pid: int) -> float:
    """utime+stime in seconds of a process and its descendants."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(c) for c in children)
        except OSError:
            continue
    return total


def tree_pids(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def rss_mib(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/versions", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"{url} did not answer in {timeout}s")


@dataclass
class Service:
    """A running service under test: its URL and the PID whose tree is the server."""

    name: str
    url: str
    pid: int
    stop: Callable[[], None]
    started_in: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


@contextmanager
def glimpse(workers: int = 2) -> Iterator[Service]:
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="glimpse-bench-", dir=WORK))
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/glimpse"), "serve", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers), "--data-dir", str(data)],
        stdout=subprocess.DEVNULL, stderr=open(WORK / "glimpse.log", "ab"),  # noqa: SIM115
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def stop() -> None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)

    try:
        wait_ready(url)
        # Ready means every worker answers: poll until each has served once.
        elapsed = time.perf_counter() - started
        yield Service("glimpse", url, proc.pid, stop, elapsed)
    finally:
        stop()


@contextmanager
def glance(workers: int = 2) -> Iterator[Service]:
    port = free_port()
    subprocess.run([str(ANCHOR / "setup.sh"), "--reset"], check=True, capture_output=True)
    started = time.perf_counter()
    out = subprocess.run(
        [str(ANCHOR / "start.sh"), str(port), str(workers)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    pid = int(out.stdout.strip())

    def stop() -> None:
        subprocess.run([str(ANCHOR / "stop.sh"), str(port)], check=False, capture_output=True)

    try:
        yield Service("glance", f"http://127.0.0.1:{port}", pid, stop, elapsed)
    finally:
        stop()


def services(with_glance: bool) -> list[Callable[[], AbstractContextManager[Service]]]:
    return [glimpse, glance] if with_glance else [glimpse]


def record(service: str, metric: str, value: float) -> None:
    RESULTS.setdefault(metric, {})[service] = value
    with open(WORK / "results.jsonl", "a") as out:
        out.write(json.dumps({"t": time.time(), "service": service, "metric": metric,
                              "value": value}) + "\n")  # fmt: skip


def create(url: str, name: str = "bench") -> str:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    body = json.dumps({"name": name, "disk_format": "raw", "container_format": "bare"})
    conn.request("POST", "/v2/images", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    if response.status != 201:
        raise RuntimeError(f"create answered {response.status}: {data[:200]!r}")
    return str(json.loads(data)["id"])


def curl(*args: str) -> tuple[int, float]:
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", *args],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    return int(out[0]), float(out[1])


# -- phases -------------------------------------------------------------------


def ensure_data() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    if not DATA_FILE.exists() or DATA_FILE.stat().st_size != GIB:
        with open(DATA_FILE, "wb") as out:
            for _ in range(1024):
                out.write(os.urandom(1 << 20))


def phase_limits(runs: int) -> None:
    ensure_data()
    for algo in ("sha512", "md5"):
        rates = []
        for _ in range(runs):
            digest = hashlib.new(algo)
            with open(DATA_FILE, "rb", buffering=0) as src:
                chunks = iter(lambda: src.read(65536), b"")
                started = time.perf_counter()
                for chunk in chunks:
                    digest.update(chunk)
            rates.append(GIB / (time.perf_counter() - started) / MB)
        record("limit", f"{algo} MB/s", statistics.median(rates))
    rates = []
    target = WORK / "dd.out"
    for _ in range(runs):
        target.unlink(missing_ok=True)
        subprocess.run(["sync"], check=True)
        out = subprocess.run(
            ["dd", f"if={DATA_FILE}", f"of={target}", "bs=1M", "conv=fdatasync"],
            check=True, capture_output=True, text=True,
        ).stderr  # fmt: skip
        rates.append(GIB / float(re.search(r"copied, ([\d.]+) s", out).group(1)) / MB)  # type: ignore[union-attr]
    target.unlink(missing_ok=True)
    record("limit", "dd fdatasync MB/s", statistics.median(rates))
    record("limit", "nginx download MB/s", nginx_download(runs))


def nginx_download(runs: int) -> float:
    if shutil.which("nginx") is None:
        raise SystemExit("nginx is missing: apt-get install nginx-light")
    port = free_port()
    conf = WORK / "nginx.conf"
    conf.write_text(
        f"daemon off; worker_processes 1; pid {WORK}/nginx.pid; error_log {WORK}/nginx.err;\n"
        "events { worker_connections 64; }\n"
        f"http {{ access_log off; sendfile on; tcp_nopush on;\n"
        f"  server {{ listen 127.0.0.1:{port}; root {WORK}; }} }}\n"
    )
    proc = subprocess.Popen(["nginx", "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        times = [curl(f"http://127.0.0.1:{port}/{DATA_FILE.name}")[1] for _ in range(runs)]
    finally:
        proc.terminate()
        proc.wait()
    return GIB / statistics.median(times) / MB


def phase_data(runs: int, with_glance: bool) -> None:
    ensure_data()
    for start in services(with_glance):
        with start() as svc:
            uploads: dict[str, list[float]] = {"sized": [], "chunked": []}
            cpu: list[float] = []
            downloads: list[float] = []
            for i in range(runs):
                for mode in ("sized", "chunked"):
                    image = create(svc.url, f"up-{i}")
                    subprocess.run(["sync"], check=True)
                    extra = ["-H", "Transfer-Encoding: chunked"] if mode == "chunked" else []
                    before = tree_cpu(svc.pid)
                    status, seconds = curl(
                        "-H", "Expect:", "-H", "Content-Type: application/octet-stream",
                        "-X", "PUT", "-T", str(DATA_FILE), *extra,
                        f"{svc.url}/v2/images/{image}/file",
                    )  # fmt: skip
                    if status != 204:
                        raise RuntimeError(f"{svc.name} upload answered {status}")
                    if mode == "sized":
                        cpu.append(tree_cpu(svc.pid) - before)
                    uploads[mode].append(GIB / seconds / MB)
                status, seconds = curl(f"{svc.url}/v2/images/{image}/file")
                downloads.append(GIB / seconds / MB)
            record(svc.name, "upload MB/s", statistics.median(uploads["sized"]))
            record(svc.name, "upload chunked MB/s", statistics.median(uploads["chunked"]))
            record(svc.name, "upload server CPU s/GiB", statistics.median(cpu))
            record(svc.name, "download MB/s", statistics.median(downloads))
            record(svc.name, "worker peak RSS MiB",
                   max(rss_mib(p, "VmHWM") for p in tree_pids(svc.pid)[1:]))  # fmt: skip


def phase_meta(runs: int, with_glance: bool) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    for start in services(with_glance):
        with start() as svc:
            started = time.perf_counter()
            before = tree_cpu(svc.pid)
            ids = [create(svc.url, f"bench-{i}") for i in range(1000)]
            elapsed = time.perf_counter() - started
            record(svc.name, "creates/s", 1000 / elapsed)
            record(svc.name, "create server CPU ms", (tree_cpu(svc.pid) - before))
            times = sorted(curl(f"{svc.url}/v2/images?limit=1000")[1] for _ in range(11))
            record(svc.name, "list 1000 ms", statistics.median(times) * 1000)
            rates = []
            for _ in range(runs):
                out = subprocess.run(
                    ["wrk", "-t2", "-c32", "-d10s", "--latency", f"{svc.url}/v2/images/{ids[0]}"],
                    check=True, capture_output=True, text=True,
                ).stdout  # fmt: skip
                rates.append(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)))  # type: ignore[union-attr]
                if "Non-2xx" in out:
                    raise RuntimeError(f"{svc.name}: wrk saw errors:\n{out}")
            record(svc.name, "GET req/s", statistics.median(rates))


def phase_startup(runs: int, with_glance: bool) -> None:
    for start in services(with_glance):
        times, rss = [], []
        for _ in range(runs):
            with start() as svc:
                times.append(svc.started_in)
                time.sleep(1)
                rss.extend(rss_mib(p) for p in tree_pids(svc.pid)[1:])
        record(svc.name, "start-up s", statistics.median(times))
        record(svc.name, "RSS per worker MiB", max(rss))


TARGETS = [
    # metric, glimpse/glance ratio wanted, or a limit comparison
    ("upload MB/s", 2.5),
    ("upload chunked MB/s", 2.5),
    ("download MB/s", None),
    ("creates/s", 10),
    ("GET req/s", 10),
    ("list 1000 ms", 0.1),
    ("start-up s", None),
    ("RSS per worker MiB", None),
]


def summary() -> None:
    print(f"\n{'metric':<28}{'glimpse':>12}{'glance':>12}{'ratio':>10}  target")
    for metric, values in RESULTS.items():
        mine, theirs = values.get("glimpse"), values.get("glance")
        if mine is None:
            continue
        ratio = f"{mine / theirs:.2f}x" if theirs else "-"
        shown = f"{theirs:.1f}" if theirs is not None else "-"
        print(f"{metric:<28}{mine:>12.1f}{shown:>12}{ratio:>10}")
    limits = {k: v["limit"] for k, v in RESULTS.items() if "limit" in v}
    if limits:
        print("\nphysical limits:", ", ".join(f"{k} {v:.0f}" for k, v in limits.items()))
    upload = RESULTS.get("upload MB/s", {}).get("glimpse")
    if upload and "sha512 MB/s" in limits and "dd fdatasync MB/s" in limits:
        floor = min(limits["sha512 MB/s"], limits["dd fdatasync MB/s"])
        print(f"upload / min(sha512, fdatasync) = {upload / floor:.2f} (target >= 0.9)")
    download = RESULTS.get("download MB/s", {}).get("glimpse")
    if download and "nginx download MB/s" in limits:
        print(f"download / nginx sendfile = {download / limits['nginx download MB/s']:.2f} "
              "(target >= 0.9)")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phases", nargs="*", default=["limits", "data", "meta", "startup"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-glance", action="store_true", help="measure Glimpse only")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    with_glance = not args.no_glance
    if with_glance and not (Path("/tmp/glance-venv/bin/uwsgi")).exists():
        print("Glance anchor not set up: run ../shared/anchors/glance/setup.sh", file=sys.stderr)
        return 2
    for phase in args.phases:
        print(f"== {phase}", flush=True)
        if phase == "limits":
            phase_limits(args.runs)
        else:
            {"data": phase_data, "meta": phase_meta, "startup": phase_startup}[phase](
                args.runs, with_glance
            )
    summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
