"""A real HTTP/1.1 web server on a free loopback port, serving files from a directory.

For tests of anything that reads from the web (the ``http`` store, fetchers).
Standard library only. Besides plain files it answers HEAD and single-range
GETs (206, 416), and a few path prefixes make it misbehave on purpose; the
modifiers can be stacked (``/redirect/2/nolength/cut/disk.img``):

| path | answer |
| --- | --- |
| ``/<file>`` | the file; ``Range: bytes=a-b`` (or ``a-``, ``-n``) gives 206 or 416 |
| ``/redirect/<n>/<rest>`` | 302 to ``/redirect/<n-1>/<rest>``, and ``/<rest>`` after ``n`` hops |
| ``/goto?to=<url>`` | 302 to ``url`` (any scheme, any host) |
| ``/status/<code>`` | that status code, with a short body |
| ``/flaky/<n>/<rest>`` | 503 for the first ``n`` requests of this exact path, then ``/<rest>`` |
| ``/hang/<anything>`` | reads the request and never answers (until the server stops) |
| ``/nolength/<rest>`` | no Content-Length: HEAD omits it, GET is sent chunked |
| ``/nohead/<rest>`` | HEAD answers 403 (as S3 presigned GET URLs do); GET works |
| ``/cut/<rest>`` | headers and half the body, then the connection is closed |
| ``/stall/<rest>`` | headers and half the body, then nothing until the server stops |
| ``/private/<rest>`` | 401 unless the request carries the server's Basic ``credentials`` |

```python
with serve_directory(tmp_path) as web:
    httpx.get(web.url_for("disk.img"))
    assert web.requests[-1].method == "GET"
```
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import socket
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_WRITE_CHUNK = 64 * 1024
#: A connection idle for this long is closed, a backstop only: leaving ``serve_directory``
#: ends every connection at once.
_IDLE_TIMEOUT = 30.0


@dataclass(frozen=True)
class SeenRequest:
    """One request the server received: method, raw path (with query) and headers."""

    method: str
    path: str
    headers: Mapping[str, str]


@dataclass
class WebServer:
    """A running server: its base ``url`` and what it has been asked.

    ``honour_range`` may be changed while the server runs; when false, Range
    headers are ignored and every GET answers 200 with the whole file.
    """

    url: str
    directory: Path
    honour_range: bool = True
    credentials: tuple[str, str] | None = None
    requests: list[SeenRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)
    _flaky: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def host(self) -> str:
        """``host:port`` of the server, for building URLs by hand."""
        return urlsplit(self.url).netloc

    def url_for(self, path: str, *, userinfo: str | None = None) -> str:
        """The URL of ``path`` (a file name, perhaps behind prefixes), with ``userinfo@``."""
        netloc = f"{userinfo}@{self.host}" if userinfo is not None else self.host
        return f"http://{netloc}/{path.lstrip('/')}"

    def seen(self, method: str | None = None) -> list[SeenRequest]:
        """The requests received so far, of ``method`` when given."""
        with self._lock:
            return [r for r in self.requests if method is None or r.method == method]

    def _record(self, request: SeenRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _take_failure(self, path: str, failures: int) -> bool:
        """Whether this request of ``path`` is one of its first ``failures``."""
        with self._lock:
            count = self._flaky.get(path, 0)
            self._flaky[path] = count + 1
            return count < failures


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close (no thread outlives the server).
    daemon_threads = False
    block_on_close = True

    def __init__(self, web: WebServer) -> None:
        self.web = web
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        with self.connections_lock:
            self.connections.add(conn)
        return conn, address

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """End every open connection, waking handlers blocked reading the next request."""
        with self.connections_lock:
            live = list(self.connections)
        for conn in live:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away mid-answer (timeouts, cut tests) is expected here.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GlimpseTestWeb/1"
    timeout = _IDLE_TIMEOUT
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read ``WebServer.requests`` instead

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_GET(self) -> None:
        self._answer(head=False)

    def _answer(self, *, head: bool) -> None:
        web = self.server.web
        web._record(SeenRequest(self.command, self.path, dict(self.headers.items())))
        parts = urlsplit(self.path)
        segments = [unquote(s) for s in parts.path.split("/")[1:]]
        flags: set[str] = set()
        while segments:
            first = segments[0]
            if first == "redirect" and len(segments) >= 2 and segments[1].isdigit():
                hops = int(segments[1])
                rest = "/".join(quote(s) for s in segments[2:])
                if parts.query:
                    rest += f"?{parts.query}"
                target = f"/redirect/{hops - 1}/{rest}" if hops > 1 else f"/{rest}"
                self._redirect(target)
                return
            if first == "goto":
                self._redirect(parse_qs(parts.query).get("to", ["/"])[0])
                return
            if first == "status" and len(segments) >= 2 and segments[1].isdigit():
                self._status(int(segments[1]), head=head)
                return
            if first == "hang":
                web._stopping.wait()
                self.close_connection = True
                return
            if first == "flaky" and len(segments) >= 2 and segments[1].isdigit():
                if web._take_failure(parts.path, int(segments[1])):
                    self._status(503, head=head)
                    return
                segments = segments[2:]
                continue
            if first in ("nolength", "nohead", "cut", "stall", "private"):
                flags.add(first)
                segments = segments[1:]
                continue
            break
        if "private" in flags and not self._authorised():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="glimpse-test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if head and "nohead" in flags:
            self._status(403, head=True)
            return
        path = self._file(segments)
        if path is None:
            self._status(404, head=head)
            return
        self._send_file(path, flags, head=head)

    def _authorised(self) -> bool:
        expected = self.server.web.credentials
        if expected is None:
            return True
        token = base64.b64encode(f"{expected[0]}:{expected[1]}".encode()).decode()
        return self.headers.get("Authorization") == f"Basic {token}"

    def _file(self, segments: list[str]) -> Path | None:
        directory = self.server.web.directory
        if not segments or any(s in ("", ".", "..") or "\0" in s for s in segments):
            return None
        path = directory.joinpath(*segments)
        try:
            if not path.resolve().is_relative_to(directory) or not path.is_file():
                return None
        except OSError:
            return None
        return path

    def _redirect(self, target: str) -> None:
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _status(self, code: int, *, head: bool) -> None:
        body = b"" if code < 200 or code in (204, 304) else f"status {code}\n".encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _send_file(self, path: Path, flags: set[str], *, head: bool) -> None:
        size = path.stat().st_size
        chosen = self._range(size)
        nolength = "nolength" in flags
        if isinstance(chosen, str):  # "unsatisfiable"
            self.send_response(416)
            if not nolength:
                self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        start, end = chosen if chosen is not None else (0, size)
        if chosen is not None:
            self.send_response(206)
            total = "*" if nolength else str(size)
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{total}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes" if self.server.web.honour_range else "none")
        if nolength:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if head:
            return None
        stop = end
        if "cut" in flags or "stall" in flags:
            stop = start + (end - start) // 2
        with path.open("rb") as file:
            file.seek(start)
            left = stop - start
            while left > 0:
                data = file.read(min(_WRITE_CHUNK, left))
                if not data:
                    break
                left -= len(data)
                self._write(data, chunked=nolength)
        if "stall" in flags:
            self.wfile.flush()
            self.server.web._stopping.wait()
        if "cut" in flags or "stall" in flags:
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return None
        if nolength:
            self.wfile.write(b"0\r\n\r\n")

    def _write(self, data: bytes, *, chunked: bool) -> None:
        if chunked:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        else:
            self.wfile.write(data)

    def _range(self, size: int) -> tuple[int, int] | str | None:
        """The (start, end) asked for, "unsatisfiable", or None to send everything."""
        header = self.headers.get("Range")
        if header is None or not self.server.web.honour_range:
            return None
        match = _RANGE.fullmatch(header.strip())
        if match is None:
            return None  # malformed or several ranges: a server may send it all (RFC 9110)
        first, last = match.groups()
        if not first and not last:
            return None
        if not first:  # the last N bytes
            count = int(last)
            if count == 0 or size == 0:
                return "unsatisfiable"
            return (max(0, size - count), size)
        start = int(first)
        if last and int(last) < start:
            return None
        if start >= size:
            return "unsatisfiable"
        end = size if not last else min(int(last) + 1, size)
        return (start, end)


@contextlib.contextmanager
def serve_directory(
    path: str | os.PathLike[str],
    *,
    honour_range: bool = True,
    credentials: tuple[str, str] | None = None,
) -> Iterator[WebServer]:
    """Serve the files under ``path`` at ``http://127.0.0.1:<free port>`` until the block ends.

    ``honour_range=False`` makes the server ignore Range headers;
    ``credentials`` (user, password) guard the ``/private/`` prefix. On exit
    every connection is closed and every thread of the server joined.
    """
    directory = Path(path).resolve()
    web = WebServer(url="", directory=directory, honour_range=honour_range, credentials=credentials)
    server = _Server(web)
    host, port = server.server_address[:2]
    web.url = f"http://{host!s}:{port}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="glimpse-web-server"
    )
    thread.start()
    try:
        yield web
    finally:
        server.shutdown()  # no new connections are accepted after this returns
        web._stopping.set()  # wake /hang and /stall handlers
        server.drop_connections()
        server.server_close()  # joins every handler thread
        thread.join()


__all__ = ["SeenRequest", "WebServer", "serve_directory"]
