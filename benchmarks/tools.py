"""The client side: JSON calls to the Image API, curl, client.py, wrk's output, sync.

curl, wrk, dd and client.py run as child processes, so their CPU is the client CPU
that metering.Meter reports (getrusage of children), apart from the server's.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
from typing import Any

from common import CLIENT, BenchError


def http_request(
    url: str, method: str, path: str, body: bytes | None = None, timeout: float = 120
) -> tuple[int, bytes]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body, headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def api(url: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One JSON call; raises BenchError unless the answer is 2xx."""
    payload = json.dumps(body).encode() if body is not None else None
    status, data = http_request(url, method, path, payload)
    if not 200 <= status < 300:
        raise BenchError(f"{method} {path} answered {status}: {data[:300]!r}")
    return json.loads(data) if data else None


def curl(*args: str) -> dict[str, float]:
    """One curl transfer; returns code, seconds and byte counts as curl measured them."""
    done = subprocess.run(
        [
            "curl",
            "-sS",
            "--max-time",
            "900",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{time_total} %{size_upload} %{size_download}",
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    fields = done.stdout.split()
    if done.returncode != 0 or len(fields) != 4:
        raise BenchError(f"curl {' '.join(args)} failed: {done.stderr.strip()}")
    return {
        "code": int(fields[0]),
        "seconds": float(fields[1]),
        "up": float(fields[2]),
        "down": float(fields[3]),
    }


def client(*args: str) -> dict[str, Any]:
    """Run benchmarks/client.py in a child process; returns its JSON answer."""
    done = subprocess.run(
        [sys.executable, str(CLIENT), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"client.py {args[0]} failed: {done.stderr.strip()[-1000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def sync() -> None:
    subprocess.run(["sync"], check=True)


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/sec, latency percentiles (ms), request and error counts from wrk."""

    def ms(text: str) -> float:
        number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
        return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]

    found: dict[str, float] = {}
    if match := re.search(r"Requests/sec:\s+([\d.]+)", output):
        found["req_s"] = float(match.group(1))
    if match := re.search(r"(\d+) requests in", output):
        found["requests"] = float(match.group(1))
    for percent in ("50", "99"):
        if match := re.search(rf"^\s+{percent}%\s+(\S+)", output, re.MULTILINE):
            found[f"p{percent}_ms"] = round(ms(match.group(1)), 3)
    errors = 0
    if match := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        errors += int(match.group(1))
    if match := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        errors += sum(int(group) for group in match.groups())
    found["errors"] = errors
    if "req_s" not in found:
        raise BenchError(f"cannot read wrk's output:\n{output}")
    return found
