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

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))  # glimpse.testing

import argparse
import atexit
import os
import platform
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from common import PHASES, ROOT, SERVICES, BenchError
from metering import Recorder, add_meter_options, meter_from
from phases import RUNNERS, Config, Context
from report import report
from servers import ensure_tool, stop_all

DEFAULT_ANCHOR = ROOT.parent / "shared" / "anchors" / "glance"
DEFAULT_WORK = Path(os.environ.get("GLIMPSE_BENCH_DIR", "/tmp/glimpse-bench"))
DEFAULT_GLIMPSE_CMD = (
    f"{ROOT}/.venv/bin/glimpse serve --host 127.0.0.1 --port {{port}} "
    "--workers {workers} --data-dir {data_dir}"
)


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
    add_meter_options(parser)
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
    meter = meter_from(args)
    context = Context(config, meter, recorder)
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
                RUNNERS[phase](context)
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
