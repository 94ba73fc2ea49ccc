"""Phase upload: 1 GiB PUT (Content-Length, chunked) against the machine's limits.

The limits are sha512 and md5 in one thread (client.py hash), dd with fdatasync
and nginx taking the same PUT to disk; then each service, on a fresh server.
Each Glimpse upload is followed at once by a run of Glimpse's own hash-and-write
pipeline fed from memory (client.py pipeline: no HTTP), the rate an upload
would reach if receiving the bytes cost nothing.
"""

from __future__ import annotations

import shutil
import subprocess

from common import GIB, MB, BenchError
from metering import Sample
from phases.context import Context, sample
from phases.images import check_image, ensure_data, new_image, upload, warm
from servers import Nginx
from tools import api, client, curl, sync


def run(context: Context) -> None:
    context.digests = ensure_data(context.config.data_file)
    path = str(context.config.data_file)
    for algorithms in ("sha512", "md5"):

        def hashing(_: int, algorithms: str = algorithms) -> Sample:
            result, timing = context.meter.measure(lambda: client("hash", path, algorithms))
            values = {"MB_s": result["MB_s"]}
            return sample("upload", "limit", algorithms, values, timing)

        context.repeat(hashing)
    target = context.config.work / "dd.out"

    def dd(_: int) -> Sample:
        target.unlink(missing_ok=True)
        sync()
        argv = ["dd", f"if={path}", f"of={target}", "bs=1M", "conv=fdatasync"]
        done, timing = context.meter.measure(
            lambda: subprocess.run(argv, capture_output=True, text=True, check=True)
        )
        line = [text for text in done.stderr.splitlines() if "copied" in text][-1]
        copied, seconds = int(line.split()[0]), float(line.split("copied, ")[1].split()[0])
        target.unlink(missing_ok=True)
        return sample(
            "upload",
            "limit",
            "dd_fdatasync",
            {"MB_s": round(copied / seconds / MB, 1)},
            timing,
            dd=line,
        )

    context.repeat(dd)
    sync()
    context.with_nginx("upload", lambda server: nginx_put(context, server))
    context.for_each_service("upload", lambda service: upload_service(context, service))


def nginx_put(context: Context, server: Nginx) -> None:
    """nginx on loopback taking the same PUT to disk (WebDAV)."""

    def put(_: int) -> Sample:
        for old in (server.dir / "up").iterdir():
            old.unlink()
        sync()
        args = ["-X", "PUT", "-H", "Expect:", "-T", str(context.config.data_file)]
        result, timing = context.meter.measure(
            lambda: curl(*args, f"{server.url}/up/u.bin"), server.pids
        )
        if result["code"] not in (201, 204):
            raise BenchError(f"nginx PUT answered {result['code']}")
        values = {"MB_s": round(GIB / result["seconds"] / MB, 1)}
        return sample("upload", "limit", "nginx_put", values, timing)

    context.repeat(put)


def upload_service(context: Context, service: str) -> None:
    with context.server(service, "upload") as server:
        for chunked in (False, True):

            def once(attempt: int, chunked: bool = chunked) -> Sample:
                image_id = new_image(server, f"upload-{attempt}")
                warm(context.config.data_file)
                sync()
                result, timing = context.meter.measure(
                    lambda: upload(server, image_id, context.config.data_file, chunked),
                    server.pids,
                )
                if result["code"] != 204:
                    raise BenchError(f"{service} upload answered {result['code']}")
                check_image(server, image_id, context.digests)
                api(server.url, "DELETE", f"/v2/images/{image_id}")
                sync()
                values = {
                    "MB_s": round(GIB / result["seconds"] / MB, 1),
                    "server_cpu_s": timing.server_cpu,
                }
                metric = "upload_chunked" if chunked else "upload_sized"
                measured = sample("upload", service, metric, values, timing)
                if service == "glimpse":
                    floor = pipeline(context)
                    floor.attempt = attempt
                    context.recorder.sample(floor)
                return measured

            context.repeat(once)


def pipeline(context: Context) -> Sample:
    """One run of client.py pipeline into a store directory of its own."""
    directory = context.config.work / "pipeline"
    shutil.rmtree(directory, ignore_errors=True)
    warm(context.config.data_file)
    sync()
    result, timing = context.meter.measure(
        lambda: client("pipeline", str(context.config.data_file), str(directory))
    )
    shutil.rmtree(directory, ignore_errors=True)
    values = {"MB_s": result["MB_s"], "cpu_s": result["cpu_s"]}
    return sample("upload", "limit", "pipeline", values, timing)
