"""Logging: text or JSON lines, to standard error or a file, each line with its request id.

``configure(settings.logging)`` sets up the root logger once per process (the
server's workers inherit it). ``REQUEST_ID`` holds the id of the request being
served; ``RequestFrame`` sets it, and ``RequestIdFilter`` copies it onto every
record, so a line logged anywhere while a request is served (in the event
loop or in the thread pool, which copies the context) names the request:

```
2025-01-31 12:00:00,123 WARNING glimpse.service.data [req-6f1c...] image 42: ...
{"time": "2025-01-31T12:00:00.123Z", "level": "WARNING", "request_id": "req-6f1c...", ...}
```

A record may carry structured fields in ``extra={"fields": {...}}`` (the access
log does); JSON lines include them as keys, text lines show only the message.
"""

from __future__ import annotations

import contextvars
import logging
import logging.handlers
import os
import sys
import time
from typing import Any

import orjson

from glimpse.errors import ConfigError
from glimpse.settings import LoggingSettings

#: The ``x-openstack-request-id`` of the request being served; "-" outside requests.
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def new_request_id() -> str:
    """``req-`` and a random (version 4) UUID, as Glance's request ids.

    Formatted from ``os.urandom`` by hand: a third of ``uuid.uuid4()``'s cost,
    which every request pays.
    """
    digits = os.urandom(16).hex()
    return (
        f"req-{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-"
        f"{_VARIANT[digits[16]]}{digits[17:20]}-{digits[20:]}"
    )


LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
FORMATS = ("text", "json")
#: The logger of the access lines, one per request (``write_access``).
ACCESS_LOG = logging.getLogger("glimpse.access")


class RequestIdFilter(logging.Filter):
    """Put the current request id on every record as ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class _Clock:
    """Log times, formatted once per second rather than once per line."""

    def __init__(self, convert: Any, shape: str) -> None:
        self._convert = convert
        self._shape = shape
        self._second = -1
        self._stamp = ""

    def stamp(self, created: float) -> tuple[str, int]:
        """The second of ``created`` as text, and its milliseconds."""
        second = int(created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime(self._shape, self._convert(second))
        return self._stamp, int((created - second) * 1000)


class TextFormatter(logging.Formatter):
    """``time level logger [request id] message`` lines (local time, milliseconds), with
    the traceback after the line if any."""

    def __init__(self) -> None:
        super().__init__()
        self._clock = _Clock(time.localtime, "%Y-%m-%d %H:%M:%S")

    def line(
        self,
        created: float,
        level: str,
        name: str,
        request_id: str,
        message: str,
        fields: dict[str, Any] | None = None,
    ) -> str:
        """The line of one record; ``fields`` are for JSON lines only."""
        stamp, milliseconds = self._clock.stamp(created)
        return f"{stamp},{milliseconds:03d} {level} {name} [{request_id}] {message}"

    def format(self, record: logging.LogRecord) -> str:
        text = self.line(
            record.created,
            record.levelname,
            record.name,
            getattr(record, "request_id", "-"),
            record.getMessage(),
        )
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            text = f"{text}\n{record.exc_text}"
        if record.stack_info:
            text = f"{text}\n{self.formatStack(record.stack_info)}"
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, request id, message, fields."""

    def __init__(self) -> None:
        super().__init__()
        self._clock = _Clock(time.gmtime, "%Y-%m-%dT%H:%M:%S")

    def line(
        self,
        created: float,
        level: str,
        name: str,
        request_id: str,
        message: str,
        fields: dict[str, Any] | None = None,
        **more: str,
    ) -> str:
        """The line of one record: its facts, then ``fields``, then ``more``."""
        stamp, milliseconds = self._clock.stamp(created)
        found: dict[str, Any] = {
            "time": f"{stamp}.{milliseconds:03d}Z",
            "level": level,
            "logger": name,
            "request_id": request_id,
            "message": message,
        }
        if fields:
            found.update(fields)
        found.update(more)
        return orjson.dumps(found, default=str).decode()

    def format(self, record: logging.LogRecord) -> str:
        more = {}
        if record.exc_info:
            more["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            more["exception"] = record.exc_text
        if record.stack_info:
            more["stack"] = self.formatStack(record.stack_info)
        fields = getattr(record, "fields", None)
        return self.line(
            record.created,
            record.levelname,
            record.name,
            getattr(record, "request_id", "-"),
            record.getMessage(),
            fields if isinstance(fields, dict) else None,
            **more,
        )


def write_access(message: str, fields: dict[str, Any]) -> None:
    """Write one access line, exactly as ``glimpse.access``'s ``info()`` would, for less.

    Every request writes one, and through ``logging`` a line costs a record, two
    filters, %-formatting and a lock: about 15 µs, a tenth of a metadata
    request. With the handler ``configure`` installed, the line is formatted by
    its formatter and written to its stream under its lock directly; with any
    other set-up (a library's, a test's) it goes through ``logging``.
    """
    handler = _our_handler()
    formatter = handler.formatter if handler is not None else None
    if (
        handler is None
        or handler.stream is None  # a file handler closed at exit: logging reopens it
        or not isinstance(formatter, TextFormatter | JsonFormatter)
    ):
        ACCESS_LOG.info(message, extra={"fields": fields})
        return
    line = formatter.line(time.time(), "INFO", ACCESS_LOG.name, REQUEST_ID.get(), message, fields)
    handler.acquire()
    try:
        if isinstance(handler, _WatchedFile):
            handler.reopenIfNeeded()
        handler.stream.write(line + handler.terminator)
        handler.flush()
    except Exception:
        handler.handleError(logging.makeLogRecord({"msg": line, "name": ACCESS_LOG.name}))
    finally:
        handler.release()


def _our_handler() -> _Standard | _WatchedFile | None:
    """The root handler ``configure`` installed, if it is the only one."""
    handlers = logging.root.handlers
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    return handler if isinstance(handler, _Standard | _WatchedFile) else None


def configure(settings: LoggingSettings) -> None:
    """Send every log record to one handler, as the settings say.

    Replaces the handlers of the root logger. A file destination is opened for
    appending and reopened when it is moved away (logrotate without
    ``copytruncate``). Raises ConfigError naming the key that is wrong.
    """
    level = LEVELS.get(settings.level.lower())
    if level is None:
        raise ConfigError(
            f"setting logging.level must be one of {', '.join(LEVELS)}, not {settings.level!r}"
        )
    if settings.format not in FORMATS:
        raise ConfigError(
            f"setting logging.format must be one of {', '.join(FORMATS)}, not {settings.format!r}"
        )
    handler: logging.Handler
    if settings.destination:
        try:
            handler = _WatchedFile(settings.destination)
        except OSError as exc:
            raise ConfigError(
                f"setting logging.destination: cannot open {settings.destination}: {exc.strerror}"
            ) from None
    else:
        handler = _Standard(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if settings.format == "json" else TextFormatter())
    # What no line shows costs a quarter of each record (the logging HOWTO's
    # "Optimization"): the caller's file and line, thread and process names.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)


def granian_config() -> dict[str, Any]:
    """A ``log_dictconfig`` for Granian that sends its lines through ``configure``'s handler.

    Granian otherwise prints its own lines (workers started, stopped) to
    standard output in a format of its own, which breaks a stream of JSON lines.
    """
    return {
        "formatters": {},
        "handlers": {},
        "loggers": {
            "_granian": {"handlers": [], "propagate": True},
            "granian.access": {"handlers": [], "propagate": True},
        },
    }


class _Standard(logging.StreamHandler[Any]):
    """Standard error, as ``configure`` sets it up (``write_access`` knows it)."""


class _WatchedFile(logging.handlers.WatchedFileHandler):
    """A file reopened when it was moved away, checked once a second rather than every line."""

    def __init__(self, path: str) -> None:
        super().__init__(path, encoding="utf-8")
        self._checked = time.monotonic()

    def reopenIfNeeded(self) -> None:
        now = time.monotonic()
        if now - self._checked >= 1.0:
            self._checked = now
            super().reopenIfNeeded()
