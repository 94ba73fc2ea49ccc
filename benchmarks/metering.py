"""Measuring and recording: CPU ticks and memory from /proc, timed runs, raw records.

A timed run's CPU is split into client (this script's children), server (the
server's process tree) and foreign (other jobs on the machine); every record goes
to a JSON-lines file as it is taken.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

HZ = os.sysconf("SC_CLK_TCK")

T = TypeVar("T")


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


def add_meter_options(parser: argparse.ArgumentParser) -> None:
    """The options that say what a clean run is, the same for every benchmark script."""
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


def meter_from(args: argparse.Namespace) -> Meter:
    """The Meter the options of ``add_meter_options`` describe."""
    return Meter(args.foreign_max, args.quiet_max, args.quiet_wait)


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
