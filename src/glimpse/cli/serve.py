"""`glimpse serve`: run the API server."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from glimpse.settings import Settings


def add_parser(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", help="run the API server", parents=common)
    serve.add_argument("--host", help="address to listen on (server.host)")
    serve.add_argument("--port", type=int, help="port to listen on (server.port)")
    serve.add_argument("--workers", type=int, help="worker processes (server.workers)")
    serve.add_argument("--data-dir", help="directory for embedded data (data_dir)")


def overrides(args: argparse.Namespace) -> dict[str, str]:
    """Command-line options as GLIMPSE_* variables, so workers see them too."""
    found = {
        "GLIMPSE_SERVER__HOST": getattr(args, "host", None),
        "GLIMPSE_SERVER__PORT": getattr(args, "port", None),
        "GLIMPSE_SERVER__WORKERS": getattr(args, "workers", None),
        "GLIMPSE_DATA_DIR": getattr(args, "data_dir", None),
    }
    environ = {k: str(v) for k, v in found.items() if v is not None}
    if "GLIMPSE_SERVER__HOST" in environ:
        environ["GLIMPSE_SERVER__HOST"] = f'"{environ["GLIMPSE_SERVER__HOST"]}"'
    if "GLIMPSE_DATA_DIR" in environ:
        environ["GLIMPSE_DATA_DIR"] = os.path.abspath(environ["GLIMPSE_DATA_DIR"])
    return environ


def run(args: argparse.Namespace, settings: Settings, environ: dict[str, str]) -> int:
    from glimpse import server

    try:
        server.run(settings, environ)
    except server.ServeError as exc:
        print(f"glimpse: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before the server's own handlers are in place
        return 130
    return 0
