"""Granian's process manager, with our socket, reload and account of workers.

Granian's ``MPServer`` forks the workers and watches them; ``Master`` replaces
the parts of it that fall short: the socket (``_init_shared_socket``), reload
(``_reload``), and knowing whether a worker started (``_spawn_workers``,
``_respawn_workers``): each new worker reports on a pipe once the app is loaded,
or why it could not be.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
import multiprocessing.connection
import os
import select
import signal
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from granian.constants import HTTPModes, Interfaces, Loops, SSLProtocols
from granian.http import HTTP1Settings
from granian.server.mp import MPServer

from glimpse import logs
from glimpse import settings as settings_module
from glimpse.errors import ConfigError, GlimpseError
from glimpse.server import allocator
from glimpse.server.startup import ServeError, check, first_line, prepare, report, tune
from glimpse.settings import CONFIG_ENV, ServerSettings, Settings

if TYPE_CHECKING:
    from starlette.types import ASGIApp

log = logging.getLogger("glimpse.server")

TARGET = "glimpse.app:from_environment"
#: Seconds a new worker may take to load the app before it counts as failed.
READY_TIMEOUT = 60.0
#: Exit status of a worker that could not load the app (its reason went to the master).
_NOT_STARTED = 3


def _granian_options(server: ServerSettings) -> dict[str, Any]:
    """Granian's arguments for the parts of ``server`` its workers apply."""
    idle = server.keepalive_timeout
    if server.client_socket_timeout:
        idle = min(idle, server.client_socket_timeout)
    defaults = HTTP1Settings()
    http1 = HTTP1Settings(
        # Runs from the first byte of a request (and from the end of the previous
        # answer) until its headers are in, so it also closes idle connections.
        header_read_timeout=idle * 1000,
        keep_alive=server.http_keepalive,
        # Headers beyond this buffer get the HTTP core's bare 431; below it the
        # guard answers with the JSON body.
        max_buffer_size=max(defaults.max_buffer_size, 2 * server.max_header_size),
    )
    tls: dict[str, Any] = {}
    if server.tls_cert:
        tls = {
            "ssl_cert": Path(server.tls_cert),
            "ssl_key": Path(server.tls_key),
            "ssl_protocol_min": SSLProtocols.tls12,
        }
        if server.tls_client_ca:
            tls |= {"ssl_ca": Path(server.tls_client_ca), "ssl_client_verify": True}
    return {
        "http1_settings": http1,
        # 0 would wait for ever; a tiny grace stops at once.
        "workers_kill_timeout": server.shutdown_grace or 0.001,
        **tls,
    }


class Master(MPServer):
    """Granian's process manager with our socket, reload, and account of workers."""

    def __init__(self, settings: Settings, listener: socket.socket, config: str | None) -> None:
        server = settings.server
        super().__init__(
            TARGET,
            address=listener.getsockname()[0],
            port=listener.getsockname()[1],
            interface=Interfaces.ASGI,
            workers=server.workers,
            factory=True,
            backlog=server.backlog,
            # HTTP/1.1 only, as Glance: the keep-alive, header and idle settings
            # mean what they say, and an idle new connection is timed out (the
            # HTTP/2 preface sniffing of the automatic mode waits for ever).
            http=HTTPModes.http1,
            loop=Loops.auto,
            log_access=False,
            log_dictconfig=logs.granian_config(),
            respawn_failed_workers=True,
            **_granian_options(server),
        )
        self.settings = settings
        self.listener = listener
        self.config = config
        self.failure = ""
        self._reports: dict[int, str] = {}
        self._unread = b""
        self._ready_read, self._ready_write = os.pipe()
        os.set_blocking(self._ready_read, False)
        self._snapshot_fd = -1
        self._use_snapshot(self._snapshot())
        self._retiring: list[threading.Thread] = []

    # -- the listening socket -------------------------------------------------

    def _init_shared_socket(self) -> None:
        self._ssp = None  # no per-worker sockets
        self._sso = self.listener  # closed first thing at shutdown: stop accepting
        self._sfd = self.listener.fileno()  # type: ignore[assignment]  # Granian's starts as None
        self._shd = self._holder()

    def _holder(self) -> Any:
        """The socket as Granian's workers take it (Linux's form); each listens with its backlog."""
        from granian._granian import SocketHolder

        return SocketHolder(self._sfd, False, self.backlog)  # type: ignore[call-arg]  # not in the stub

    # -- workers ---------------------------------------------------------------

    def load_worker(self, target: str) -> ASGIApp:
        """In a new worker: build the app and tell the master."""
        # Until Granian's own handlers take over, a stop request ends this worker at
        # once: the master's handlers, inherited through the fork, would only set a
        # flag in this copy of the master and leave the worker running.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a reload is the master's business
        if self.interrupt_signal:  # asked to stop between the fork and now
            raise SystemExit(0)
        server = self.settings.server
        allocator.tune(server.malloc_mmap_threshold, server.malloc_trim_threshold)
        try:
            module, name = target.split(":")
            app: ASGIApp = getattr(importlib.import_module(module), name)()
        except GlimpseError as exc:
            self._tell(f"failed {exc.message}")
            raise SystemExit(_NOT_STARTED) from None
        except Exception as exc:
            log.debug("the worker could not load the app", exc_info=True)
            self._tell(f"failed {first_line(exc)}")
            raise SystemExit(_NOT_STARTED) from None
        self._tell("ready")
        return app

    def _tell(self, text: str) -> None:
        line = f"{os.getpid()} {text}".replace("\n", " ").encode()[: select.PIPE_BUF - 1]
        with contextlib.suppress(OSError):
            os.write(self._ready_write, line + b"\n")

    def _await_ready(self, workers: list[Any]) -> str | None:
        """Wait until each of ``workers`` has loaded the app; the first failure, if any.

        A failure is a worker that said it could not load the app, or exited with
        an error status before saying anything; one killed by a signal (or
        stopped) meanwhile is left to be replaced like any worker that dies.
        """
        deadline = time.monotonic() + READY_TIMEOUT
        waiting = {w.inner.pid: w for w in workers}
        while waiting:
            self._read_reports()
            for pid, worker in list(waiting.items()):
                report = self._reports.pop(pid, None)
                if report == "ready":
                    del waiting[pid]
                elif report is not None:
                    return f"worker {worker.idx + 1} could not start: {report.split(' ', 1)[-1]}"
                elif _exited(worker):
                    self._read_reports()
                    if pid in self._reports:
                        continue
                    code = _exit_code(worker)
                    if code is not None and code <= 0:
                        # Killed from outside (OOM, an operator), or told to stop before
                        # it was up: a death to replace, not a worker that cannot start.
                        del waiting[pid]
                        continue
                    return f"worker {worker.idx + 1} {_ended(code)} at start"
            if self.interrupt_signal:
                return "stopped by a signal while workers were starting"
            if time.monotonic() > deadline:
                return f"a worker did not start within {READY_TIMEOUT:.0f} seconds"
            select.select([self._ready_read], [], [], 0.05)
        return None

    def _read_reports(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self._ready_read, 65536):
                self._unread += chunk
        *lines, self._unread = self._unread.split(b"\n")
        for line in lines:
            pid, _, text = line.decode(errors="replace").partition(" ")
            self._reports[int(pid)] = text

    def _spawn_workers(self, spawn_target: Any, target_loader: Any) -> None:
        super()._spawn_workers(spawn_target, target_loader)  # type: ignore[no-untyped-call]
        failure = self._await_ready(list(self.wrks))
        if failure and not self.interrupt_signal:
            self._fail(failure)

    def _respawn_workers(
        self, workers: list[int], spawn_target: Any, target_loader: Any, delay: float = 0
    ) -> None:
        """Replace workers that died; a replacement that cannot start stops the server."""
        for idx in workers:
            dead = self.wrks[idx]
            log.error(
                "worker %d (pid %s) %s; starting a replacement",
                idx + 1,
                dead.inner.pid,
                _ended(_exit_code(dead)),
            )
        super()._respawn_workers(workers, spawn_target, target_loader, delay)
        failure = self._await_ready([self.wrks[idx] for idx in workers])
        if failure and not self.interrupt_signal:
            self._fail(f"a replacement {failure}")

    def _fail(self, failure: str) -> None:
        self.failure = failure
        log.error("stopping: %s", failure)
        self.interrupt_signal = True
        self.main_loop_interrupt.set()

    # -- reload ----------------------------------------------------------------

    def _reload(self, spawn_target: Any, target_loader: Any) -> None:
        """SIGHUP: new workers with the file's new settings, then the old ones retire.

        Nothing changes unless the new settings pass the start-up checks and
        every new worker starts; until then the old workers serve as before.
        """
        self.reload_signal = False
        self.main_loop_interrupt.clear()
        log.info("SIGHUP: reading the settings again")
        try:
            settings = self._keep_bound(settings_module.load(self.config, os.environ))
            check(settings)
            stores = prepare(settings)
            # From here on the master's lines, and the new workers', follow [logging]
            # (a file that cannot be opened refuses the reload and changes nothing).
            logs.configure(settings.logging)
            snapshot = self._snapshot()
        except (GlimpseError, ServeError) as exc:
            why = exc.message if isinstance(exc, GlimpseError) else str(exc)
            log.error("settings not reloaded, the workers keep serving as they were: %s", why)
            return
        before, old_snapshot = self.settings, self._snapshot_fd
        self._apply(settings)
        self._use_snapshot(snapshot)
        old = list(self.wrks)
        fresh: list[Any] = []
        for idx in range(self.workers):
            worker: Any = self._spawn_worker(
                idx=idx, target=spawn_target, callback_loader=target_loader
            )
            worker.interrupt_by_parent = True  # until it is ready, its end is ours to report
            worker.start()
            fresh.append(worker)
        failure = self._await_ready(fresh)
        if failure:
            for worker in fresh:
                worker.terminate()
            for worker in fresh:
                if not _exited(worker, 5):
                    worker.kill()
            _close(self._snapshot_fd)
            logs.configure(before.logging)
            self._apply(before)
            self._use_snapshot(old_snapshot)
            if not self.interrupt_signal:
                log.error(
                    "settings not reloaded, the workers keep serving as they were: %s", failure
                )
            return
        for worker in fresh:
            worker.interrupt_by_parent = False
            if _exited(worker):  # ended between its report and now: replace it
                self.interrupt_children.append(worker.idx)
                self.main_loop_interrupt.set()
        self.wrks[:] = fresh
        _close(old_snapshot)
        self._retire(old)
        report(settings, stores)
        log.info("settings reloaded: %d new workers serve new connections", len(fresh))

    def _keep_bound(self, settings: Settings) -> Settings:
        """The new settings, with what only a restart can change kept as it is."""
        now, new = self.settings.server, settings.server
        changed = [
            key for key in ("host", "port", "workers") if getattr(now, key) != getattr(new, key)
        ]
        if not changed:
            return settings
        log.warning(
            "server.%s only change with a restart; kept as they are", ", server.".join(changed)
        )
        kept = dataclasses.replace(new, **{key: getattr(now, key) for key in changed})
        return dataclasses.replace(settings, server=kept)

    def _apply(self, settings: Settings) -> None:
        """Use ``settings`` for the workers started from now on."""
        server = settings.server
        self.settings = settings
        tune(self.listener, server)
        self.listener.listen(server.backlog)
        self.backlog = max(128, server.backlog)
        self.backpressure = max(1, self.backlog // self.workers)
        self._shd = self._holder()
        options = _granian_options(server)
        self.http1_settings = options["http1_settings"]
        self.workers_kill_timeout = options["workers_kill_timeout"]
        self.build_ssl_context(
            options.get("ssl_cert"),
            options.get("ssl_key"),
            None,
            options.get("ssl_protocol_min", SSLProtocols.tls12),
            options.get("ssl_ca"),
            [],
            options.get("ssl_client_verify", False),
        )

    def _snapshot(self) -> int:
        """A private copy of the settings file as it is now: a memfd, or -1 for none."""
        if not self.config or not hasattr(os, "memfd_create"):
            return -1
        try:
            with open(self.config, "rb") as file:
                content = file.read()
        except OSError as exc:
            raise ConfigError(f"cannot read settings file {self.config}: {exc.strerror}") from None
        fd = os.memfd_create("glimpse-settings", os.MFD_CLOEXEC)  # forks inherit it still
        with open(os.dup(fd), "wb") as copy:
            copy.write(content)
        return fd

    def _use_snapshot(self, fd: int) -> None:
        """Workers started from now on read their settings file from ``fd``."""
        self._snapshot_fd = fd
        os.environ[CONFIG_ENV] = f"/proc/self/fd/{fd}" if fd >= 0 else (self.config or "")
        if not os.environ[CONFIG_ENV]:
            del os.environ[CONFIG_ENV]

    def _retire(self, old: list[Any]) -> None:
        """Let ``old`` workers finish their requests within the grace, then kill what is left."""
        for worker in old:
            worker.terminate()
        grace = self.settings.server.shutdown_grace

        def wait() -> None:
            deadline = time.monotonic() + grace
            for worker in old:
                if not _exited(worker, max(deadline - time.monotonic(), 0)):
                    log.warning(
                        "old worker (pid %s) still busy after %d seconds; killed",
                        worker.inner.pid,
                        grace,
                    )
                    worker.kill()
            log.info("the old workers have finished")

        thread = threading.Thread(target=wait, name="glimpse-retire", daemon=True)
        thread.start()
        self._retiring.append(thread)

    # -- stop ------------------------------------------------------------------

    def shutdown(self, exit_code: int = 0) -> None:
        if self.interrupt_children and not self.interrupt_signal and not self.failure:
            self.failure = "workers died again right after being replaced; see the log"
        # Exits seen while stopping are the stop itself; the outcome is self.failure.
        self.interrupt_children.clear()
        super().shutdown(0)  # type: ignore[no-untyped-call]
        for thread in self._retiring:
            thread.join()


def _exited(worker: Any, timeout: float = 0) -> bool:
    """Whether ``worker``'s process has ended, waiting up to ``timeout`` seconds.

    Its sentinel says so however the exit is reaped (Granian's watcher thread
    waits for it too, and ``is_alive`` can be fooled by that race).
    """
    return bool(multiprocessing.connection.wait([worker.inner.sentinel], timeout))


def _exit_code(worker: Any) -> int | None:
    """The exit status of an ended worker, once its watcher has reaped it."""
    for _ in range(100):
        if worker.inner.exitcode is not None:
            break
        time.sleep(0.01)
    code: int | None = worker.inner.exitcode
    return code


def _close(fd: int) -> None:
    if fd >= 0:
        os.close(fd)


def _ended(code: int | None) -> str:
    if code is None:
        return "ended"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    if code == _NOT_STARTED:
        return "could not load the app"
    return f"exited with status {code}"
