#!/usr/bin/env python3
"""`glimpse fetch` against the tools a host would use otherwise, on the same bytes.

    .venv/bin/python benchmarks/fetch.py [--size 1GiB] [--runs 3] [--parallel 4] [--no-swift]

One `glimpse serve` (two workers, locations shown) keeps the same random `--size` file
in three stores: `local` (files on this host), and `swift` and `s3` on a Swift all-in-one
(tests/swift/harness.py; its S3 API for `s3`). Each round writes the image to a new file
in the work directory with each command below, as a whole child process (interpreter
start-up and imports included, as a user sees it), wall time, median of `--runs`:

| row | glimpse | anchor | target |
| --- | --- | --- | --- |
| api | `glimpse fetch --handlers api` | `curl -o FILE .../file` | >= 0.9x curl |
| api | the same | `curl -o FILE` then `md5sum` and `sha512sum` at once | report |
| api | the same | `glance image-download --file FILE` (.venv/bin/glance) | report |
| file | `glimpse fetch --handlers file` | `cp STORE_FILE FILE` | report |
| swift | `glimpse fetch --handlers swift` (`ST_*`) | `swift download -o FILE` | report |
| s3 | `glimpse fetch --handlers s3` (`[fetch.s3]`) | boto3 `download_file` | report |

A ratio is the anchor's time over Glimpse's (above 1: Glimpse is faster). Glimpse does
more than each anchor but the curl-and-hash one: it hashes md5 and the multihash
(sha512) while writing and fsyncs the file before renaming it; curl, cp, swift and boto3
neither verify nor sync. The machine's load average is printed with each row: run this
on an otherwise idle machine. Needs curl and Glimpse's virtualenv (it re-runs itself with
.venv/bin/python).
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
from collections.abc import Callable, Iterator
from typing import Any

from common import GIB, MB, MIB, ROOT, BenchError, make_data, parse_size, reexec_in_venv
from tools import api

BIN = ROOT / ".venv" / "bin"
DEFAULT_WORK = Path(os.environ.get("GLIMPSE_BENCH_DIR", "/tmp/glimpse-bench")) / "fetch"
API_TARGET = 0.9


def run_timed(command: list[str], env: dict[str, str] | None = None) -> float:
    """Wall seconds of one child process; BenchError if it fails."""
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise BenchError(f"{' '.join(command[:4])}... failed: {done.stderr.strip()[-800:]}")
    return seconds


def fresh(target: Path) -> Path:
    """No file at ``target``, written back to disk, so every run starts alike."""
    target.unlink(missing_ok=True)
    subprocess.run(["sync"], check=True)
    return target


def verified(target: Path, size: int) -> None:
    if target.stat().st_size != size:
        raise BenchError(f"{target} has {target.stat().st_size} bytes, not {size}")


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def upload(url: str, path: Path, store: str) -> str:
    body = {"name": f"{path.name}-{store}", "disk_format": "raw", "container_format": "bare"}
    image_id = str(api(url, "POST", "/v2/images", body)["id"])
    done = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
         "-H", "Content-Type: application/octet-stream", "-H", f"X-Image-Meta-Store: {store}",
         "-T", str(path), f"{url}/v2/images/{image_id}/file"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.stdout.strip() != "204":
        raise BenchError(f"upload to {store} answered {done.stdout} {done.stderr}")
    return image_id


@contextlib.contextmanager
def glimpse_server(work: Path, swift: Any) -> Iterator[Any]:
    from glimpse.testing import ServerProcess

    env = {
        "GLIMPSE_IMAGES__SHOW_MULTIPLE_LOCATIONS": "true",
        "GLIMPSE_LOGGING__ACCESS_LOG": "false",
        "GLIMPSE_STORES__DEFAULT": '"local"',
        "GLIMPSE_STORES__LOCAL__DRIVER": '"file"',
    }
    if swift is not None:
        swift_store = {
            "driver": "swift",
            "auth_version": "1",
            "auth_url": swift.auth_url,
            "user": swift.user,
            "key": swift.key,
            "container": "glimpse-bench-fetch",
        }
        s3_store = {"driver": "s3", "endpoint_url": swift.s3_endpoint, "region": swift.s3_region,
                    "bucket": "glimpse-bench-fetch-s3", "access_key": swift.access_key,
                    "secret_key": swift.secret_key, "create_bucket": True}  # fmt: skip
        for name, table in (("SWIFT", swift_store), ("S3", s3_store)):
            env |= {
                f"GLIMPSE_STORES__{name}__{k.upper()}": json.dumps(v) if isinstance(v, str) else
                str(v).lower() for k, v in table.items()
            }  # fmt: skip
    data_dir = work / "glimpse"
    shutil.rmtree(data_dir, ignore_errors=True)
    server = ServerProcess(data_dir=data_dir, env=env, workers=2)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def rows_for(
    label: str,
    runs: int,
    size: int,
    ours: Callable[[], float],
    anchors: list[tuple[str, Callable[[], float], float | None]],
) -> list[str]:
    """Time Glimpse and each anchor ``runs`` times, alternating; one table row per anchor."""
    mine: list[float] = []
    theirs: dict[str, list[float]] = {name: [] for name, _, _ in anchors}
    loads = []
    for _ in range(runs):
        loads.append(load())
        mine.append(ours())
        for name, anchor, _ in anchors:
            theirs[name].append(anchor())
    glimpse = statistics.median(mine)
    rows = [
        f"| {label}: glimpse fetch | {glimpse:.2f} s | {size / glimpse / MB:.0f} MB/s | | | "
        f"{' '.join(loads)} |"
    ]
    for name, _, target in anchors:
        seconds = statistics.median(theirs[name])
        ratio = seconds / glimpse
        verdict = "" if target is None else ("ok" if ratio >= target else "MISS")
        shown_target = "report" if target is None else f">= {target}"
        rows.append(
            f"| {label}: {name} | {seconds:.2f} s | {size / seconds / MB:.0f} MB/s | "
            f"{ratio:.2f} x | {shown_target} {verdict} | |"
        )
    return rows


def run(args: argparse.Namespace) -> list[str]:
    work: Path = args.work
    size = args.size
    data = work / f"data-{size}"
    make_data(data, size)
    out = work / "out"
    out.mkdir(parents=True, exist_ok=True)
    target = out / "image.raw"
    with contextlib.ExitStack() as stack:
        swift = None
        if not args.no_swift:
            from swift.harness import run_swift

            swift_dir = work / "swift"
            shutil.rmtree(swift_dir, ignore_errors=True)
            swift_dir.mkdir(parents=True)
            swift = stack.enter_context(run_swift(swift_dir))
        server = stack.enter_context(glimpse_server(work, swift))
        url = server.url
        local_id = upload(url, data, "local")
        base_env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(work),
            "XDG_CONFIG_HOME": str(work / "config"),
            "GLIMPSE_FETCH_STATE_FILE": str(work / "state.json"),
        }

        def glimpse_fetch(image_id: str, handler: str, env: dict[str, str] | None = None) -> float:
            command = [str(BIN / "glimpse"), "fetch", "--endpoint", url, "--no-progress",
                       "--handlers", handler, "--parallel", str(args.parallel), image_id,
                       str(fresh(target))]  # fmt: skip
            seconds = run_timed(command, {**base_env, **(env or {})})
            verified(target, size)
            (work / "state.json").unlink(missing_ok=True)  # no "already there" next round
            return seconds

        file_url = f"{url}/v2/images/{local_id}/file"

        def curl() -> float:
            seconds = run_timed(["curl", "-sS", "-f", "-o", str(fresh(target)), file_url])
            verified(target, size)
            return seconds

        def curl_and_hash() -> float:
            began = time.perf_counter()
            curl()
            hashes = [subprocess.Popen([tool, str(target)], stdout=subprocess.DEVNULL)
                      for tool in ("md5sum", "sha512sum")]  # fmt: skip
            if any(h.wait() != 0 for h in hashes):
                raise BenchError("md5sum or sha512sum failed")
            return time.perf_counter() - began

        def glance() -> float:
            command = [str(BIN / "glance"), "--os-image-url", url, "--os-auth-token", "x",
                       "image-download", "--file", str(fresh(target)), local_id]  # fmt: skip
            env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
            seconds = run_timed(command, env)
            verified(target, size)
            return seconds

        store_file = next(Path(p) for p in (work / "glimpse" / "images").iterdir())

        def cp() -> float:
            seconds = run_timed(["cp", str(store_file), str(fresh(target))])
            verified(target, size)
            return seconds

        rows = rows_for(
            "api",
            args.runs,
            size,
            lambda: glimpse_fetch(local_id, "api"),
            [
                ("curl", curl, API_TARGET),
                ("curl, then md5sum and sha512sum", curl_and_hash, None),
                ("glance image-download", glance, None),
            ],
        )
        rows += rows_for("file", args.runs, size, lambda: glimpse_fetch(local_id, "file"),
                         [("cp", cp, None)])  # fmt: skip
        if swift is not None:
            swift_id = upload(url, data, "swift")
            s3_id = upload(url, data, "s3")
            st = {"ST_AUTH": swift.auth_url, "ST_USER": swift.user, "ST_KEY": swift.key}

            def swift_cli() -> float:
                command = [str(BIN / "swift"), "download", "glimpse-bench-fetch", swift_id,
                           "-o", str(fresh(target))]  # fmt: skip
                seconds = run_timed(command, {**base_env, **st})
                verified(target, size)
                return seconds

            rows += rows_for("swift", args.runs, size,
                             lambda: glimpse_fetch(swift_id, "swift", st),
                             [("swift download", swift_cli, None)])  # fmt: skip
            config = work / "fetch-s3.toml"
            config.write_text(
                "[fetch.s3]\n"
                f'endpoint_url = "{swift.s3_endpoint}"\nregion = "{swift.s3_region}"\n'
                f'access_key = "{swift.access_key}"\nsecret_key = "{swift.secret_key}"\n'
            )
            script = (
                "import sys, boto3, botocore.config\n"
                "c = boto3.client('s3', endpoint_url=sys.argv[1], region_name=sys.argv[2],"
                " aws_access_key_id=sys.argv[3], aws_secret_access_key=sys.argv[4],"
                " config=botocore.config.Config(s3={'addressing_style': 'path'}))\n"
                "c.download_file('glimpse-bench-fetch-s3', sys.argv[5], sys.argv[6])\n"
            )

            def boto3_download() -> float:
                command = [str(BIN / "python"), "-c", script, swift.s3_endpoint,
                           swift.s3_region, swift.access_key, swift.secret_key, s3_id,
                           str(fresh(target))]  # fmt: skip
                seconds = run_timed(command)
                verified(target, size)
                return seconds

            rows += rows_for(
                "s3",
                args.runs,
                size,
                lambda: glimpse_fetch(s3_id, "s3", {"GLIMPSE_FETCH_CONFIG": str(config)}),
                [("boto3 download_file", boto3_download, None)],
            )
    fresh(target)
    return rows


def main() -> int:
    reexec_in_venv()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=GIB, help="image size (1GiB)")
    parser.add_argument("--runs", type=int, default=3, help="timed rounds (medians shown)")
    parser.add_argument("--parallel", type=int, default=4, help="glimpse fetch --parallel")
    parser.add_argument("--no-swift", action="store_true", help="leave out swift and s3")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="scratch directory")
    args = parser.parse_args()
    if shutil.which("curl") is None:
        print("fetch.py needs curl on PATH", file=sys.stderr)
        return 2
    try:
        rows = run(args)
    except BenchError as exc:
        print(f"fetch.py: {exc}", file=sys.stderr)
        return 1
    print(f"{args.size // MIB} MiB, {args.runs} runs, medians; ratio = anchor time / glimpse time")
    print("| what | time | rate | ratio | target | load |\n| --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
