"""Prometheus metrics, correct across every worker process (prometheus-client's multiprocess mode).

Each worker writes its samples to memory-mapped files in one directory per
server run; ``GET /metrics`` in any worker reads them all. The directory must
be named by ``PROMETHEUS_MULTIPROC_DIR`` before prometheus-client is first
imported (it picks its storage at import), so the server's master process
calls ``process_environment`` before it builds the app or starts workers::

    environ = {**environ, **metrics.process_environment(settings)}
    os.environ.update(environ)

Counters of workers that exited (replaced after a crash or a reload) keep
counting in the totals; gauges of processes that are gone are dropped when
metrics are read. Without the variable (an app built in-process, as in some
tests) the metrics are this process's only.

prometheus-client is imported only inside functions, so importing this module
early cannot fix its storage before the variable is set.
"""

from __future__ import annotations

import atexit
import glob
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glimpse.errors import ConfigError, GlimpseError
from glimpse.settings import Settings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
EXPOSURES = ("off", "open", "admins")
#: Request durations: metadata calls take milliseconds, image transfers minutes.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
RENDER_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db$")


def process_environment(settings: Settings) -> dict[str, str]:
    """Prepare this run's metrics directory; the variables the server's processes need.

    Call once in the server's master process before the app is built and
    before any worker starts. The directory is ``<data_dir>/metrics/<pid>``
    (private, like the data directory), emptied now and removed when this
    process exits; directories of earlier runs whose process is gone are
    removed too. A ``PROMETHEUS_MULTIPROC_DIR`` already set is used as it is,
    after its sample files are removed.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        for stale in glob.glob(os.path.join(given, "*.db")):
            os.remove(stale)
        return {MULTIPROC_ENV: given}
    base = Path(settings.data_dir).resolve() / "metrics"
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        for earlier in base.iterdir():
            if earlier.name.isdigit() and not _alive(int(earlier.name)):
                shutil.rmtree(earlier, ignore_errors=True)
        run = base / str(os.getpid())
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir(mode=0o700)
    except OSError as exc:
        raise ConfigError(f"cannot prepare the metrics directory under {base}: {exc}") from None
    atexit.register(shutil.rmtree, run, True)
    return {MULTIPROC_ENV: str(run)}


def check_exposure(exposure: str) -> str:
    """``metrics.exposure``, or ConfigError naming the key."""
    if exposure not in EXPOSURES:
        raise ConfigError(
            f"setting metrics.exposure must be one of {', '.join(EXPOSURES)}, not {exposure!r}"
        )
    return exposure


@dataclass
class Metrics:
    """Every metric Glimpse reports, and how they are read.

    Build one per worker with ``Metrics.build``; the API's outer layer records
    each request with ``request``, the service reports store failures through
    ``store_error``.
    """

    requests: Counter
    duration: Histogram
    received: Counter
    sent: Counter
    uploads: Gauge
    downloads: Gauge
    store_errors: Counter
    pool_checked_out: Gauge
    pool_size: Gauge
    pool: Any = None
    #: The registry holding the metrics when not in multiprocess mode.
    local: CollectorRegistry | None = None
    #: The image cache's metrics, made at its first event: a process without a cache
    #: (the main process checking the settings) then leaves no files of zeros behind.
    cache: dict[str, Counter | Gauge] = field(default_factory=dict)
    #: The Pictures API's metrics, made at its first rendition (as the cache's).
    pictures: dict[str, Any] = field(default_factory=dict)
    _series: dict[tuple[str, str, int], tuple[Any, Any, Any, Any]] = field(default_factory=dict)

    @classmethod
    def build(cls, pool: object = None) -> Metrics:
        """The metrics of this process; ``pool`` is the registry's connection pool, if any.

        Raises ConfigError when ``PROMETHEUS_MULTIPROC_DIR`` is set but
        prometheus-client was imported before it was: the samples would stay
        in each process and ``/metrics`` would lie.
        """
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values

        multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        if multiprocess and not getattr(values.ValueClass, "_multiprocess", False):
            raise ConfigError(
                f"{MULTIPROC_ENV} was set after prometheus-client was imported: "
                "call glimpse.metrics.process_environment before building the app"
            )
        local = None if multiprocess else CollectorRegistry(auto_describe=True)
        route = ("route", "method")
        return cls(
            requests=Counter(
                "glimpse_http_requests",
                "HTTP requests answered, by route template, method and status.",
                [*route, "status"],
                registry=local,
            ),
            duration=Histogram(
                "glimpse_http_request_duration_seconds",
                "Time from a request's arrival until its answer was sent, by route and method.",
                route,
                buckets=DURATION_BUCKETS,
                registry=local,
            ),
            received=Counter(
                "glimpse_http_request_body_bytes",
                "Bytes of request bodies received, by route and method.",
                route,
                registry=local,
            ),
            sent=Counter(
                "glimpse_http_response_body_bytes",
                "Bytes of response bodies sent, by route and method.",
                route,
                registry=local,
            ),
            uploads=Gauge(
                "glimpse_uploads_in_flight",
                "Image uploads being received now.",
                registry=local,
                multiprocess_mode="livesum",
            ),
            downloads=Gauge(
                "glimpse_downloads_in_flight",
                "Image downloads being sent now.",
                registry=local,
                multiprocess_mode="livesum",
            ),
            store_errors=Counter(
                "glimpse_store_errors",
                "Failures of a store to read or write image data, by store and error.",
                ["store", "error"],
                registry=local,
            ),
            pool_checked_out=Gauge(
                "glimpse_registry_pool_checked_out",
                "Registry connections in use, over every worker (sampled every second).",
                registry=local,
                multiprocess_mode="livesum",
            ),
            pool_size=Gauge(
                "glimpse_registry_pool_size",
                "Registry connections kept open, over every worker (overflow not included).",
                registry=local,
                multiprocess_mode="livesum",
            ),
            pool=pool if callable(getattr(pool, "checkedout", None)) else None,
            local=local,
        )

    def request(
        self, route: str, method: str, status: int, seconds: float, received: int, sent: int
    ) -> None:
        """Count one answered request."""
        key = (route, method, status)
        series = self._series.get(key)
        if series is None:
            shown = method if method in METHODS else "other"
            series = self._series[key] = (
                self.requests.labels(route, shown, str(status)),
                self.duration.labels(route, shown),
                self.received.labels(route, shown),
                self.sent.labels(route, shown),
            )
        count, duration, received_bytes, sent_bytes = series
        count.inc()
        duration.observe(seconds)
        if received:
            received_bytes.inc(received)
        if sent:
            sent_bytes.inc(sent)

    def store_error(self, store: str, exc: BaseException) -> None:
        """Count a failure of ``store``; the error is named by its class."""
        name = type(exc).__name__ if isinstance(exc, GlimpseError) else "other"
        self.store_errors.labels(store, name).inc()

    def cache_event(self, event: str, amount: int) -> None:
        """Count what the node's image cache reports (see ``glimpse.cache.local.Observer``)."""
        if not self.cache:
            self.cache.update(_cache_metrics(self.local))
        metric = self.cache.get(event)
        if metric is None:
            return
        if event == "size":
            metric.set(amount)  # type: ignore[union-attr]
        else:
            metric.inc(amount)

    def rendered(self, fmt: str, seconds: float) -> None:
        """Count a rendition this process rendered and published, and how long it took."""
        if not self.pictures:
            self.pictures.update(_picture_metrics(self.local))
        self.pictures["renders"].labels(fmt).inc()
        self.pictures["seconds"].labels(fmt).observe(seconds)

    def sample_pool(self) -> None:
        """Record how many registry connections this process holds now."""
        if self.pool is None:
            return
        self.pool_checked_out.set(self.pool.checkedout())
        self.pool_size.set(self.pool.size())

    def render(self) -> tuple[bytes, str]:
        """The metrics of every process in Prometheus text format, and its content type."""
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess
        from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

        self.sample_pool()
        if self.local is not None:
            return generate_latest(self.local), CONTENT_TYPE_PLAIN_0_0_4
        directory = os.environ[MULTIPROC_ENV]
        for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
            found = _LIVE_GAUGE_FILE.search(path)
            if found is not None and not _alive(int(found.group(1))):
                multiprocess.mark_process_dead(int(found.group(1)), directory)  # type: ignore[no-untyped-call]
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_PLAIN_0_0_4


def _cache_metrics(local: CollectorRegistry | None) -> dict[str, Counter | Gauge]:
    """The image cache's counters, by the event that moves each, and its size."""
    from prometheus_client import Counter, Gauge

    counters = {
        "hit": ("glimpse_cache_hits", "Downloads served from this node's image cache."),
        "miss": ("glimpse_cache_misses", "Cacheable downloads the cache did not hold."),
        "served": ("glimpse_cache_served_bytes", "Bytes sent from the image cache."),
        "fill": ("glimpse_cache_fills", "Images verified and published into the cache."),
        "failed_fill": (
            "glimpse_cache_failed_fills",
            "Cache fills that left nothing: store error, mismatch, or abandoned.",
        ),
        "eviction": ("glimpse_cache_evictions", "Images evicted to keep the cache's size."),
    }
    found: dict[str, Counter | Gauge] = {
        event: Counter(name, text, registry=local) for event, (name, text) in counters.items()
    }
    found["size"] = Gauge(
        "glimpse_cache_size_bytes",
        "Bytes held or reserved by this node's image cache.",
        registry=local,
        multiprocess_mode="mostrecent",
    )
    return found


def _picture_metrics(local: CollectorRegistry | None) -> dict[str, Any]:
    """The renderer's counter and timings, by output format."""
    from prometheus_client import Counter, Histogram

    return {
        "renders": Counter(
            "glimpse_picture_renders",
            "Renditions rendered and published (each is rendered once), by output format.",
            ["format"],
            registry=local,
        ),
        "seconds": Histogram(
            "glimpse_picture_render_seconds",
            "Time to decode, resize, encode and store one rendition, by output format.",
            ["format"],
            buckets=RENDER_BUCKETS,
            registry=local,
        ),
    }


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
