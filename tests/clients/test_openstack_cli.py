"""The `openstack` CLI, unchanged, with --os-auth-type none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from glimpse.testing import ServerProcess

BIN = Path(sys.executable).parent


def openstack(server: ServerProcess, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    done = subprocess.run(
        [str(BIN / "openstack"), "--os-auth-type", "none", "--os-endpoint", server.url, *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=180,
    )
    assert done.returncode == 0, f"openstack {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_image_commands(sqlite_server: ServerProcess, tmp_path: Path) -> None:
    disk = tmp_path / "disk.raw"
    data = os.urandom(1024 * 1024 + 7)
    disk.write_bytes(data)
    created: dict[str, Any] = json.loads(
        openstack(
            sqlite_server, "image", "create", "--disk-format", "raw", "--container-format",
            "bare", "--file", str(disk), "--property", "os_distro=alpine", "osc-image",
            "-f", "json",
        )
    )  # fmt: skip
    image_id = created["id"]
    listed = json.loads(openstack(sqlite_server, "image", "list", "-f", "json"))
    assert image_id in [i["ID"] for i in listed]
    shown = json.loads(openstack(sqlite_server, "image", "show", image_id, "-f", "json"))
    assert shown["name"] == "osc-image"
    assert shown["status"] == "active"
    out = tmp_path / "saved.raw"
    openstack(sqlite_server, "image", "save", "--file", str(out), image_id)
    assert out.read_bytes() == data
    openstack(sqlite_server, "image", "delete", image_id)
    listed = json.loads(openstack(sqlite_server, "image", "list", "-f", "json"))
    assert image_id not in [i["ID"] for i in listed]
