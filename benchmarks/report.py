"""The Markdown tables: medians of clean runs, ratios to Glance and to the limits, targets.

``report(recorder)`` is what run.py prints at the end and writes next to the raw
records; ``--summary`` renders it again from a results file.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from common import PHASES, SERVICES
from metering import Recorder


@dataclass(frozen=True)
class Row:
    label: str
    metric: str
    key: str
    unit: str
    higher_is_better: bool = True
    limits: tuple[str, ...] = ()  # limit metrics; the row's limit is their minimum
    limit_key: str = "MB_s"  # the value of the limit metrics that the row shows
    vs_glance: float | None = None  # target: Glimpse better than Glance by this factor
    vs_limit: float | None = None  # target: Glimpse >= this fraction of the limit
    at_most: float | None = None  # target: Glimpse <= this value
    aggregate: str = "median"  # or "max"
    glance: bool = True  # show Glance's figure (False: a row about Glimpse and its limit only)


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
    Row(
        "  upload (Content-Length) / the same pipeline fed from memory",
        "upload_sized",
        "MB_s",
        "MB/s",
        limits=("pipeline",),
        vs_limit=0.8,
        glance=False,
    ),
    Row(
        "  upload (chunked) / the same pipeline fed from memory",
        "upload_chunked",
        "MB_s",
        "MB/s",
        limits=("pipeline",),
        vs_limit=0.8,
        glance=False,
    ),
    Row("  server CPU per GiB (Content-Length)", "upload_sized", "server_cpu_s", "s", False),
    Row("  server CPU per GiB (chunked)", "upload_chunked", "server_cpu_s", "s", False),
    Row(
        "  (ref) Glimpse's hash-and-write pipeline from memory, no HTTP",
        "",
        "",
        "MB/s",
        limits=("pipeline",),
    ),
    Row(
        "  (ref) CPU of that pipeline per GiB",
        "",
        "",
        "s",
        False,
        limits=("pipeline",),
        limit_key="cpu_s",
    ),
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
    Row(
        "GET /v2/images/{id}, wrk -t2 -c32",
        "get",
        "req_s",
        "req/s",
        limits=("bare_get",),
        limit_key="req_s",
        vs_glance=10,
        vs_limit=0.5,
    ),
    Row("  latency p50", "get", "p50_ms", "ms", False),
    Row("  latency p99", "get", "p99_ms", "ms", False),
    Row(
        "  server CPU per GET (limit: the bare app's)",
        "get",
        "server_cpu_ms",
        "ms",
        False,
        limits=("bare_get",),
        limit_key="server_cpu_ms",
    ),
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
            if row.glance:
                glance = statistic(recorder, "glance", row.metric, row.key, row.aggregate)
        limit_stats = [
            statistic(recorder, "limit", name, row.limit_key, "median") for name in row.limits
        ]
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
