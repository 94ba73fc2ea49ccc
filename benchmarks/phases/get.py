"""Phase get: wrk -t2 -c32 -d10s --latency on GET /v2/images/{id} among 1,000 images.

Beside Glimpse, in the same runs, the framework's floor: a bare ASGI app under
Granian with the same settings (bare_app.py) answering every request with the
bytes and headers Glimpse answered; each Glimpse run is followed at once by a
run on the bare app, so both see the same machine.
"""

from __future__ import annotations

import http.client
import json
import shlex
import subprocess
from pathlib import Path

from common import IMAGES, BenchError
from metering import Sample
from phases.context import Context, sample
from phases.images import populate
from servers import Bare, Server
from tools import api, parse_wrk

#: Headers Granian writes itself; the bare app must not send them twice.
_SERVER_HEADERS = frozenset({"content-length", "date", "server"})


def run(context: Context) -> None:
    context.for_each_service("get", lambda service: get_service(context, service))


def get_service(context: Context, service: str) -> None:
    with context.server(service, "get") as server:
        ids = populate(server, IMAGES, context.config.work)
        path = f"/v2/images/{ids[0]}"
        if api(server.url, "GET", path)["id"] != ids[0]:
            raise BenchError("GET answered another image")
        bare = None
        if service == "glimpse":
            bare = start_bare(context, save_answer(server, path, context.config.work))
        try:

            def once(attempt: int) -> Sample:
                measured = wrk(context, "get", service, "get", server, path)
                if bare is not None:
                    floor = wrk(context, "get", "limit", "bare_get", bare, path)
                    floor.attempt = attempt
                    context.recorder.sample(floor)
                return measured

            context.repeat(once)
        finally:
            if bare is not None:
                bare.stop()


def wrk(
    context: Context, phase: str, service: str, metric: str, server: Server, path: str
) -> Sample:
    argv = ["wrk", "-t2", "-c32", f"-d{context.config.wrk_duration}s", "--latency"]
    done, timing = context.meter.measure(
        lambda: subprocess.run(
            [*argv, server.url + path], capture_output=True, text=True, check=True
        ),
        server.pids,
    )
    values = parse_wrk(done.stdout)
    values["server_cpu_ms"] = round(timing.server_cpu / max(values.get("requests", 1), 1) * 1000, 3)
    if values["errors"]:
        context.recorder.error(phase, service, f"wrk saw {values['errors']:g} errors")
    return sample(phase, service, metric, values, timing, wrk=done.stdout)


def save_answer(server: Server, path: str, work: Path) -> Path:
    """Glimpse's answer to ``GET path``: status, headers (but Granian's own) and body."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    headers = [[k, v] for k, v in response.getheaders() if k.lower() not in _SERVER_HEADERS]
    saved = work / "bare-answer.json"
    saved.write_text(
        json.dumps({"status": response.status, "headers": headers, "body": body.decode()})
    )
    return saved


def start_bare(context: Context, answer: Path) -> Bare:
    """The bare app with Glimpse's interpreter (the directory of the Glimpse command)."""
    program = Path(shlex.split(context.config.glimpse_cmd)[0])
    bare = Bare(
        str(program.with_name("python")),
        context.config.workers,
        answer,
        context.config.work,
        context.config.start_timeout,
    )
    bare.start()
    return bare
