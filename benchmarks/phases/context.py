"""What every phase works with: the run's configuration, fresh servers, repeated runs.

A phase module's ``run(context)`` gets a ``Context``: the ``Config``, the ``Meter``
that times runs, the ``Recorder`` that keeps them, and the helpers below to start a
fresh server per service, repeat a timed run until enough of them were clean, and
record a failing service as an error instead of ending the run.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import BenchError
from metering import Meter, Recorder, Sample, Timing
from servers import Glance, Glimpse, Nginx, Server
from tools import sync


@dataclass
class Config:
    runs: int
    workers: int
    services: tuple[str, ...]
    glimpse_cmd: str
    glimpse_ready_log: str
    anchor: Path
    work: Path
    data_file: Path
    list_requests: int
    wrk_duration: int
    extra: int
    start_timeout: float
    keep_data: bool


def sample(
    phase: str,
    service: str,
    metric: str,
    values: dict[str, float],
    timing: Timing,
    **detail: Any,
) -> Sample:
    return Sample(phase, service, metric, values, timing, detail=detail)


@dataclass
class Context:
    config: Config
    meter: Meter
    recorder: Recorder
    digests: dict[str, str] = field(default_factory=dict)  # md5, sha512 of the data file
    served: int = 0  # servers made so far; numbers their data dirs and logs

    def make_server(self, service: str, phase: str, data_dir: Path | None = None) -> Server:
        """A server object, not started: Glimpse on ``data_dir`` (default: a new
        directory for this phase), Glance on the bench's own anchor state dir."""
        config = self.config
        self.served += 1
        tag = f"{phase}-{self.served}"
        if service == "glance":
            return Glance(config.anchor, config.work / "glance-anchor", config.workers)
        return Glimpse(
            config.glimpse_cmd,
            config.workers,
            data_dir or config.work / "data" / tag,
            config.work / "logs" / f"glimpse-{tag}.log",
            config.glimpse_ready_log,
            config.start_timeout,
        )

    def discard(self, server: Server) -> None:
        server.stop()
        if server.data_dir is not None and not self.config.keep_data:
            shutil.rmtree(server.data_dir, ignore_errors=True)

    @contextmanager
    def server(self, service: str, phase: str) -> Iterator[Server]:
        """A fresh server on an empty data dir / database; stopped (after its CPU and
        memory are recorded) when the block ends, whatever happens in it."""
        server = self.make_server(service, phase)
        try:
            if isinstance(server, Glance):
                server.reset_state()
            elif server.data_dir is not None:
                shutil.rmtree(server.data_dir, ignore_errors=True)
            server.start()
            yield server
            self.recorder.write(
                {
                    "type": "server",
                    "phase": phase,
                    "service": service,
                    "port": server.port,
                    "started_in": server.started_in,
                    "cpu_total": round(server.total_cpu(), 3),
                    "memory": server.memory(),
                }
            )
        finally:
            self.discard(server)

    def repeat(self, once: Callable[[int], Sample]) -> None:
        """Call once(attempt) until `runs` clean samples, at most runs + extra times."""
        clean = 0
        for attempt in range(1, self.config.runs + self.config.extra + 1):
            result = once(attempt)
            result.attempt = attempt
            self.recorder.sample(result)
            clean += result.timing.clean
            if clean >= self.config.runs:
                return

    def for_each_service(self, phase: str, body: Callable[[str], None]) -> None:
        """body(service) for every service measured; a failure is recorded, not raised."""
        for service in self.config.services:
            try:
                body(service)
            except (BenchError, OSError, subprocess.SubprocessError, ValueError) as exc:
                self.recorder.error(phase, service, str(exc))

    def with_nginx(self, phase: str, body: Callable[[Nginx], None]) -> None:
        """body(nginx) with nginx serving the data file on loopback; a failure is
        recorded, not raised."""
        server = Nginx(self.config.work, self.config.data_file)
        try:
            server.start()
            body(server)
        except BenchError as exc:
            self.recorder.error(phase, "nginx", str(exc))
        finally:
            server.stop()
            sync()
