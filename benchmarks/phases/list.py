"""Phase list: GET /v2/images?limit=1000 over 1,000 images, one curl per request.

A run is --list-requests sequential requests, each on a new connection; its figure
is their median time_total.
"""

from __future__ import annotations

import statistics

from common import IMAGES, BenchError
from metering import Sample
from phases.context import Context, sample
from phases.images import populate
from tools import api, curl


def run(context: Context) -> None:
    context.for_each_service("list", lambda service: list_service(context, service))


def list_service(context: Context, service: str) -> None:
    with context.server(service, "list") as server:
        populate(server, IMAGES, context.config.work)
        path = f"/v2/images?limit={IMAGES}"
        listed = api(server.url, "GET", path)["images"]
        if len(listed) != IMAGES:
            raise BenchError(f"list returned {len(listed)} images, wanted {IMAGES}")
        count = context.config.list_requests

        def requests() -> list[dict[str, float]]:
            return [curl(server.url + path) for _ in range(count)]

        def once(_: int) -> Sample:
            results, timing = context.meter.measure(requests, server.pids)
            if any(result["code"] != 200 for result in results):
                raise BenchError(f"list answered {[r['code'] for r in results]}")
            times = [result["seconds"] * 1000 for result in results]
            values = {
                "median_ms": round(statistics.median(times), 3),
                "server_cpu_ms": round(timing.server_cpu / count * 1000, 3),
                "body_bytes": results[0]["down"],
            }
            return sample(
                "list",
                service,
                "list",
                values,
                timing,
                times_ms=[round(t, 3) for t in times],
            )

        context.repeat(once)
