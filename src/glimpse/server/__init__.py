"""The production server: Granian running the ASGI app in N worker processes.

Granian was chosen by measurement (see benchmarks/README.md): its Rust HTTP core
moves upload bodies with less CPU than the pure-Python servers, and it offers
the ASGI ``pathsend`` extension for zero-copy downloads. Workers load the app
through ``glimpse.app:from_environment``, so the settings reach them as the
``GLIMPSE_*`` environment this process sets up.

What Granian leaves to us, and where it is done:

- ``startup``: the listening socket is bound once, here, without
  ``SO_REUSEPORT`` (Granian binds one per worker with it, so a second server on
  the same port would share it), and handed to every worker. Connections queue
  in its backlog while workers come and go, so a reload refuses none.
  Keep-alive probes (``tcp_keepidle``) and ``TCP_USER_TIMEOUT``
  (``client_socket_timeout``: a client that reads nothing is cut off) are set on
  it; accepted sockets inherit them. Every start-up check ends in one line.
- ``glimpse.api.guard``, in the app of each worker: header limits answered 431
  with the JSON error body, and an upload body that stops arriving cut off with 408.
- ``master``: Granian's process manager with our reload: SIGHUP re-reads the
  settings file, checks it as start-up does, starts new workers, and only once
  they are ready tells the old ones to finish their requests (within
  ``shutdown_grace``) and exit. Workers read a snapshot of the checked file, so
  a worker replaced after a crash runs the settings its siblings run, not an
  edit nobody has reloaded yet. A worker that cannot start stops the server.

Linux only: the socket options, ``memfd_create`` and the forked workers are.
"""

from __future__ import annotations

import multiprocessing
import os

from glimpse import metrics
from glimpse.server.master import Master
from glimpse.server.startup import ServeError, check, listen, prepare, prepare_data_dir, report
from glimpse.settings import CONFIG_ENV, Settings

__all__ = ["ServeError", "run"]


def run(settings: Settings, environ: dict[str, str]) -> None:
    """Serve until SIGTERM or SIGINT. ``environ`` is what workers need to rebuild ``settings``.

    Raises ConfigError for settings that cannot work and ServeError for the
    rest (port in use, registry unreachable, a worker that cannot start).
    """
    check(settings)
    listener = listen(settings.server)
    try:
        prepare_data_dir(settings)  # before the metrics directory inside it is made
        environ = {**environ, **metrics.process_environment(settings)}
        os.environ.update(environ)
        report(settings, prepare(settings))
        # Workers are forked: they inherit the listening socket and the readiness pipe.
        multiprocessing.set_start_method("fork", force=True)
        master = Master(settings, listener, environ.get(CONFIG_ENV))
        master.serve(target_loader=master.load_worker)
        failure = master.failure
    finally:
        listener.close()
    if failure:
        raise ServeError(failure)
