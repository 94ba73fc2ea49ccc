"""Real peers for the tests (Keystone, Glance): cached virtualenvs, served by gunicorn on loopback.

A peer is installed from PyPI once into a virtualenv of its own, because its dependency tree
must not mix with Glimpse's. Virtualenvs are cached between runs under
`$XDG_CACHE_HOME/glimpse-tests/`, built in a temporary sibling and renamed into place only when
complete (an interrupted install is redone), under a file lock that keeps pytest-xdist workers
and concurrent runs from building one at the same time.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TypeVar

import pytest

T = TypeVar("T")

_STAMP = "glimpse-requirements.txt"
COMMAND_TIMEOUT = 600.0
START_TIMEOUT = 60.0


class PeerUnavailable(RuntimeError):
    """A peer could not be installed or started; the message ends with its log."""


@contextlib.contextmanager
def required(peer: contextlib.AbstractContextManager[T], what: str) -> Iterator[T]:
    """Enter a peer's context; a peer that cannot start fails the tests that need it,
    in CI and elsewhere alike: it never skips them."""
    with contextlib.ExitStack() as stack:
        try:
            running = stack.enter_context(peer)
        except PeerUnavailable as exc:
            where = "in CI" if os.environ.get("CI", "").lower() == "true" else "by the test suite"
            pytest.fail(f"{what} is required {where} but did not start: {exc}", pytrace=False)
        yield running


def cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where installed peers are kept: `${XDG_CACHE_HOME:-~/.cache}/glimpse-tests`."""
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "glimpse-tests"


def install(
    name: str,
    requirements: Sequence[str],
    root: Path | None = None,
    after: Callable[[Path, IO[bytes], Path], None] | None = None,
) -> Path:
    """Return the virtualenv `name` (suffixed with the Python version) holding `requirements`.

    It is built on first use, and again when the requirements change; `after(venv, out, log)`
    runs once in the new virtualenv before it is published (a peer's one-time set-up).

    Raises:
        PeerUnavailable: the install failed.
    """
    root = root or cache_dir()
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    venv = root / f"{name}-py{version}"
    if _installed(venv, requirements):
        return venv
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f"{venv.name}.lock"):
        if not _installed(venv, requirements):
            _build(venv, requirements, after)
    return venv


def run_logged(
    command: list[str], out: IO[bytes], log: Path, environ: Mapping[str, str] | None = None
) -> None:
    """Run a set-up command with its output in `log`; raise with the log's tail if it fails."""
    out.flush()
    try:
        done = subprocess.run(
            command,
            stdout=out,
            stderr=out,
            env=dict(environ) if environ is not None else None,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PeerUnavailable(f"{command[:6]} timed out:\n{tail(log)}") from None
    if done.returncode != 0:
        raise PeerUnavailable(f"{command[:6]} exited {done.returncode}:\n{tail(log)}")


def serve(
    venv: Path,
    wsgi_app: str,
    directory: Path,
    listener: socket.socket,
    log: Path,
    environ: Mapping[str, str],
    threads: int = 4,
) -> subprocess.Popen[bytes]:
    """Serve `wsgi_app` with gunicorn from `venv` on the bound `listener`, logging to `log`.

    The socket is handed over already bound, so no other process can take the port between
    choosing it and serving on it. Settings go in a file, not on the command line: some peers
    parse `sys.argv` themselves and reject gunicorn's options.
    """
    settings = directory / "gunicorn.conf.py"
    settings.write_text(
        f"""\
wsgi_app = {wsgi_app!r}
bind = ["fd://{listener.fileno()}"]
# One worker loads the peer once; threads give it concurrency.
workers = 1
worker_class = "gthread"
threads = {threads}
graceful_timeout = 5
accesslog = "-"
errorlog = "-"
# Otherwise gunicorn opens a control socket under $HOME, shared by every instance.
control_socket_disable = True
"""
    )
    full = {**environ, "GUNICORN_CMD_ARGS": f"--config={settings}"}
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(venv / "bin" / "python"), "-m", "gunicorn"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full,
            cwd=directory,
            pass_fds=(listener.fileno(),),
            start_new_session=True,
        )


def clean_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """Our environment, minus what would leak into a peer's virtualenv, plus `extra`."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("OS_") and key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    }
    environ.update(extra)
    return environ


def wait_until_answers(process: subprocess.Popen[bytes], url: str, log: Path, what: str) -> None:
    """Wait until `url` answers 200, or raise PeerUnavailable with the log's tail."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PeerUnavailable(f"{what} exited early:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    raise PeerUnavailable(f"{what} did not answer within {START_TIMEOUT}s:\n{tail(log)}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop gunicorn and its worker: the whole process group, gently first."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
    # A worker that outlived its master would keep the group alive.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def tail(log: Path, size: int = 6000) -> str:
    return log.read_text(errors="replace")[-size:] if log.exists() else "(no log)"


def _installed(venv: Path, requirements: Sequence[str]) -> bool:
    stamp = venv / _STAMP
    return stamp.is_file() and stamp.read_text() == "\n".join(requirements)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(
    venv: Path,
    requirements: Sequence[str],
    after: Callable[[Path, IO[bytes], Path], None] | None,
) -> None:
    """Build the virtualenv beside `venv` and rename it into place; the caller holds the lock."""
    # Leftovers of interrupted builds: no one else is building while we hold the lock.
    for stale in venv.parent.glob(f".{venv.name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=f".{venv.name}-", dir=venv.parent))
    work.chmod(0o755)  # mkdtemp's 0700 would be an odd mode for a shared cache
    log = venv.parent / f"{venv.name}.install.log"
    try:
        with log.open("wb") as out:
            # `-m venv` from inside a virtualenv uses its base interpreter, as we want.
            run_logged([sys.executable, "-m", "venv", str(work)], out, log)
            pip = [str(work / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
            run_logged([*pip, "install", "--no-input", "--prefer-binary", *requirements], out, log)
            if after is not None:
                after(work, out, log)
        (work / _STAMP).write_text("\n".join(requirements))
        if venv.exists():  # built for other pins: move it aside, then drop it
            old = Path(tempfile.mkdtemp(prefix=f".{venv.name}-", dir=venv.parent))
            venv.rename(old / "venv")
            shutil.rmtree(old, ignore_errors=True)
        work.rename(venv)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
