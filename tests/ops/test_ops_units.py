"""Units of the operators' layers where the logic is dense: proxy headers, redaction,
JSON log lines, crash answers and the metrics directory."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from glimpse import logs, metrics
from glimpse.api import errors as api_errors
from glimpse.api.middleware import ProxyHeaders, RequestFrame, parse_forwarded, parse_networks
from glimpse.api.observe import REDACTED, redact, redact_query
from glimpse.errors import ConfigError
from glimpse.settings import Settings


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "for=192.0.2.60;proto=http;by=203.0.113.43",
            [{"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"}],
        ),
        ('for="[2001:db8:cafe::17]:4711"', [{"for": "[2001:db8:cafe::17]:4711"}]),
        ("for=192.0.2.43, for=198.51.100.17", [{"for": "192.0.2.43"}, {"for": "198.51.100.17"}]),
        (
            'For=a;PROTO=https ; host="x.example:8443"',
            [{"for": "a", "proto": "https", "host": "x.example:8443"}],
        ),
        ('for="quoted \\"q\\", with comma"', [{"for": 'quoted "q", with comma'}]),
        ("for=a;for=b", [{"for": "a"}]),
        (",, for=a ,", [{"for": "a"}]),
        ("garbage", []),
        ("for=a b", []),
        ('for="unterminated', []),
        ("", []),
    ],
)
def test_parse_forwarded(header: str, expected: list[dict[str, str]]) -> None:
    assert parse_forwarded(header) == expected


def _scope(peer: str, *headers: tuple[str, str]) -> dict[str, Any]:
    return {
        "type": "http",
        "scheme": "http",
        "path": "/versions",
        "root_path": "",
        "client": (peer, 5000),
        "server": ("127.0.0.1", 9292),
        "headers": [(b"host", b"inside:9292")]
        + [(k.lower().encode(), v.encode()) for k, v in headers],
    }


TRUSTED = parse_networks(["10.0.0.0/8", "127.0.0.1"], "server.trusted_proxies")


def _forwarded(scope: dict[str, Any]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(scope)

    asyncio.run(ProxyHeaders(app, TRUSTED)(scope, None, None))  # type: ignore[arg-type]
    return seen


def _host(scope: dict[str, Any]) -> bytes:
    host: bytes = dict(scope["headers"])[b"host"]
    return host


def test_x_forwarded_from_a_trusted_proxy() -> None:
    seen = _forwarded(
        _scope(
            "10.1.1.1",
            ("X-Forwarded-For", "203.0.113.5"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "images.example.com"),
            ("X-Forwarded-Prefix", "/image/"),
        )
    )
    assert seen["scheme"] == "https"
    assert _host(seen) == b"images.example.com"
    assert seen["client"] == ("203.0.113.5", 0)
    assert seen["root_path"] == "/image"


def test_headers_from_anyone_else_are_ignored() -> None:
    scope = _scope(
        "192.0.2.1",
        ("X-Forwarded-For", "203.0.113.5"),
        ("X-Forwarded-Proto", "https"),
        ("Forwarded", "for=1.2.3.4;host=evil.example;proto=https"),
    )
    seen = _forwarded(scope)
    assert seen["scheme"] == "http"
    assert _host(seen) == b"inside:9292"
    assert seen["client"] == ("192.0.2.1", 5000)


def test_forwarded_wins_and_the_client_is_the_first_untrusted_hop_from_the_right() -> None:
    # The client forged the first element; proxies 10.2.2.2 then 10.1.1.1 appended theirs.
    seen = _forwarded(
        _scope(
            "10.1.1.1",
            ("Forwarded", "for=6.6.6.6;host=evil.example;proto=http"),
            ("Forwarded", 'for=198.51.100.7;host=cloud.example;proto=https, for="10.2.2.2:80"'),
            ("X-Forwarded-Host", "ignored.example"),
        )
    )
    assert seen["client"] == ("198.51.100.7", 0)
    assert _host(seen) == b"cloud.example"
    assert seen["scheme"] == "https"


def test_x_forwarded_for_chain_and_aligned_proto() -> None:
    seen = _forwarded(
        _scope(
            "127.0.0.1",
            ("X-Forwarded-For", "6.6.6.6, 198.51.100.7:1234, 10.2.2.2"),
            ("X-Forwarded-Proto", "http, https, http"),
        )
    )
    assert seen["client"] == ("198.51.100.7", 1234)
    assert seen["scheme"] == "https"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Forwarded-Proto", "javascript"),
        ("X-Forwarded-Host", "evil.example/path"),
        ("X-Forwarded-Host", "user@evil.example"),
        ("X-Forwarded-Prefix", "/a/../b"),
        ("X-Forwarded-Prefix", "no-slash"),
        ("Forwarded", "host=a b"),
    ],
)
def test_values_that_are_not_a_scheme_host_or_path_are_ignored(name: str, value: str) -> None:
    seen = _forwarded(_scope("127.0.0.1", (name, value)))
    assert seen["scheme"] == "http"
    assert _host(seen) == b"inside:9292"
    assert seen["root_path"] == ""


def test_ipv4_mapped_peer_is_trusted() -> None:
    seen = _forwarded(_scope("::ffff:10.0.0.9", ("X-Forwarded-Proto", "https")))
    assert seen["scheme"] == "https"


def test_bad_network_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"server\.trusted_proxies: 'proxy' is not"):
        parse_networks(["proxy"], "server.trusted_proxies")


def test_redact_headers_and_query() -> None:
    shown = redact(
        [
            (b"X-Auth-Token", b"gAAAA-secret"),
            (b"authorization", b"Basic dXNlcjpodW50ZXIy"),
            (b"x-subject-token", b"s1"),
            (b"X-Service-Token", b"s2"),
            (b"x-auth-password", b"p"),
            (b"cookie", b"session=1"),
            (b"accept", b"application/json"),
            (b"x-image-meta-name", b"kept"),
        ]
    )
    assert shown == {
        "x-auth-token": REDACTED,
        "authorization": REDACTED,
        "x-subject-token": REDACTED,
        "x-service-token": REDACTED,
        "x-auth-password": REDACTED,
        "cookie": REDACTED,
        "accept": "application/json",
        "x-image-meta-name": "kept",
    }
    assert redact_query("name=x&password=hunter2&os_token=t&limit=2") == (
        f"name=x&password={REDACTED}&os_token={REDACTED}&limit=2"
    )


def test_json_lines_carry_the_request_id_fields_and_traceback() -> None:
    formatter = logs.JsonFormatter()
    record = logging.LogRecord("glimpse.x", logging.ERROR, __file__, 1, "failed %s", ("it",), None)
    try:
        raise ValueError("inner")
    except ValueError:
        record.exc_info = sys.exc_info()
    record.request_id = "req-1"
    record.fields = {"status": 500}
    line = json.loads(formatter.format(record))
    assert line["request_id"] == "req-1"
    assert line["message"] == "failed it"
    assert line["status"] == 500
    assert line["level"] == "ERROR"
    assert line["time"].endswith("Z")
    assert "ValueError: inner" in line["exception"]


@pytest.mark.parametrize("shape", ["text", "json"])
def test_access_lines_are_the_lines_logging_writes(tmp_path: Path, shape: str) -> None:
    """``write_access`` skips the logging machinery, not anything a line shows."""
    from glimpse.settings import LoggingSettings

    destination = tmp_path / "access.log"
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    fields = {"status": 200, "route": "/v2/images/{image_id}", "user": "ü"}
    try:
        logs.configure(LoggingSettings(format=shape, destination=str(destination)))
        token = logs.REQUEST_ID.set("req-same")
        try:
            logs.write_access('127.0.0.1 "GET /x" 200', fields)
            logging.getLogger("glimpse.access").info(
                '%s "GET /x" %d', "127.0.0.1", 200, extra={"fields": fields}
            )
        finally:
            logs.REQUEST_ID.reset(token)
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
            handler.close()
        root.handlers[:], root.level = saved
    fast, slow = destination.read_text(encoding="utf-8").splitlines()
    if shape == "json":
        fast_line, slow_line = json.loads(fast), json.loads(slow)
        assert fast_line.pop("time")[:19] == slow_line.pop("time")[:19]
        assert fast_line == slow_line
        assert fast_line["request_id"] == "req-same"
    else:
        assert fast[:19] == slow[:19]  # the same second
        assert fast[23:] == slow[23:] == (' INFO glimpse.access [req-same] 127.0.0.1 "GET /x" 200')


def test_access_lines_go_through_logging_under_another_set_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="glimpse.access"):
        logs.write_access("a line", {"status": 204})
    [record] = [r for r in caplog.records if r.name == "glimpse.access"]
    assert record.getMessage() == "a line"
    assert record.fields == {"status": 204}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("field", "value", "key"),
    [("level", "loud", "logging.level"), ("format", "xml", "logging.format")],
)
def test_bad_logging_settings_name_the_key(field: str, value: str, key: str) -> None:
    from glimpse.settings import LoggingSettings

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        logs.configure(LoggingSettings(**{field: value}))  # type: ignore[arg-type]


def _crashing_app(after_start: bool) -> RequestFrame:
    async def boom(request: Request) -> Response:
        raise RuntimeError("secret detail")

    async def stream(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("cut short")

    app = Starlette(
        routes=[Route("/boom", boom)],
        exception_handlers={Exception: api_errors.unexpected_error},
    )
    return RequestFrame(stream if after_start else app)


def _call(app: RequestFrame) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {**_scope("127.0.0.1"), "method": "GET", "path": "/boom", "query_string": b""}
    asyncio.run(app(scope, receive, send))
    return sent


def test_a_crash_is_a_bare_500_and_one_logged_traceback_with_the_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.handler.addFilter(logs.RequestIdFilter())
    with caplog.at_level(logging.ERROR):
        sent = _call(_crashing_app(after_start=False))  # does not raise: it was answered
    start, body = sent[0], sent[1]
    assert start["status"] == 500
    request_id = dict(start["headers"])[b"x-openstack-request-id"].decode()
    assert b"secret detail" not in body["body"]
    assert b"Traceback" not in body["body"]
    assert json.loads(body["body"])["error"]["code"] == 500
    [record] = [r for r in caplog.records if r.exc_info]
    assert record.request_id == request_id  # type: ignore[attr-defined]
    assert "secret detail" in str(record.exc_info[1])  # type: ignore[index]


def test_a_response_cut_short_still_fails_up_to_the_server() -> None:
    with pytest.raises(RuntimeError, match="cut short"):
        _call(_crashing_app(after_start=True))


def test_process_environment_makes_a_private_directory_per_run(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    stale = tmp_path / "metrics" / dead.stdout.strip()
    stale.mkdir(parents=True)
    (stale / "counter_1.db").write_bytes(b"x")
    live = tmp_path / "metrics" / "1"  # init never dies
    live.mkdir()
    environ = os.environ.pop(metrics.MULTIPROC_ENV, None)
    try:
        found = metrics.process_environment(Settings(data_dir=str(tmp_path)))
    finally:
        if environ is not None:
            os.environ[metrics.MULTIPROC_ENV] = environ
    run = Path(found[metrics.MULTIPROC_ENV])
    assert run == tmp_path / "metrics" / str(os.getpid())
    assert run.is_dir()
    assert run.stat().st_mode & 0o777 == 0o700
    assert not stale.exists()
    assert live.exists()


def test_exposure_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"metrics\.exposure must be one of off, open, admins"):
        metrics.check_exposure("public")
