"""Helpers shared by the HTTP tests: factories and store inspection."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx

from glimpse.testing import ServerProcess


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
