"""Phase startup: spawn to first 200 on /versions with every worker ready; RSS per worker.

cold: a fresh data dir (Glimpse creates its database; Glance's is made by
setup.sh --reset beforehand, untimed); warm: a restart on an existing one.
"""

from __future__ import annotations

import shutil
import time

from metering import Sample
from phases.context import Context, sample
from servers import Glance


def run(context: Context) -> None:
    context.for_each_service("startup", lambda service: startup_service(context, service))


def startup_service(context: Context, service: str) -> None:
    warm_dir = context.config.work / "data" / "startup-warm"
    for warm in (False, True):
        if warm and service == "glimpse":  # a data dir served once before
            shutil.rmtree(warm_dir, ignore_errors=True)
            primer = context.make_server(service, "startup", warm_dir)
            try:
                primer.start()
            finally:
                primer.stop()

        def once(_: int, warm: bool = warm) -> Sample:
            server = context.make_server(service, "startup", warm_dir if warm else None)
            try:
                if isinstance(server, Glance) and not warm:
                    server.reset_state()
                timing = context.meter.measure(server.start, server.pids)[1]
                time.sleep(1)  # settle, then read memory
                memory = server.memory()
                workers = [m for m in memory if m["role"] == "worker"]
                masters = [m["rss_mib"] for m in memory if m["role"] == "master"]
                values = {
                    "seconds": round(server.started_in or 0.0, 4),
                    "server_cpu_s": timing.server_cpu,
                    "worker_rss_mib": max((m["rss_mib"] for m in workers), default=0),
                    "worker_hwm_mib": max((m["hwm_mib"] for m in workers), default=0),
                    "master_rss_mib": masters[0] if masters else 0,
                }
                metric = "startup_warm" if warm else "startup_cold"
                return sample("startup", service, metric, values, timing, memory=memory)
            finally:
                if warm:
                    server.stop()
                else:
                    context.discard(server)

        context.repeat(once)
    shutil.rmtree(warm_dir, ignore_errors=True)
