"""Start-up: each failure prints one line naming its cause and exits non-zero; the port
is the server's alone; `make serve` takes its address and data directory from settings."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from serving import Authority

from glimpse.testing import ServerProcess, free_port
from glimpse.testing.server import stop_group, wait_until_answers

REPO = Path(__file__).resolve().parents[2]


def serve(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`glimpse serve` that is expected to fail at once."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GLIMPSE_")}
    environ |= {
        "GLIMPSE_DATA_DIR": str(tmp_path / "data"),
        "GLIMPSE_SERVER__PORT": str(free_port()),
        "GLIMPSE_SERVER__WORKERS": "1",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "glimpse", "serve", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line(done: subprocess.CompletedProcess[str], code: int, *parts: str) -> None:
    """Exit ``code``, and one line on stderr (none on stdout) holding every part."""
    assert done.returncode == code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert done.stdout == ""
    for part in parts:
        assert part in lines[0]
    assert "Traceback" not in lines[0]
    assert "panicked" not in lines[0]


def test_a_second_server_on_the_port_fails(start: Callable[..., ServerProcess]) -> None:
    first = start()
    second = ServerProcess(data_dir=first.data_dir.parent / "second", port=first.port)
    done = second.command("serve")
    one_line(done, 1, f"cannot listen on 127.0.0.1:{first.port}: address already in use")
    assert first.process is not None
    assert first.process.poll() is None
    assert not (first.data_dir.parent / "second" / "glimpse.db").exists()


def test_any_listener_on_the_port_stops_start_up(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = serve(tmp_path, "--port", str(port))
    one_line(done, 1, "address already in use")


@pytest.mark.parametrize("port", ["65536", "70000"])
def test_port_out_of_range(tmp_path: Path, port: str) -> None:
    one_line(serve(tmp_path, "--port", port), 2, f"server.port must be at most 65535, not {port}")


@pytest.mark.parametrize("host", ["300.1.2.3", "no-such-host.invalid", "::g"])
def test_invalid_host(tmp_path: Path, host: str) -> None:
    one_line(serve(tmp_path, "--host", host), 1, "cannot listen on", host, "not known")


def test_a_host_not_on_this_machine(tmp_path: Path) -> None:
    done = serve(tmp_path, "--host", "192.0.2.1")  # TEST-NET-1: never local
    one_line(done, 1, "cannot listen on 192.0.2.1:", "cannot assign requested address")


@pytest.mark.parametrize(
    ("given", "where"),
    [
        (["--workers", "0"], {}),
        ([], {"GLIMPSE_SERVER__WORKERS": "0"}),
        ([], {"GLIMPSE_SERVER__WORKERS": "-2"}),
    ],
)
def test_workers_below_one(tmp_path: Path, given: list[str], where: dict[str, str]) -> None:
    one_line(serve(tmp_path, *given, **where), 2, "setting server.workers must be at least 1")


def test_workers_below_one_in_the_settings_file(tmp_path: Path) -> None:
    config = tmp_path / "glimpse.toml"
    config.write_text("[server]\nworkers = 0\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GLIMPSE_")}
    done = subprocess.run(
        [sys.executable, "-m", "glimpse", "--config", str(config), "serve"],
        env={**environ, "GLIMPSE_DATA_DIR": str(tmp_path / "data")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    one_line(done, 2, "setting server.workers must be at least 1, not 0")


def test_unreadable_certificate_names_the_file(tmp_path: Path, authority: Authority) -> None:
    missing = tmp_path / "missing.pem"
    issued = authority.issue("startup-server", server=True)
    done = serve(
        tmp_path, GLIMPSE_SERVER__TLS_CERT=str(missing), GLIMPSE_SERVER__TLS_KEY=str(issued.key)
    )
    one_line(done, 2, f"server.tls_cert {missing} cannot be read: No such file or directory")


def test_a_certificate_file_without_a_certificate(tmp_path: Path, authority: Authority) -> None:
    issued = authority.issue("startup-garbled", server=True)
    garbled = tmp_path / "garbled.pem"
    garbled.write_text("not a certificate\n")
    done = serve(
        tmp_path, GLIMPSE_SERVER__TLS_CERT=str(garbled), GLIMPSE_SERVER__TLS_KEY=str(issued.key)
    )
    one_line(done, 2, f"server.tls_cert {garbled} holds no PEM certificate")


def test_key_not_matching_the_certificate(tmp_path: Path, authority: Authority) -> None:
    mine = authority.issue("startup-mine", server=True)
    other = authority.issue("startup-other", server=True)
    done = serve(
        tmp_path, GLIMPSE_SERVER__TLS_CERT=str(mine.cert), GLIMPSE_SERVER__TLS_KEY=str(other.key)
    )
    one_line(done, 2, f"server.tls_key {other.key} does not match server.tls_cert {mine.cert}")


def test_unreadable_client_ca_names_the_file(tmp_path: Path, authority: Authority) -> None:
    issued = authority.issue("startup-ca", server=True)
    done = serve(
        tmp_path,
        GLIMPSE_SERVER__TLS_CERT=str(issued.cert),
        GLIMPSE_SERVER__TLS_KEY=str(issued.key),
        GLIMPSE_SERVER__TLS_CLIENT_CA=str(tmp_path / "nope.pem"),
    )
    one_line(done, 2, f"server.tls_client_ca {tmp_path / 'nope.pem'} cannot be read")


def test_data_directory_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    wanted = tmp_path / "file" / "data"
    done = serve(tmp_path, "--data-dir", str(wanted))
    one_line(done, 1, f"data directory {wanted} cannot be created: Not a directory")


def test_data_directory_that_cannot_be_written(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root writes through file modes; no process may create files in procfs.
        wanted = Path("/proc/self/fdinfo")
    else:
        wanted = tmp_path / "read-only"
        wanted.mkdir(mode=0o500)
    done = serve(tmp_path, "--data-dir", str(wanted))
    one_line(done, 1, "data directory", "is not writable")


def test_registry_that_cannot_be_reached(tmp_path: Path) -> None:
    done = serve(tmp_path, GLIMPSE_REGISTRY__URL="postgresql://glimpse@127.0.0.1:1/glimpse")
    one_line(done, 1, "the registry cannot be used:", "Connection refused")


def test_make_serve_takes_address_and_data_dir_from_settings(tmp_path: Path) -> None:
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GLIMPSE_")}
    environ |= {
        "GLIMPSE_SERVER__PORT": str(port),
        "GLIMPSE_SERVER__WORKERS": "1",
        "GLIMPSE_DATA_DIR": str(tmp_path / "made"),
    }
    # -o: the virtualenv stamp counts as up to date, so make only runs the server.
    process = subprocess.Popen(
        ["make", "-s", "-o", ".venv/.installed", "serve"],
        cwd=REPO,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert wait_until_answers(f"http://127.0.0.1:{port}", lambda: process.poll() is None, 60)
        assert (tmp_path / "made" / "glimpse.db").exists()
    finally:
        stop_group(process)
    assert process.returncode in (0, -signal.SIGTERM)
