"""The README's commands work as written: its "Using it" block runs against a real server."""

from __future__ import annotations

import os
import re
import subprocess
import textwrap
from pathlib import Path

from glimpse.app import build_stores
from glimpse.settings import load
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


def _toml_blocks(section: str) -> list[str]:
    body = README.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [textwrap.dedent(b) for b in re.findall(r"```toml\n(.*?)```", body, re.S)]


def test_the_settings_shown_load_and_build(tmp_path: Path) -> None:
    """The settings the README shows are valid: every key known, every store buildable."""
    blocks = _toml_blocks("Stores") + _toml_blocks("Scaling out")
    assert len(blocks) == 2
    for number, block in enumerate(blocks):
        path = tmp_path / f"shown-{number}.toml"
        path.write_text(block)
        loaded = load(path, {"GLIMPSE_DATA_DIR": str(tmp_path / f"data-{number}")})
        stores = build_stores(loaded)
        assert stores.default_name == loaded.stores.default
