"""Signals and workers: SIGHUP reloads the settings file without dropping a request or a
connection, SIGTERM and SIGINT drain and exit 0, a dead worker is replaced, and one
that cannot start stops the server with the reason."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from serving import log_count, wait_for

from glimpse.testing import ServerProcess
from helpers import make_image

MIB = 1 << 20


def configured(
    start: Callable[..., ServerProcess], tmp_path: Path, text: str, **env: str
) -> ServerProcess:
    config = tmp_path / "glimpse.toml"
    config.write_text(text)
    return start(GLIMPSE_CONFIG=str(config), **env)


def workers(server: ServerProcess) -> set[int]:
    return set(server.pids()[1:])


def listed(server: ServerProcess) -> int:
    return len(httpx.get(f"{server.url}/v2/images", timeout=10).json()["images"])


def master(server: ServerProcess) -> int:
    assert server.process is not None
    return server.process.pid


class Upload(threading.Thread):
    """A PUT of ``size`` bytes, sent a MiB at a time every ``pause`` seconds."""

    def __init__(self, server: ServerProcess, image_id: str, size: int, pause: float) -> None:
        super().__init__(daemon=True)
        self.server, self.image_id, self.size, self.pause = server, image_id, size, pause
        self.sent = 0
        self.status: int | None = None
        self.digest = hashlib.md5(usedforsecurity=False)

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        conn.putrequest("PUT", f"/v2/images/{self.image_id}/file")
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(self.size))
        conn.endheaders()
        while self.sent < self.size:
            block = os.urandom(MIB)
            conn.send(block)
            self.digest.update(block)
            self.sent += len(block)
            time.sleep(self.pause)
        self.status = conn.getresponse().status
        conn.close()


class Knocker(threading.Thread):
    """New connections, one after another, until stopped; counts the ones refused."""

    def __init__(self, server: ServerProcess) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.stop = threading.Event()
        self.answered = 0
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
            try:
                conn.request("GET", "/versions")
                response = conn.getresponse()
                response.read()
                self.answered += response.status == 200
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(repr(exc))
            finally:
                conn.close()


def test_sighup_replaces_workers_without_dropping_anything(
    start: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = configured(start, tmp_path, "[images]\nlimit_default = 25\n")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for _ in range(2):
            make_image(client)
        image = make_image(client)
    assert listed(server) == 3
    before = workers(server)
    upload = Upload(server, image["id"], 48 * MIB, pause=0.08)  # about 4 s
    knocker = Knocker(server)
    upload.start()
    knocker.start()
    wait_for(lambda: upload.sent >= 4 * MIB, what="the upload under way")

    (tmp_path / "glimpse.toml").write_text("[images]\nlimit_default = 1\n")
    os.kill(master(server), signal.SIGHUP)
    wait_for(lambda: log_count(server, "settings reloaded") == 1, what="the reload")
    assert upload.is_alive(), "the upload ended before the reload: make it slower"
    # New requests go to the new workers, with the new settings (once the old
    # worker has taken in its stop, a matter of milliseconds)...
    wait_for(lambda: listed(server) == 1, timeout=5, what="the new settings")
    assert [listed(server) for _ in range(5)] == [1] * 5
    # ...while the old worker is still at the upload it had.
    assert before & set(server.pids()), "the old worker left before its upload was done"
    upload.join(60)
    knocker.stop.set()
    knocker.join(30)

    assert upload.status == 204
    got = httpx.get(f"{server.url}/v2/images/{image['id']}", timeout=10).json()
    assert got["status"] == "active"
    assert got["size"] == 48 * MIB
    assert got["checksum"] == upload.digest.hexdigest()
    wait_for(lambda: not before & workers(server), what="the old worker's exit")
    assert knocker.failures == []
    assert knocker.answered > 0


def test_sighup_applies_new_logging_settings(
    start: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = configured(start, tmp_path, "[logging]\nformat = 'text'\n")
    (tmp_path / "glimpse.toml").write_text("[logging]\nformat = 'json'\n")
    os.kill(master(server), signal.SIGHUP)
    wait_for(lambda: log_count(server, "settings reloaded") == 1, what="the reload")
    request_id = httpx.get(f"{server.url}/versions", timeout=10).headers["x-openstack-request-id"]

    def access_lines() -> list[dict[str, object]]:
        found = []
        for line in server.log().splitlines():
            if line.startswith("{") and request_id in line:
                found.append(json.loads(line))
        return found

    wait_for(access_lines, what="a JSON access line from a new worker")
    [line] = access_lines()
    assert line["logger"] == "glimpse.access"
    assert line["status"] == 200


def test_settings_that_no_longer_load_keep_the_old_workers(
    start: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = configured(start, tmp_path, "[images]\nlimit_default = 1\n")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        make_image(client)
        make_image(client)
    before = workers(server)
    (tmp_path / "glimpse.toml").write_text("[images\nlimit_default = 25\n")
    os.kill(master(server), signal.SIGHUP)
    wait_for(lambda: log_count(server, "settings not reloaded") == 1, what="the refusal")
    assert "is not valid TOML" in server.log()
    assert workers(server) == before
    assert listed(server) == 1

    # A settings file that loads but cannot work is refused too, naming the key.
    missing = tmp_path / "missing.pem"
    (tmp_path / "glimpse.toml").write_text(
        f'[server]\ntls_cert = "{missing}"\ntls_key = "{missing}"\n'
    )
    os.kill(master(server), signal.SIGHUP)
    wait_for(lambda: log_count(server, "settings not reloaded") == 2, what="the second refusal")
    assert f"server.tls_cert {missing} cannot be read" in server.log()
    assert workers(server) == before


def test_a_worker_replaced_after_a_crash_reads_the_settings_its_siblings_run(
    start: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = configured(start, tmp_path, "[images]\nlimit_default = 1\n")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        make_image(client)
        make_image(client)
    (tmp_path / "glimpse.toml").write_text("[images]\nlimit_default = 25\n")  # not reloaded
    (victim,) = workers(server)
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: log_count(server, "starting a replacement") == 1, what="the replacement")
    wait_for(lambda: len(workers(server) - {victim}) == 1, what="a new worker")
    wait_for(lambda: httpx.get(f"{server.url}/versions").status_code == 200, what="an answer")
    assert listed(server) == 1


def test_sigterm_lets_a_download_finish_then_exits_0(
    start: Callable[..., ServerProcess],
) -> None:
    server = start()
    data = os.urandom(32 * MIB)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        image = make_image(client)
        put = client.put(
            f"/v2/images/{image['id']}/file",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert put.status_code == 204
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", f"/v2/images/{image['id']}/file")
    response = conn.getresponse()
    assert response.status == 200
    received = response.read(MIB)

    os.kill(master(server), signal.SIGTERM)
    # New connections are refused at once...
    wait_for(lambda: _refused(server.port), timeout=10, what="new connections refused")
    # ...while the download in flight goes on to its last byte.
    while chunk := response.read(MIB):
        received += chunk
        time.sleep(0.02)
    conn.close()
    assert hashlib.sha256(received).digest() == hashlib.sha256(data).digest()
    assert server.process is not None
    assert server.process.wait(30) == 0
    assert "Traceback" not in server.log()


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigint_to_the_whole_group_exits_0(start: Callable[..., ServerProcess]) -> None:
    server = start(workers=2)
    os.killpg(master(server), signal.SIGINT)  # what Ctrl-C in a terminal does
    assert server.process is not None
    assert server.process.wait(30) == 0
    assert "Traceback" not in server.log()


def test_a_killed_worker_is_replaced(start: Callable[..., ServerProcess]) -> None:
    server = start(workers=2)
    wait_for(lambda: log_count(server, "Started worker-") == 2, what="both workers serving")
    first, second = sorted(workers(server))
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: "was killed by SIGKILL; starting a replacement" in server.log(), what="log")
    wait_for(lambda: len(workers(server) - {first}) == 2, what="two workers again")
    assert second in workers(server)
    for _ in range(10):
        assert httpx.get(f"{server.url}/v2/images", timeout=10).status_code == 200


def test_a_replacement_that_cannot_start_stops_the_server(
    start: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({}))
    server = start(GLIMPSE_POLICY__FILE=str(policy))
    policy.unlink()
    (victim,) = workers(server)
    os.kill(victim, signal.SIGKILL)
    assert server.process is not None
    assert server.process.wait(30) == 1
    last = server.log().strip().splitlines()[-1]
    assert last == (
        f"glimpse: a replacement worker 1 could not start: cannot read policy file {policy}: "
        "No such file or directory"
    )
    assert "Traceback" not in server.log()
