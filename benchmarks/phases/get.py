"""Phase get: wrk -t2 -c32 -d10s --latency on GET /v2/images/{id} among 1,000 images."""

from __future__ import annotations

import subprocess

from common import IMAGES, BenchError
from metering import Sample
from phases.context import Context, sample
from phases.images import populate
from tools import api, parse_wrk


def run(context: Context) -> None:
    context.for_each_service("get", lambda service: get_service(context, service))


def get_service(context: Context, service: str) -> None:
    with context.server(service, "get") as server:
        ids = populate(server, IMAGES, context.config.work)
        url = f"{server.url}/v2/images/{ids[0]}"
        if api(server.url, "GET", f"/v2/images/{ids[0]}")["id"] != ids[0]:
            raise BenchError("GET answered another image")
        argv = ["wrk", "-t2", "-c32", f"-d{context.config.wrk_duration}s", "--latency", url]

        def once(_: int) -> Sample:
            done, timing = context.meter.measure(
                lambda: subprocess.run(argv, capture_output=True, text=True, check=True),
                server.pids,
            )
            values = parse_wrk(done.stdout)
            values["server_cpu_ms"] = round(
                timing.server_cpu / max(values.get("requests", 1), 1) * 1000, 3
            )
            if values["errors"]:
                context.recorder.error("get", service, f"wrk saw {values['errors']:g} errors")
            return sample("get", service, "get", values, timing, wrk=done.stdout)

        context.repeat(once)
