"""Pictures benchmark: Glimpse's renditions beside thumbor 7.8 and in-process libvips, in one run.

On demand only. Run with the project's virtualenv (it needs pyvips to make the test
pictures and to measure libvips in-process):

    .venv/bin/python benchmarks/pictures.py                 # everything, 10 s per figure
    .venv/bin/python benchmarks/pictures.py --seconds 3 --skip-thumbor   # a short trial

It makes the two pictures (a 4000x3000 JPEG at q90 and a 1920x1080 PNG, photo-like:
smooth structure plus grain), installs thumbor 7.8 from PyPI into its own virtualenv
under the cache directory (once), and measures, for fit 200x200, fill 200x200 and fit
800x600 of each picture:

- libvips in-process: the render Glimpse runs (``glimpse.derive.render``), one thread
  with libvips' concurrency 1, as renders per CPU-second (per core), measured right
  before the matching Glimpse figure;
- Glimpse cold: every request a new rendition (a distinct ``bg`` makes each spec new
  without changing the work), as requests per server CPU-second and per second;
- thumbor cold: result storage off, so every request renders;
- cached: one rendition asked for again and again, Glimpse against thumbor with its
  file result storage on;
- Glimpse's peak RSS (all its processes) while 32 cold requests run at once.

Load comes from wrk (a Lua script makes each cold URL unique). Each server's figure
follows ``--warmup`` seconds (3) of the same load, uncounted, so figures are of steady
state. Per-core figures divide by the CPU the server's processes used, so other work on
a shared machine matters less; the per-second figures are what the machine gave.
Results print as a Markdown table and are written as JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import venv
from pathlib import Path
from typing import Any
from uuid import uuid4

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

from glimpse.testing import ServerProcess  # noqa: E402
from glimpse.testing.server import free_port, stop_group  # noqa: E402
from metering import HZ, memory, process_tree, tree_ticks  # noqa: E402
from servers import ensure_tool  # noqa: E402
from tools import parse_wrk  # noqa: E402

THUMBOR = "thumbor==7.8.*"
#: Operation: (size, Glimpse fit, thumbor path part).
OPERATIONS = {
    "fit 200x200": ("200x200", "fit", "fit-in/200x200"),
    "fill 200x200": ("200x200", "fill", "200x200"),
    "fit 800x600": ("800x600", "fit", "fit-in/800x600"),
}
PICTURES = {"jpeg": ("photo.jpg", 4000, 3000), "png": ("screen.png", 1920, 1080)}
#: thumbor's figures the targets are set against (req/s per process, the JPEG).
THUMBOR_PUBLISHED = {"fit 200x200": 31.0, "fill 200x200": 6.6, "fit 800x600": 19.0}
PEAK_CONCURRENCY = 32

UNIQUE_LUA = """
local counter = offset
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function request()
  counter = counter + 1
  local unique = (id * 1000003 + counter) % 16777216
  return wrk.format("GET", string.format(template, unique))
end
"""


def make_pictures(directory: Path) -> dict[str, Path]:
    """The two test pictures, made once in ``directory``."""
    import pyvips

    directory.mkdir(parents=True, exist_ok=True)
    made = {}
    for kind, (name, width, height) in PICTURES.items():
        path = directory / name
        if not path.exists():
            bands = []
            for cell in (256, 181, 128):
                smooth = pyvips.Image.perlin(width, height, cell_size=cell).linear(90, 128)
                grain = pyvips.Image.gaussnoise(width, height, sigma=12)
                bands.append((smooth + grain).cast("uchar"))
            picture = bands[0].bandjoin(bands[1:]).copy(interpretation="srgb")
            if kind == "jpeg":
                picture.write_to_file(str(path), Q=90)
            else:
                picture.write_to_file(str(path), compression=6)
        made[kind] = path
    return made


def inprocess_rate(path: Path, op: str, seconds: float) -> float:
    """Renders per CPU-second of Glimpse's own render function, one thread, libvips'
    concurrency 1 (as Glimpse's default ``vips_threads``)."""
    import pyvips

    from glimpse.derive import render, spec
    from glimpse.derive.limits import Limits

    render.configure(1)
    pyvips.concurrency_set(1)
    original = render.Original(path=str(path))
    header = render.probe(original, Limits(max_pixels=100_000_000))
    size, fit, _ = OPERATIONS[op]
    wanted = spec.parse(f"x-{size}.jpg", [("fit", fit)]).spec("jpeg")
    count, cpu, wall = 0, time.process_time(), time.monotonic()
    while time.monotonic() - wall < seconds or count < 3:
        render.render(original, header, wanted, keep_icc=False)
        count += 1
    return count / (time.process_time() - cpu)


class Sampler:
    """Peak RSS (MiB) of a process tree, sampled every 50 ms while it runs."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            found = [memory(pid) for pid in process_tree(self.root)]
            self.peak = max(self.peak, sum(m["rss_mib"] for m in found if m))
            self._stop.wait(0.05)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def settle(root: int, timeout: float = 60.0) -> None:
    """Wait until the server's tree is idle (under 5% of a core for half a second).

    wrk stops sending when its time is up, but renders it started go on in the
    server's pool; without this, their CPU is counted against the next figure.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = sum(tree_ticks(process_tree(root)).values())
        time.sleep(0.5)
        if sum(tree_ticks(process_tree(root)).values()) - before <= 0.025 * HZ:
            return


def _wrk(
    url: str, *, seconds: float, connections: int, template: str | None
) -> subprocess.CompletedProcess[str]:
    command = ["wrk", "-t", str(min(connections, 2)), "-c", str(connections)]
    command += ["-d", f"{max(1, round(seconds))}s", "--latency", "--timeout", "60s"]
    script = None
    if template is not None:
        script = Path(tempfile.mkstemp(suffix=".lua")[1])
        # A fresh offset per run: a later run of the same template asks for new URLs too.
        offset = int.from_bytes(os.urandom(3), "big")
        script.write_text(f"template = {json.dumps(template)}\noffset = {offset}\n{UNIQUE_LUA}")
        command += ["-s", str(script)]
    try:
        return subprocess.run([*command, url], capture_output=True, text=True, check=False)
    finally:
        if script is not None:
            script.unlink()


def load(
    root: int,
    url: str,
    *,
    seconds: float,
    connections: int,
    template: str | None = None,
    warmup: float = 0.0,
) -> dict[str, float]:
    """wrk against ``url`` (unique URLs from ``template``, a %06x format); adds the server
    tree's CPU-seconds and its rate per CPU-second, and its peak RSS.

    ``warmup`` seconds of the same load run first, uncounted: a server's first requests
    of a kind grow its heaps and warm its caches, which its steady state no longer pays.
    """
    if warmup > 0:
        _wrk(url, seconds=warmup, connections=connections, template=template)
    settle(root)
    pids = process_tree(root)
    before = sum(tree_ticks(pids).values())
    with Sampler(root) as sampler:
        done = _wrk(url, seconds=seconds, connections=connections, template=template)
    after = sum(tree_ticks(process_tree(root)).values())
    found = parse_wrk(done.stdout + done.stderr)
    cpu = max((after - before) / HZ, 1e-9)
    found.update(cpu_s=round(cpu, 2), per_core=found["requests"] / cpu, peak_rss_mib=sampler.peak)
    return found


# -- Glimpse --------------------------------------------------------------------------------


def _multipart(data: bytes) -> tuple[bytes, str]:
    boundary = uuid4().hex
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p"\r\n\r\n'
    return head.encode() + data + f"\r\n--{boundary}--\r\n".encode(), boundary


def start_glimpse(work: Path, workers: int) -> ServerProcess:
    server = ServerProcess(
        data_dir=work / "glimpse",
        workers=workers,
        env={
            "GLIMPSE_LOGGING__ACCESS_LOG": "false",
            "GLIMPSE_LOGGING__LEVEL": "warning",
            "GLIMPSE_PICTURES__MAX_PIXELS": "100000000",
            "GLIMPSE_PICTURES__RENDER_QUEUE": "64",
        },
    )
    server.start()
    return server


def upload(server: ServerProcess, picture_id: str, path: Path) -> None:
    import http.client

    body, boundary = _multipart(path.read_bytes())
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    conn.request(
        "POST",
        f"/pictures/original/{picture_id}",
        body,
        {"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    response = conn.getresponse()
    response.read()
    conn.close()
    if response.status != 303:
        raise RuntimeError(f"upload of {path} answered {response.status}")


# -- thumbor --------------------------------------------------------------------------------


def thumbor_venv(cache: Path) -> Path:
    """thumbor 7.8 in its own virtualenv under ``cache``, installed on first use."""
    home = cache / "thumbor-7.8"
    program = home / "bin" / "thumbor"
    if not program.exists():
        print(f"installing {THUMBOR} into {home} ...", file=sys.stderr)
        venv.create(home, with_pip=True, clear=True)
        subprocess.run(
            [str(home / "bin" / "python"), "-m", "pip", "install", "-q", THUMBOR], check=True
        )
    return program


def start_thumbor(
    program: Path, work: Path, pictures: Path, *, result_storage: bool
) -> tuple[subprocess.Popen[bytes], str]:
    conf = work / f"thumbor-{'cached' if result_storage else 'cold'}.conf"
    lines = [
        "LOADER = 'thumbor.loaders.file_loader'",
        f"FILE_LOADER_ROOT_PATH = {str(pictures)!r}",
        "STORAGE = 'thumbor.storages.no_storage'",
        "ALLOW_UNSAFE_URL = True",
        "QUALITY = 82",
        "RESPECT_ORIENTATION = True",
        "MAX_PIXELS = 100000000",
    ]
    if result_storage:
        lines += [
            "RESULT_STORAGE = 'thumbor.result_storages.file_storage'",
            f"RESULT_STORAGE_FILE_STORAGE_ROOT_PATH = {str(work / 'thumbor-results')!r}",
            "RESULT_STORAGE_STORES_UNSAFE = True",
        ]
    conf.write_text("\n".join(lines) + "\n")
    port = free_port()
    log = open(work / f"{conf.stem}.log", "ab")  # noqa: SIM115 - kept open for the child
    process = subprocess.Popen(
        [
            str(program),
            "--port",
            str(port),
            "--conf",
            str(conf),
            "--processes",
            "1",
            "-l",
            "warning",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    if not _thumbor_up(url, process):
        stop_group(process)
        raise RuntimeError(f"thumbor did not start; see {work / f'{conf.stem}.log'}")
    return process, url


def _thumbor_up(url: str, process: subprocess.Popen[bytes]) -> bool:
    import http.client

    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        try:
            host, port = url.removeprefix("http://").split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=2)
            conn.request("GET", "/healthcheck")
            if conn.getresponse().status == 200:
                return True
        except OSError:
            time.sleep(0.2)
    return False


# -- the run --------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    ensure_tool("wrk", "wrk", install=True)
    cache = Path(args.cache).expanduser()
    pictures = make_pictures(cache / "pictures")
    work = Path(tempfile.mkdtemp(prefix="glimpse-pictures-bench-"))
    result: dict[str, Any] = {"seconds": args.seconds, "connections": args.connections}
    result["pyvips_per_core"] = {}

    server = start_glimpse(work, args.workers)
    try:
        assert server.process is not None
        root = server.process.pid
        for kind, path in pictures.items():
            upload(server, kind, path)
        cold: dict[str, Any] = {}
        for kind, path in pictures.items():
            for op, (size, fit, _) in OPERATIONS.items():
                # Each figure right after its in-process rate: a shared machine's speed
                # drifts over a run, and the ratio should not depend on when each ran.
                print(f"libvips in-process {op} {kind} ...", file=sys.stderr)
                result["pyvips_per_core"][f"{op} {kind}"] = inprocess_rate(path, op, args.seconds)
                print(f"Glimpse cold {op} {kind} ...", file=sys.stderr)
                template = f"/pictures/derived/{kind}-{size}.jpg?fit={fit}&bg=%06x"
                cold[f"{op} {kind}"] = load(
                    root, server.url, seconds=args.seconds, connections=args.connections,
                    template=template, warmup=args.warmup,
                )  # fmt: skip
        result["glimpse_cold"] = cold
        print("Glimpse peak RSS under 32 cold requests ...", file=sys.stderr)
        peak = load(
            root, server.url, seconds=args.seconds, connections=PEAK_CONCURRENCY,
            template="/pictures/derived/jpeg-800x600.jpg?fit=fit&bg=%06x",
        )  # fmt: skip
        result["glimpse_peak_rss_mib"] = peak["peak_rss_mib"]
        cached: dict[str, Any] = {}
        for op, (size, fit, _) in OPERATIONS.items():
            path = f"/pictures/derived/jpeg-{size}.jpg?fit={fit}"
            url = f"{server.url}{path}"
            subprocess.run(["curl", "-sS", "-o", "/dev/null", url], check=True)  # made once
            print(f"Glimpse cached {op} ...", file=sys.stderr)
            cached[op] = load(
                root, url, seconds=args.seconds, connections=args.cached_connections,
                warmup=args.warmup,
            )  # fmt: skip
        result["glimpse_cached"] = cached
    finally:
        server.stop()

    if not args.skip_thumbor:
        program = thumbor_venv(cache)
        for storage in (False, True):
            process, url = start_thumbor(
                program, work, pictures["jpeg"].parent, result_storage=storage
            )
            try:
                figures: dict[str, Any] = {}
                for op, (_, _, part) in OPERATIONS.items():
                    for kind, path in pictures.items():
                        if storage and kind != "jpeg":
                            continue
                        target = f"{url}/unsafe/{part}/{path.name}"
                        subprocess.run(["curl", "-sS", "-o", "/dev/null", target], check=True)
                        label = op if storage else f"{op} {kind}"
                        print(
                            f"thumbor {'cached' if storage else 'cold'} {label} ...",
                            file=sys.stderr,
                        )
                        connections = args.cached_connections if storage else args.connections
                        figures[label] = load(
                            process.pid, target, seconds=args.seconds, connections=connections,
                            warmup=args.warmup,
                        )  # fmt: skip
                result["thumbor_cached" if storage else "thumbor_cold"] = figures
            finally:
                stop_group(process)
    return result


def table(result: dict[str, Any]) -> str:
    """The Markdown report of a run."""
    rows = [
        "| rendition | libvips in-process /core | Glimpse cold /core | ÷ libvips (≥ 0.9) "
        "| Glimpse cold /s | thumbor cold /core | Glimpse ÷ thumbor (≥ 1) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, rate in result["pyvips_per_core"].items():
        cold = result["glimpse_cold"][name]
        thumbor = result.get("thumbor_cold", {}).get(name)
        op = name.rsplit(" ", 1)[0]
        if thumbor is None and name.endswith("jpeg"):
            thumbor = {"per_core": THUMBOR_PUBLISHED[op], "published": True}
        shown = (
            "-"
            if thumbor is None
            else f"{thumbor['per_core']:.1f}" + (" (published)" if thumbor.get("published") else "")
        )
        ratio = "-" if thumbor is None else f"{cold['per_core'] / thumbor['per_core']:.2f}"
        rows.append(
            f"| {name} | {rate:.1f} | {cold['per_core']:.1f} | {cold['per_core'] / rate:.2f} "
            f"| {cold['req_s']:.1f} | {shown} | {ratio} |"
        )
    rows += [
        "",
        "| cached (JPEG) | Glimpse /s | thumbor result storage /s | ratio (≥ 3) |",
        "| --- | --- | --- | --- |",
    ]
    for op, figures in result["glimpse_cached"].items():
        thumbor = result.get("thumbor_cached", {}).get(op)
        ratio = "-" if thumbor is None else f"{figures['req_s'] / thumbor['req_s']:.2f}"
        shown = "-" if thumbor is None else f"{thumbor['req_s']:.0f}"
        rows.append(f"| {op} | {figures['req_s']:.0f} | {shown} | {ratio} |")
    rows += ["", f"Glimpse peak RSS under {PEAK_CONCURRENCY} concurrent cold requests: "
             f"{result['glimpse_peak_rss_mib']:.0f} MiB"]  # fmt: skip
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per figure")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="Glimpse workers")
    parser.add_argument("--connections", type=int, default=4, help="connections for cold load")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="uncounted seconds of load before each figure"
    )
    parser.add_argument("--cached-connections", type=int, default=32, help="for cached load")
    parser.add_argument("--cache", default="~/.cache/glimpse-bench", help="pictures and thumbor")
    parser.add_argument(
        "--skip-thumbor", action="store_true", help="compare with published figures"
    )
    parser.add_argument("--out", default="pictures-bench.json", help="the run's JSON record")
    args = parser.parse_args(argv)
    result = run(args)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
