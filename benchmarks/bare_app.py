#!/usr/bin/env python3
"""The framework's floor: a bare ASGI app under Granian, answering every request with
the same bytes Glimpse answered one request with.

    .venv/bin/python benchmarks/bare_app.py --port P --workers N --response FILE

FILE is a JSON object ``{"status": 200, "headers": [[name, value], ...], "body": text}``
(what phase ``get`` saved of Glimpse's answer to ``GET /v2/images/{id}``). The app
sends exactly that, so the HTTP work per request (parsing, headers, body, keep-alive)
is the same as Glimpse's and the difference is Glimpse's own code: routing, identity,
the registry read, policy and serialisation. Granian gets the settings ``glimpse serve``
gives it by default (src/glimpse/server.py: ASGI, HTTP/1.1 only, ``Loops.auto``, no
access log, backlog 4096, the 30 s header and idle timeout); keep them in step.
It needs Granian, so it runs with Glimpse's ``.venv`` interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

RESPONSE_ENV = "GLIMPSE_BENCH_BARE_RESPONSE"


def build() -> Any:
    """The ASGI app (a factory: each worker reads the response file once)."""
    with open(os.environ[RESPONSE_ENV]) as file:
        saved = json.load(file)
    status = saved["status"]
    headers = [(name.encode(), value.encode()) for name, value in saved["headers"]]
    body = saved["body"].encode()
    start = {"type": "http.response.start", "status": status, "headers": headers}
    whole = {"type": "http.response.body", "body": body}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan: nothing to set up
            return
        await send(start)
        await send(whole)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--response", required=True, help="the saved answer (JSON)")
    args = parser.parse_args()
    os.environ[RESPONSE_ENV] = os.path.abspath(args.response)

    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings

    Granian(
        "bare_app:build",
        address=args.host,
        port=args.port,
        interface=Interfaces.ASGI,
        workers=args.workers,
        factory=True,
        backlog=4096,
        http=HTTPModes.http1,
        loop=Loops.auto,
        log_access=False,
        http1_settings=HTTP1Settings(header_read_timeout=30_000, keep_alive=True),
    ).serve()


if __name__ == "__main__":
    main()
