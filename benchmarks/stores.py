#!/usr/bin/env python3
"""Glimpse's s3 and swift store drivers against a real Swift, beside the direct transfer.

    .venv/bin/python benchmarks/stores.py [--size 1GiB] [--runs 3] [--stores s3,swift]
    .venv/bin/python benchmarks/stores.py --summary /tmp/glimpse-bench/results/stores-....jsonl

One Swift all-in-one (tests/swift/harness.py: proxy with tempauth and s3api, object,
container and account servers, one process each) serves both APIs. For each store a
real `glimpse serve` (one worker) runs with `[stores] default = "s3"` or `"swift"`,
and every round times these transfers of the same random file:

- upload through Glimpse: curl PUT /v2/images/{id}/file from the file;
- download through Glimpse: curl GET .../file to /dev/null;
- the same bytes directly: boto3 upload_fileobj / download_fileobj with the default
  TransferConfig against the s3api (s3), or the `swift` CLI (python-swiftclient's
  `swift upload --segment-size N --use-slo`, `swift download -o /dev/null`) (swift);
- for scale (swift): `swift upload` without segments, one streamed PUT, which is how
  the swift driver sends an image up to its large_object_size (5 GiB).

The direct transfer is what the drivers can reach at best. Targets: Glimpse at 0.9 times
it or more, and the Glimpse server (its process and its worker) growing by less than
64 MiB of VmRSS during a transfer (sampled from /proc every 20 ms). CPU is split as
run.py does: Glimpse, Swift (its four servers), client (curl, the boto3 and swift
children) and foreign (other jobs; runs during which they used more than --foreign-max
cores are BUSY).

Unlike run.py this needs Glimpse's virtualenv (boto3, swiftclient) and the test
harness; run with another Python it re-runs itself with .venv/bin/python. See
benchmarks/README.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# glimpse.testing from src/, like run.py; and tests/ for the Swift harness and the `peers`
# module it imports. Benchmarks run on demand and never in CI, so reaching into the test
# suite's helpers is acceptable here: it is the one place that knows how to run Swift.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "tests"))

import argparse
import contextlib
import hashlib
import http.client
import importlib.util
import json
import re
import shutil
import signal
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from common import GIB, MB, MIB, ROOT, BenchError
from metering import (
    HZ,
    Meter,
    Recorder,
    Sample,
    add_meter_options,
    memory,
    meter_from,
    process_tree,
    tree_ticks,
)
from phases.images import new_image, upload
from report import Stat, shown, statistic
from tools import api, client, curl

VENV = ROOT / ".venv"
PHASE = "stores"
STORES = ("s3", "swift")
SWIFT_SERVERS = ("proxy", "object", "container", "account")
DEFAULT_WORK = Path(os.environ.get("GLIMPSE_BENCH_DIR", "/tmp/glimpse-bench"))
BUCKET = "glimpse-bench-{store}"  # Glimpse's bucket (s3) or container (swift)
DIRECT_BUCKET = "bench-direct"  # the direct transfers' bucket and container
RSS_TARGET_MIB = 64
RATIO_TARGET = 0.9
SAMPLE_EVERY = 0.02  # seconds between VmRSS samples

# The direct transfers run as children of this script, so that their CPU is client CPU
# (getrusage of children); their imports and start-up stay out of the timed part and out of
# the client CPU shown, which is what the child used while the clock ran.
CHILD_BOTO3 = """\
import json, os, resource, sys, time
import boto3, botocore.config
endpoint, region, action, bucket, key, path = sys.argv[1:7]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    region_name=region,
    config=botocore.config.Config(s3={"addressing_style": "path"}),
)
s3.head_bucket(Bucket=bucket)  # connected and signed before the clock starts
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
with open(path, "rb") if action == "upload" else open(os.devnull, "wb") as file:
    cpu0, started = cpu(), time.perf_counter()
    if action == "upload":
        s3.upload_fileobj(file, bucket, key)  # TransferConfig defaults
    else:
        s3.download_fileobj(bucket, key, file)
    seconds, used = time.perf_counter() - started, cpu() - cpu0
print(json.dumps({"seconds": seconds, "cpu": used}))
"""
# The `swift` console script is swiftclient.shell:main; calling it here times the CLI's
# own work (auth and the transfer) without the interpreter's start-up and imports.
CHILD_SWIFT = """\
import json, resource, sys, time
from swiftclient import shell
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
cpu0, started = cpu(), time.perf_counter()
try:
    shell.main(["swift", *sys.argv[1:]])
    code = 0
except SystemExit as exit:
    code = exit.code if isinstance(exit.code, int) else 1
seconds, used = time.perf_counter() - started, cpu() - cpu0
print(json.dumps({"seconds": seconds, "cpu": used, "code": code}), file=sys.stderr)
"""


def reexec_in_venv() -> None:
    """Run again with Glimpse's virtualenv Python when this one lacks boto3 or swiftclient."""
    if all(importlib.util.find_spec(name) for name in ("boto3", "swiftclient", "pytest")):
        return
    python = VENV / "bin" / "python"
    if python.exists() and Path(sys.prefix).resolve() != VENV.resolve():
        os.execv(python, [str(python), __file__, *sys.argv[1:]])  # noqa: S606
    raise SystemExit(
        "stores.py needs Glimpse's virtualenv (boto3, python-swiftclient, pytest): "
        "bootstrap .venv with `make test`"
    )


def parse_size(text: str) -> int:
    """Bytes from ``1GiB``, ``256MiB``, ``512M``, ``4096`` (K, M, G are binary too)."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmg]?)(?:i?b)?\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1GiB, 256MiB)")
    value = int(match.group(1)) << (10 * " kmg".index(match.group(2).lower() or " "))
    if value < MIB:
        raise argparse.ArgumentTypeError("the size must be at least 1 MiB")
    return value


def size_label(size: int) -> str:
    if size % GIB == 0:
        return f"{size // GIB} GiB"
    if size % MIB == 0:
        return f"{size // MIB} MiB"
    return f"{size} B"


def ensure_data(path: Path, size: int) -> dict[str, str]:
    """The random file (os.urandom, made once) in the page cache; its md5 and sha512.

    The digests are cached beside it as phases/images.py does, so the 1 GiB file and its
    digests are shared with run.py.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.stat().st_size != size:
        print(f"writing {size} random bytes to {path}", flush=True)
        partial = path.with_suffix(".partial")
        with open(partial, "wb") as out:
            for offset in range(0, size, MIB):
                out.write(os.urandom(min(MIB, size - offset)))
        partial.replace(path)
    sidecar = path.with_suffix(".digests.json")
    stamp = [path.stat().st_size, path.stat().st_mtime_ns]
    known = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    if known.get("stamp") != stamp:
        known = {"stamp": stamp, **client("hash", str(path), "md5+sha512")["hex"]}
        sidecar.write_text(json.dumps(known))
    warm(path)
    return {"md5": known["md5"], "sha512": known["sha512"]}


def warm(path: Path) -> None:
    with open(path, "rb", buffering=0) as source:  # into the page cache
        while source.read(4 * MIB):
            pass


def toml(value: str | bool) -> str:
    """An environment override that parses as the TOML value meant (a JSON string is a
    TOML basic string); unquoted, ``1`` would be an integer and fail a string option."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def glimpse_environment(store: str, swift: Any) -> dict[str, str]:
    """``GLIMPSE_*`` settings choosing the store, with the driver's options for this Swift."""
    if store == "s3":
        options: dict[str, str | bool] = {
            "driver": "s3",
            "endpoint_url": swift.s3_endpoint,
            "region": swift.s3_region,
            "bucket": BUCKET.format(store=store),
            "access_key": swift.access_key,
            "secret_key": swift.secret_key,
            "addressing": "path",
            "create_bucket": True,
        }
    else:
        options = {
            "driver": "swift",
            "auth_version": "1",
            "auth_url": swift.auth_url,
            "user": swift.user,
            "key": swift.key,
            "container": BUCKET.format(store=store),
        }
    prefix = f"GLIMPSE_STORES__{store.upper()}__"
    environ = {f"{prefix}{name.upper()}": toml(value) for name, value in options.items()}
    environ["GLIMPSE_STORES__DEFAULT"] = toml(store)
    return environ


class RssSampler:
    """VmRSS of the server and all its workers, summed, every SAMPLE_EVERY seconds while
    the block runs; ``growth_mib`` is the peak over the sum just before the block."""

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        self.pids = pids
        self.baseline = self.peak = self.total()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def total(self) -> float:
        found = (memory(pid) for pid in self.pids())
        return sum(info["rss_mib"] for info in found if info is not None)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            self.peak = max(self.peak, self.total())

    def __enter__(self) -> RssSampler:
        self.baseline = self.peak = self.total()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.total())

    @property
    def growth_mib(self) -> float:
        return round(self.peak - self.baseline, 1)


@dataclass
class Bench:
    """What every transfer needs: the run's settings, the Swift, the meter and records."""

    size: int
    data_file: Path
    digests: dict[str, str]
    swift: Any
    meter: Meter
    recorder: Recorder
    segment_size: int
    work: Path
    glimpse_set: dict[str, str]  # more GLIMPSE_* settings from --set

    def swift_pids(self) -> list[int]:
        # The harness keeps its server processes private; reading their pids is all this does.
        servers = self.swift._servers
        return [servers[name].process.pid for name in SWIFT_SERVERS]

    def per_gib(self, seconds: float) -> float:
        return round(seconds * GIB / self.size, 3)

    def timed(
        self,
        action: Callable[[], dict[str, Any]],
        metric: str,
        service: str,
        root: int | None = None,
    ) -> Sample:
        """Time ``action`` with the Meter. It returns the transfer's ``seconds`` as its
        client measured them and, for a Python child, the ``cpu`` that child used
        meanwhile (else the client CPU is all of the children's). The Glimpse server
        (``root``'s tree), if any, and Swift count as servers; their CPU is split apart."""

        def glimpse_pids() -> list[int]:
            return process_tree(root) if root else []

        def servers() -> list[int]:
            return glimpse_pids() + self.swift_pids()

        swift: dict[str, dict[int, int]] = {}

        def transfer() -> dict[str, Any]:
            swift["before"] = tree_ticks(self.swift_pids())
            try:
                return action()
            finally:
                swift["after"] = tree_ticks(self.swift_pids())

        sampler = RssSampler(glimpse_pids) if root else None
        with sampler or contextlib.nullcontext():
            result, timing = self.meter.measure(transfer, servers)
        seconds = float(result["seconds"])
        client_cpu = float(result.get("cpu", timing.client_cpu))
        before = swift["before"]
        swift_cpu = sum(t - before.get(pid, 0) for pid, t in swift["after"].items()) / HZ
        values = {
            "MB_s": round(self.size / seconds / MB, 1),
            "seconds": round(seconds, 3),
            "swift_cpu_s": self.per_gib(swift_cpu),
            "client_cpu_s": self.per_gib(client_cpu),
        }
        if sampler is not None:
            values["server_cpu_s"] = self.per_gib(timing.server_cpu - swift_cpu)
            values["rss_growth_mib"] = sampler.growth_mib
        detail: dict[str, Any] = {"bytes": self.size}
        if sampler is not None:
            detail["rss_mib"] = {"before": sampler.baseline, "peak": sampler.peak}
        return Sample(PHASE, service, metric, values, timing, detail=detail)


def glimpse_transfers(bench: Bench, store: str, server: Any, first: bool) -> list[Sample]:
    """Upload through Glimpse, check the image, download it, delete it."""
    root = server.process.pid
    image_id = new_image(server, f"stores-{store}")
    warm(bench.data_file)

    def put() -> dict[str, Any]:
        result = upload(server, image_id, bench.data_file, chunked=False)
        if result["code"] != 204:
            raise BenchError(f"glimpse ({store}) upload answered {result['code']}")
        return result

    def get() -> dict[str, Any]:
        result = curl(f"{server.url}/v2/images/{image_id}/file")
        if result["code"] != 200 or result["down"] != bench.size:
            raise BenchError(
                f"glimpse ({store}) download answered {result['code']} "
                f"with {result['down']:.0f} bytes"
            )
        return result

    samples = [bench.timed(put, f"{store}_upload", "glimpse", root=root)]
    check_image(server, image_id, bench)
    if first:
        check_download(server, image_id, bench)
    samples.append(bench.timed(get, f"{store}_download", "glimpse", root=root))
    api(server.url, "DELETE", f"/v2/images/{image_id}")
    return samples


def check_image(server: Any, image_id: str, bench: Bench) -> None:
    """After an upload: active, the file's size, md5 and sha512."""
    image = api(server.url, "GET", f"/v2/images/{image_id}")
    problems = []
    if image.get("status") != "active":
        problems.append(f"status {image.get('status')}")
    if image.get("size") != bench.size:
        problems.append(f"size {image.get('size')}")
    if image.get("checksum") != bench.digests["md5"]:
        problems.append("checksum is not the file's md5")
    if image.get("os_hash_value") not in (None, bench.digests["sha512"]):
        problems.append("os_hash_value is not the file's sha512")
    if problems:
        raise BenchError(f"image {image_id} after upload: {', '.join(problems)}")


def check_download(server: Any, image_id: str, bench: Bench) -> None:
    """Once per store, untimed: the bytes Glimpse serves back are the file's."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    digest = hashlib.md5(usedforsecurity=False)
    try:
        conn.request("GET", f"/v2/images/{image_id}/file")
        response = conn.getresponse()
        while chunk := response.read(MIB):
            digest.update(chunk)
    finally:
        conn.close()
    if response.status != 200 or digest.hexdigest() != bench.digests["md5"]:
        raise BenchError(f"image {image_id} downloads as other bytes ({response.status})")


def child(script: str, *args: str, env: dict[str, str]) -> dict[str, Any]:
    """Run a direct-transfer child; returns the JSON line it printed (stdout or stderr)."""
    done = subprocess.run(
        [sys.executable, "-P", "-c", script, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
        timeout=1800,
    )
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise BenchError(f"direct transfer failed: {(done.stderr or done.stdout)[-1500:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    if result.get("code", 0) != 0:
        raise BenchError(f"swift CLI exited {result['code']}: {done.stderr[-1500:]}")
    return result


def direct_transfers(bench: Bench, store: str) -> list[Sample]:
    """The same bytes straight to Swift: boto3 (s3) or the swift CLI (swift); each object
    is checked for its size (untimed) and deleted. For swift also one plain PUT without
    segments, which is how the driver sends an image up to its large_object_size."""
    if store == "s3":
        return direct_s3(bench)
    swift = bench.swift
    env = {"ST_AUTH": swift.auth_url, "ST_USER": swift.user, "ST_KEY": swift.key}
    file = str(bench.data_file)
    slo, single = f"direct-{uuid.uuid4().hex}", f"direct-{uuid.uuid4().hex}"
    segments = ["--segment-size", str(bench.segment_size), "--use-slo"]

    def cli(*args: str) -> Callable[[], dict[str, Any]]:
        return lambda: child(CHILD_SWIFT, *args, env=env)

    def check(key: str) -> None:
        with contextlib.closing(swift.connection()) as connection:
            stored = int(connection.head_object(DIRECT_BUCKET, key)["content-length"])
        if stored != bench.size:
            raise BenchError(f"swift CLI stored {stored} bytes, not {bench.size}")

    warm(bench.data_file)
    up = cli("upload", *segments, "--object-name", slo, DIRECT_BUCKET, file)
    samples = [bench.timed(up, "swift_upload", "direct")]
    check(slo)
    down = cli("download", DIRECT_BUCKET, slo, "-o", os.devnull)
    samples.append(bench.timed(down, "swift_download", "direct"))
    warm(bench.data_file)
    up = cli("upload", "--object-name", single, DIRECT_BUCKET, file)
    samples.append(bench.timed(up, "swift_upload_single", "direct"))
    check(single)
    with contextlib.closing(swift.connection()) as connection:
        connection.delete_object(DIRECT_BUCKET, slo, query_string="multipart-manifest=delete")
        connection.delete_object(DIRECT_BUCKET, single)
    return samples


def direct_s3(bench: Bench) -> list[Sample]:
    swift = bench.swift
    env = {"AWS_ACCESS_KEY_ID": swift.access_key, "AWS_SECRET_ACCESS_KEY": swift.secret_key}
    key = f"direct-{uuid.uuid4().hex}"
    where = [swift.s3_endpoint, swift.s3_region]
    s3 = swift.s3()
    warm(bench.data_file)

    def put() -> dict[str, Any]:
        args = [*where, "upload", DIRECT_BUCKET, key, str(bench.data_file)]
        return child(CHILD_BOTO3, *args, env=env)

    def get() -> dict[str, Any]:
        args = [*where, "download", DIRECT_BUCKET, key, str(bench.data_file)]
        return child(CHILD_BOTO3, *args, env=env)

    samples = [bench.timed(put, "s3_upload", "direct")]
    stored = s3.head_object(Bucket=DIRECT_BUCKET, Key=key)["ContentLength"]
    if stored != bench.size:
        raise BenchError(f"boto3 stored {stored} bytes, not {bench.size}")
    samples.append(bench.timed(get, "s3_download", "direct"))
    s3.delete_object(Bucket=DIRECT_BUCKET, Key=key)
    return samples


def measure_store(bench: Bench, store: str, runs: int, extra: int) -> None:
    """A fresh Glimpse on this store; rounds of (Glimpse up, down, then direct) until
    every figure has ``runs`` clean runs, at most runs + extra rounds."""
    from glimpse.testing import ServerProcess

    data_dir = bench.work / "data" / f"stores-{store}"
    shutil.rmtree(data_dir, ignore_errors=True)
    env = {**glimpse_environment(store, bench.swift), **bench.glimpse_set}
    server = ServerProcess(data_dir, workers=1, env=env)
    server.start(timeout=120)
    try:
        if store == "s3":
            bench.swift.s3().create_bucket(Bucket=DIRECT_BUCKET)
        clean: dict[tuple[str, str], int] = {}
        for attempt in range(1, runs + extra + 1):
            for sample in glimpse_transfers(bench, store, server, attempt == 1) + (
                direct_transfers(bench, store)
            ):
                sample.attempt = attempt
                bench.recorder.sample(sample)
                key = (sample.service, sample.metric)
                clean[key] = clean.get(key, 0) + sample.timing.clean
            if min(clean.values()) >= runs:
                break
        bench.recorder.write(
            {
                "type": "server",
                "phase": PHASE,
                "service": f"glimpse-{store}",
                "memory": [
                    {**info, "role": "master" if index == 0 else "worker"}
                    for index, pid in enumerate(process_tree(server.process.pid))
                    if (info := memory(pid)) is not None
                ],
            }
        )
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


# -- the table


@dataclass(frozen=True)
class Row:
    label: str
    metric: str
    key: str
    unit: str
    ratio: bool = False  # show Glimpse / direct, target RATIO_TARGET
    at_most: float | None = None  # target for the Glimpse figure
    aggregate: str = "median"
    glimpse_metric: str = ""  # Glimpse's figure from another metric (default: metric)
    info: bool = False  # a ratio for scale, without a target


def rows(store: str, label: str) -> list[Row]:
    direct = {"s3": "boto3 upload_fileobj", "swift": "swift upload --use-slo"}[store]
    back = {"s3": "boto3 download_fileobj", "swift": "swift download -o /dev/null"}[store]
    up, down = f"{store}_upload", f"{store}_download"
    return [
        Row(f"{store}: upload {label} (direct: {direct})", up, "MB_s", "MB/s", ratio=True),
        Row("  Glimpse server CPU per GiB", up, "server_cpu_s", "s"),
        Row("  Swift CPU per GiB", up, "swift_cpu_s", "s"),
        Row("  client CPU per GiB", up, "client_cpu_s", "s"),
        *(
            [
                Row(
                    "  (info) direct: swift upload, one PUT without segments",
                    "swift_upload_single",
                    "MB_s",
                    "MB/s",
                    ratio=True,
                    glimpse_metric=up,
                    info=True,
                )
            ]
            if store == "swift"
            else []
        ),
        Row(
            "  Glimpse server RSS growth (max)",
            up,
            "rss_growth_mib",
            "MiB",
            at_most=RSS_TARGET_MIB,
            aggregate="max",
        ),
        Row(f"{store}: download {label} (direct: {back})", down, "MB_s", "MB/s", ratio=True),
        Row("  Glimpse server CPU per GiB", down, "server_cpu_s", "s"),
        Row("  Swift CPU per GiB", down, "swift_cpu_s", "s"),
        Row("  client CPU per GiB", down, "client_cpu_s", "s"),
        Row(
            "  Glimpse server RSS growth (max)",
            down,
            "rss_growth_mib",
            "MiB",
            at_most=RSS_TARGET_MIB,
            aggregate="max",
        ),
    ]


def render(recorder: Recorder) -> str:
    sizes = [s.detail.get("bytes") for s in recorder.samples if s.detail.get("bytes")]
    label = size_label(int(statistics.median(sizes))) if sizes else "?"
    lines = [
        "| figure | unit | via Glimpse | direct | Glimpse / direct | target | met |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for store in STORES:
        for row in rows(store, label):
            ours = row.glimpse_metric or row.metric
            mine = statistic(recorder, "glimpse", ours, row.key, row.aggregate)
            direct: Stat | None = statistic(recorder, "direct", row.metric, row.key, row.aggregate)
            if mine is None and direct is None:
                continue
            ratio = mine.value / direct.value if row.ratio and mine and direct else None
            target = verdict = ""
            if row.info:
                target = "(info)"
            elif row.ratio:
                target = f"≥ {RATIO_TARGET:g}× direct"
                verdict = "" if ratio is None else ("yes" if ratio >= RATIO_TARGET else "**NO**")
            elif row.at_most is not None:
                target = f"< {row.at_most:g} {row.unit}"
                if mine is not None:
                    verdict = "yes" if mine.value < row.at_most else "**NO**"
            lines.append(
                f"| {row.label} | {row.unit} | {shown(mine)} | {shown(direct)} | "
                f"{f'{ratio:.2f}×' if ratio else ''} | {target} | {verdict} |"
            )
    return "\n".join(lines)


def report(recorder: Recorder) -> str:
    samples = recorder.samples
    busy = [s for s in samples if not s.timing.clean]
    parts = [render(recorder), ""]
    parts.append(
        "MB = 10^6 bytes. Medians of clean runs (RSS growth: the largest of all runs). CPU "
        "per GiB: Glimpse = its server process and worker, Swift = its four servers, client "
        "= curl or the boto3 / swift child. * = no clean run: median of runs taken while "
        "other jobs used the machine."
    )
    if busy:
        worst = max(s.timing.foreign_cores for s in busy)
        parts.append(
            f"Busy machine: {len(busy)} of {len(samples)} timed runs saw other jobs use more "
            f"than the allowed CPU (up to {worst:.2f} cores); they are in the raw records, "
            "marked clean=false, and left out of medians where clean runs exist."
        )
    for error in (r for r in recorder.records if r.get("type") == "error"):
        parts.append(f"ERROR {error['service']} {error['phase']}: {error['message']}")
    parts.append(f"Raw records: {recorder.path}")
    return "\n".join(parts)


# -- driver


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--size", type=parse_size, default=GIB, help="bytes per transfer (1GiB)")
    parser.add_argument("--runs", type=int, default=3, help="clean runs per figure (default 3)")
    parser.add_argument("--extra", type=int, default=2, help="extra rounds for busy runs")
    parser.add_argument(
        "--stores", default=",".join(STORES), help="comma-separated: s3, swift (default both)"
    )
    parser.add_argument(
        "--segment-size",
        type=parse_size,
        default=200 * MIB,
        help="swift CLI --segment-size (default 200MiB, the swift driver's segment_size)",
    )
    parser.add_argument(
        "--set",
        dest="glimpse_set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another Glimpse setting, e.g. stores.s3.part_size=8388608 (repeatable; "
        "passed as GLIMPSE_STORES__S3__PART_SIZE, parsed as TOML)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=DEFAULT_WORK,
        help="scratch and results directory, on a file system with user xattrs "
        "(default: %(default)s)",
    )
    parser.add_argument("--file", type=Path, help="the data file (default: WORK/random-<size>.bin)")
    add_meter_options(parser)
    parser.add_argument(
        "--summary", type=Path, metavar="JSONL", help="print the table of an earlier run"
    )
    args = parser.parse_args(argv)
    args.stores = [name.strip() for name in args.stores.split(",") if name.strip()]
    if not args.stores or set(args.stores) - set(STORES):
        parser.error(f"--stores takes {', '.join(STORES)}")
    settings = {}
    for item in args.glimpse_set:
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            parser.error(f"--set takes KEY=VALUE, not {item!r}")
        settings["GLIMPSE_" + name.strip().upper().replace(".", "__")] = value
    args.glimpse_set = settings
    if args.runs < 1 or args.extra < 0:
        parser.error("--runs must be positive and --extra not negative")
    return args


def on_signal(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def swift_running(directory: Path) -> Iterator[Any]:
    from peers import PeerUnavailable
    from swift.harness import install, run_swift

    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    try:
        install()  # cached under ~/.cache/glimpse-tests; the first build takes minutes
        started = time.monotonic()
        with run_swift(directory) as swift:
            print(f"Swift all-in-one at {swift.url} ({time.monotonic() - started:.1f} s)")
            yield swift
    except PeerUnavailable as exc:
        raise BenchError(f"Swift did not start: {exc}") from None
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.summary:
        print(report(Recorder.load(args.summary)))
        return 0
    if not shutil.which("curl"):
        print("stores.py: curl is missing (apt-get install curl)", file=sys.stderr)
        return 2
    work: Path = args.work
    label = size_label(args.size).replace(" ", "")
    data_file = args.file or work / f"random-{label}.bin"
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    recorder = Recorder(work / "results" / f"stores-{stamp}.jsonl")
    meter = meter_from(args)
    recorder.write(
        {
            "type": "run",
            "argv": sys.argv,
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "machine": {"cpus": os.cpu_count(), "loadavg": os.getloadavg()},
        }
    )
    print(f"raw records: {recorder.path}", flush=True)
    try:
        digests = ensure_data(data_file, args.size)
        with swift_running(work / "swift") as swift:
            bench = Bench(
                args.size,
                data_file,
                digests,
                swift,
                meter,
                recorder,
                args.segment_size,
                work,
                args.glimpse_set,
            )
            for store in args.stores:
                print(f"== {store}", flush=True)
                began = time.monotonic()
                try:
                    measure_store(bench, store, args.runs, args.extra)
                except (BenchError, OSError, RuntimeError, subprocess.SubprocessError) as exc:
                    recorder.error(PHASE, store, str(exc))
                print(f"   ({store}: {time.monotonic() - began:.0f} s)", flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        print(report(recorder))
        return 130
    except BenchError as exc:
        recorder.error(PHASE, "-", str(exc))
    recorder.write({"type": "end", "loadavg": os.getloadavg()})
    table = report(recorder)
    recorder.path.with_suffix(".md").write_text(table + "\n")
    print()
    print(table)
    return 0


if __name__ == "__main__":
    reexec_in_venv()
    sys.exit(main())
