"""Progress bars: drawn on a terminal, never in a pipe or with --no-progress."""

from __future__ import annotations

import os
import pty
import re
import secrets
import select
import subprocess
import sys
import time
from pathlib import Path

from client_support import at, clean_environment, glimpse, json_of, ok

from glimpse.testing import ServerProcess

#: What rich's DownloadColumn draws: "1.0/2.1 MB".
BYTES_DONE = re.compile(rb"[0-9.]+/[0-9.]+ (?:bytes|[kMG]B)")


def _on_terminal(args: list[str], env: dict[str, str]) -> tuple[int, bytes]:
    """Run `glimpse ARGS` with stdin, stdout and stderr on a pseudo-terminal; its exit
    status and everything it drew."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "glimpse", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=clean_environment({**env, "TERM": "xterm-256color", "COLUMNS": "120"}),
    )
    os.close(follower)
    drawn = b""
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: every copy of the follower is closed
                    break
                if not chunk:
                    break
                drawn += chunk
            elif process.poll() is not None:
                break
        return process.wait(timeout=60), drawn
    finally:
        os.close(leader)


def test_progress_on_a_terminal_and_not_in_a_pipe(
    sqlite_server: ServerProcess, tmp_path: Path
) -> None:
    env = at(sqlite_server)
    source = tmp_path / "data.raw"
    source.write_bytes(secrets.token_bytes(3 << 20))
    image = json_of(glimpse("image", "create", "--name", "progress", "-f", "json", env=env))

    code, drawn = _on_terminal(["image", "upload", image["id"], str(source)], env)
    assert code == 0, drawn
    assert b"uploading" in drawn
    assert BYTES_DONE.search(drawn), drawn

    target = tmp_path / "copy.raw"
    code, drawn = _on_terminal(["image", "download", image["id"], "--file", str(target)], env)
    assert code == 0, drawn
    assert b"downloading" in drawn
    assert BYTES_DONE.search(drawn), drawn
    assert target.read_bytes() == source.read_bytes()

    quiet = tmp_path / "quiet.raw"
    code, drawn = _on_terminal(
        ["image", "download", image["id"], "--file", str(quiet), "--no-progress"], env
    )
    assert code == 0
    assert b"downloading" not in drawn
    assert not BYTES_DONE.search(drawn)

    piped = glimpse("image", "download", image["id"], "--file", str(tmp_path / "p.raw"), env=env)
    ok(piped)
    assert piped.stderr == b""


def test_download_refuses_a_terminal_stdout(sqlite_server: ServerProcess) -> None:
    env = at(sqlite_server)
    image = json_of(glimpse("image", "create", "--name", "tty", "-f", "json", env=env))
    code, drawn = _on_terminal(["image", "download", image["id"]], env)
    assert code == 2
    assert b"refusing to write image data to a terminal" in drawn
