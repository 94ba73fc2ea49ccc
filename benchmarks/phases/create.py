"""Phase create: 1,000 sequential creates (client.py create), new connection each and
keep-alive, every run on a fresh server and database."""

from __future__ import annotations

from common import IMAGES
from metering import Sample
from phases.context import Context, sample
from tools import client


def run(context: Context) -> None:
    context.for_each_service("create", lambda service: create_service(context, service))


def create_service(context: Context, service: str) -> None:
    for keep_alive in (False, True):

        def once(_: int, keep_alive: bool = keep_alive) -> Sample:
            with context.server(service, "create") as server:
                argv = ["create", server.url, str(IMAGES)]
                argv += ["--keep-alive"] if keep_alive else []
                result, timing = context.meter.measure(lambda: client(*argv), server.pids)
                values = {
                    "per_s": result["per_s"],
                    "server_cpu_ms": round(timing.server_cpu / IMAGES * 1000, 3),
                }
                metric = "create_keepalive" if keep_alive else "create_newconn"
                return sample(
                    "create",
                    service,
                    metric,
                    values,
                    timing,
                    connections=result["connections"],
                )

        context.repeat(once)
