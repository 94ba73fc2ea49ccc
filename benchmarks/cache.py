#!/usr/bin/env python3
"""The node cache: a hit against nginx sendfile, a miss from Swift, and many first readers.

    .venv/bin/python benchmarks/cache.py [--size 1GiB] [--runs 3] [--readers 64]
                                         [--concurrent-size 256MiB]

One Swift all-in-one (tests/swift/harness.py) holds the image; a real `glimpse serve`
(two workers, `[cache] enabled`, Swift the default store) serves it. Each round times,
with curl to /dev/null:

- hit: GET of the image from the node's cache (zero-copy pathsend) — target at least
  0.9 times nginx's sendfile of the same bytes (a hard link of the cached file);
- nginx: GET of that file from nginx with sendfile on;
- miss: GET after `DELETE /v2/cache/{id}`: one read of Swift, filling the cache while
  the bytes stream (reported, no target).

Then one image of `--concurrent-size` is read by `--readers` curl processes started at
once, none cached: the report gives how many GETs of the object Swift logged (the
target is one) and the readers' time to first byte (median, 95th percentile, max).

Needs Glimpse's virtualenv (swiftclient for the harness) and nginx; run with another
Python it re-runs itself with .venv/bin/python. Prints a Markdown table.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "tests"))

import argparse
import contextlib
import json
import shutil
import statistics
import subprocess
import time
from collections.abc import Iterator
from typing import Any

from common import GIB, MIB, BenchError, make_data, parse_size, reexec_in_venv
from servers import Nginx
from tools import api

DEFAULT_WORK = Path(os.environ.get("GLIMPSE_BENCH_DIR", "/tmp/glimpse-bench")) / "cache"
CONTAINER = "glimpse-bench-cache"
RATIO_TARGET = 0.9


def curl_get(url: str) -> dict[str, float]:
    """One GET to /dev/null: status, total seconds, seconds to first byte, bytes."""
    done = subprocess.run(
        [
            "curl", "-sS", "--max-time", "900", "-o", "/dev/null",
            "-w", "%{http_code} %{time_total} %{time_starttransfer} %{size_download}", url,
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise BenchError(f"curl {url} failed: {done.stderr.strip()}")
    code, total, first, size = done.stdout.split()
    return {"code": int(code), "seconds": float(total), "ttfb": float(first), "bytes": float(size)}


def checked(result: dict[str, float], size: int) -> float:
    """The seconds of a transfer that answered 200 with every byte."""
    if result["code"] != 200 or result["bytes"] != size:
        raise BenchError(f"a GET answered {result['code']} with {result['bytes']:.0f} bytes")
    return result["seconds"]


def upload(url: str, path: Path) -> str:
    image_id = str(
        api(url, "POST", "/v2/images", {"name": path.name, "disk_format": "raw",
                                         "container_format": "bare"})["id"]
    )  # fmt: skip
    done = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
         "-H", "Content-Type: application/octet-stream", "-T", str(path),
         f"{url}/v2/images/{image_id}/file"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.stdout.strip() != "204":
        raise BenchError(f"upload of {path} answered {done.stdout} {done.stderr}")
    return image_id


def settled(cache_dir: Path, image_id: str, timeout: float = 600) -> None:
    """Until the image's fill is over (its temporary file gone) and it is listed."""
    deadline = time.monotonic() + timeout
    while (cache_dir / "incomplete" / image_id).exists() or not (
        cache_dir / "images" / image_id
    ).exists():
        if time.monotonic() > deadline:
            raise BenchError(f"image {image_id} was not cached in {timeout}s")
        time.sleep(0.1)
    time.sleep(0.2)  # the index commits just after the rename


def swift_gets(swift: Any, image_id: str) -> int:
    text = swift.log("proxy").read_text(errors="replace")
    return text.count(f"GET /v1/AUTH_test/{CONTAINER}/{image_id} ")


def rate(size: int, seconds: float) -> float:
    return size / seconds / MIB


@contextlib.contextmanager
def glimpse_node(work: Path, swift: Any, max_size: int) -> Iterator[Any]:
    from glimpse.testing import ServerProcess

    store = {
        "DRIVER": "swift", "AUTH_VERSION": "1", "AUTH_URL": swift.auth_url,
        "USER": swift.user, "KEY": swift.key, "CONTAINER": CONTAINER,
    }  # fmt: skip
    env = {f"GLIMPSE_STORES__SWIFT__{k}": json.dumps(v) for k, v in store.items()}
    env |= {
        "GLIMPSE_STORES__DEFAULT": '"swift"',
        "GLIMPSE_CACHE__ENABLED": "true",
        "GLIMPSE_CACHE__MAX_SIZE": str(max_size),
        "GLIMPSE_CACHE__MAX_FRACTION": "1",
        "GLIMPSE_LOGGING__ACCESS_LOG": "false",
        "GLIMPSE_SCRUB__INTERVAL": "0",
    }
    data_dir = work / "glimpse"
    shutil.rmtree(data_dir, ignore_errors=True)
    node = ServerProcess(data_dir=data_dir, env=env, workers=2)
    node.start()
    try:
        yield node
    finally:
        node.stop()


def run(args: argparse.Namespace) -> list[str]:
    from swift.harness import run_swift

    work: Path = args.work
    size, burst = args.size, args.concurrent_size
    data, burst_data = work / f"data-{size}", work / f"burst-{burst}"
    make_data(data, size)
    make_data(burst_data, burst)
    swift_dir = work / "swift"
    shutil.rmtree(swift_dir, ignore_errors=True)
    swift_dir.mkdir(parents=True)
    rows: list[str] = []
    with run_swift(swift_dir) as swift, glimpse_node(work, swift, 4 * max(size, burst)) as node:
        cache_dir = node.data_dir / "cache"
        image_id = upload(node.url, data)
        image_url = f"{node.url}/v2/images/{image_id}/file"
        hits, misses, nginx_runs = [], [], []
        for _ in range(args.runs):
            api(node.url, "DELETE", f"/v2/cache/{image_id}")
            misses.append(checked(curl_get(image_url), size))
            settled(cache_dir, image_id)
            hits.append(checked(curl_get(image_url), size))
        # The same bytes as the cached file, readable by nginx's unprivileged workers.
        nginx = Nginx(work, data)
        nginx.start()
        try:
            for _ in range(args.runs):
                nginx_runs.append(checked(curl_get(f"{nginx.url}/f/{data.name}"), size))
        finally:
            nginx.stop()
        hit, miss_s, base = (statistics.median(v) for v in (hits, misses, nginx_runs))
        ratio = base / hit
        verdict = "ok" if ratio >= RATIO_TARGET else "MISS"
        rows += [
            f"| hit, {size // MIB} MiB from the cache | {rate(size, hit):.0f} MiB/s | "
            f"{ratio:.2f} x nginx | >= {RATIO_TARGET} | {verdict} |",
            f"| nginx sendfile of the cached file | {rate(size, base):.0f} MiB/s | | | |",
            f"| miss from Swift (fills the cache) | {rate(size, miss_s):.0f} MiB/s | "
            f"{hit / miss_s:.2f} x hit | report | |",
        ]
        burst_id = upload(node.url, burst_data)
        before = swift_gets(swift, burst_id)
        burst_url = f"{node.url}/v2/images/{burst_id}/file"
        script = (
            "import json,subprocess,sys\n"
            "out=subprocess.run(['curl','-sS','-o','/dev/null','-w',"
            "'%{http_code} %{time_starttransfer} %{time_total}',sys.argv[1]],"
            "capture_output=True,text=True).stdout.split()\n"
            "print(json.dumps(out))\n"
        )
        readers = [
            subprocess.Popen([sys.executable, "-c", script, burst_url], stdout=subprocess.PIPE)
            for _ in range(args.readers)
        ]
        results = [json.loads(p.communicate()[0]) for p in readers]
        settled(cache_dir, burst_id)
        codes = {r[0] for r in results}
        ttfb = sorted(float(r[1]) for r in results)
        reads = swift_gets(swift, burst_id) - before
        p95 = ttfb[min(len(ttfb) - 1, int(0.95 * len(ttfb)))]
        verdict = "ok" if reads == 1 and codes == {"200"} else "MISS"
        rows += [
            f"| {args.readers} first readers of {burst // MIB} MiB: Swift GETs | {reads} | "
            f"statuses {sorted(codes)} | 1 | {verdict} |",
            f"| time to first byte: median / p95 / max | {statistics.median(ttfb) * 1000:.0f} / "
            f"{p95 * 1000:.0f} / {ttfb[-1] * 1000:.0f} ms | | report | |",
        ]
    return rows


def main() -> int:
    reexec_in_venv()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=GIB, help="image size (1GiB)")
    parser.add_argument("--runs", type=int, default=3, help="timed rounds (medians shown)")
    parser.add_argument("--readers", type=int, default=64, help="concurrent first readers")
    parser.add_argument(
        "--concurrent-size", type=parse_size, default=256 * MIB, help="their image's size"
    )
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="scratch directory")
    args = parser.parse_args()
    if shutil.which("nginx") is None or shutil.which("curl") is None:
        print("cache.py needs nginx and curl on PATH", file=sys.stderr)
        return 2
    try:
        rows = run(args)
    except BenchError as exc:
        print(f"cache.py: {exc}", file=sys.stderr)
        return 1
    print("| what | figure | ratio | target | |\n| --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
