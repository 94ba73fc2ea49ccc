"""The README's commands work as written: its "Using it" block runs against a real server."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from glimpse.testing import ServerProcess

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def _block(section: str) -> str:
    body = README.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```sh\n(.*?)```", body, re.S)
    assert match, f"no sh block under {section}"
    return match.group(1)


def test_using_it_runs_as_written(sqlite_server: ServerProcess, tmp_path: Path) -> None:
    # A clone's directory: the commands refer to .venv/bin/... and write disk.raw here.
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    script = _block("Using it").replace("http://127.0.0.1:9292", sqlite_server.url)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "GLIMPSE_"))}
    done = subprocess.run(
        ["sh", "-e", "-c", script],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cirros" in done.stdout
    assert done.stdout.rstrip().endswith("active")


def test_the_two_commands_are_make_targets() -> None:
    block = _block("The two commands")
    makefile = (REPO / "Makefile").read_text()
    for line in block.splitlines():
        target = line.split("#")[0].split()[1]
        assert re.search(rf"^{target}:", makefile, re.M), target
