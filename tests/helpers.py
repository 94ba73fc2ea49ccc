"""Helpers shared by the HTTP tests: factories and store inspection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from glimpse.testing import ServerProcess


def start_server(
    tmp_path_factory: pytest.TempPathFactory,
    registry_url: str = "",
    env: dict[str, str] | None = None,
    workers: int = 1,
    name: str = "glimpse",
) -> ServerProcess:
    """A started server of its own data directory; a PostgreSQL registry is migrated first
    (an embedded one is made by the server itself)."""
    server = ServerProcess(
        data_dir=tmp_path_factory.mktemp(name),
        registry_url=registry_url,
        env=env or {},
        workers=workers,
    )
    if registry_url:
        done = server.command("db", "upgrade")
        assert done.returncode == 0, done.stderr
    server.start()
    return server


def make_image(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    """Create an image with sensible defaults and return its JSON."""
    body = {
        "name": f"img-{uuid.uuid4().hex[:8]}",
        "disk_format": "raw",
        "container_format": "bare",
        **fields,
    }
    response = client.post("/v2/images", json=body)
    assert response.status_code == 201, response.text
    image: dict[str, Any] = response.json()
    return image


def trusted_headers(project: str, roles: str = "member,reader") -> dict[str, str]:
    """What a trusted-headers server believes: a caller of ``project`` with ``roles``."""
    return {
        "X-Identity-Status": "Confirmed",
        "X-Project-Id": project,
        "X-User-Id": f"user-{project}",
        "X-Roles": roles,
    }


def upload(client: httpx.Client, image_id: str, data: bytes, **headers: str) -> httpx.Response:
    return client.put(
        f"/v2/images/{image_id}/file",
        content=data,
        headers={"Content-Type": "application/octet-stream", **headers},
    )


def store_files(server: ServerProcess) -> list[Path]:
    """Every file in the server's file store, partial ones included."""
    root = server.data_dir / "images"
    return sorted(p for p in root.iterdir()) if root.exists() else []


BIN = Path(sys.executable).parent


def glance(
    server: ServerProcess,
    *args: str,
    token: str = "x",  # noqa: S107 - any token does in identity mode `none`
    ok: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run python-glanceclient's `glance` against ``server``; unless ``ok``, it may fail."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    done = subprocess.run(
        [str(BIN / "glance"), "--os-image-url", server.url, "--os-auth-token", token, *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    if ok:
        assert done.returncode == 0, (
            f"glance {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        )
    return done


def property_table(output: str) -> dict[str, str]:
    """Parse glance's two-column property table."""
    rows: dict[str, str] = {}
    for line in output.splitlines():
        if line.startswith("|") and not line.startswith("| Property"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) == 2:
                rows[cells[0]] = cells[1]
    return rows


def make_token(
    server: ServerProcess,
    project: str,
    user: str = "alice",
    roles: str = "member,reader",
    expires: str | None = None,
) -> dict[str, Any]:
    """`glimpse token create` with the server's settings; returns the printed JSON."""
    args = ["token", "create", "--project", project, "--user", user, "--roles", roles]
    if expires is not None:
        args += ["--expires", expires]
    done = server.command(*args)
    assert done.returncode == 0, done.stderr
    created: dict[str, Any] = json.loads(done.stdout)
    return created


def trusted(server: ServerProcess, identity: dict[str, str]) -> httpx.Client:
    """A client whose identity headers a trusted-headers server believes."""
    headers = {"X-Identity-Status": "Confirmed", "X-User-Id": "u", **identity}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


def run_glimpse(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `glimpse` command with only ``env`` (and a PATH) in its environment."""
    return subprocess.run(
        [sys.executable, "-m", "glimpse", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


def start_policy_server(
    tmp_path_factory: Any, name: str, policy: str, protections: str
) -> ServerProcess:
    """A started trusted-headers server with an operator's policy and property protections."""
    etc = tmp_path_factory.mktemp(f"{name}-etc")
    (etc / "policy.yaml").write_text(policy)
    (etc / "protections.conf").write_text(protections)
    server = ServerProcess(
        data_dir=tmp_path_factory.mktemp(name),
        env={
            "GLIMPSE_IDENTITY__MODE": "trusted-headers",
            "GLIMPSE_POLICY__FILE": str(etc / "policy.yaml"),
            "GLIMPSE_POLICY__PROPERTY_PROTECTIONS_FILE": str(etc / "protections.conf"),
        },
    )
    server.start()
    return server
