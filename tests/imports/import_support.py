"""Steps the import tests share: make an image, stage data, wait for its import."""

from __future__ import annotations

import time
from typing import Any

import httpx


def new_image(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"name": "import", "disk_format": "raw", "container_format": "bare", **fields}
    response = client.post("/v2/images", json=body)
    assert response.status_code == 201, response.text
    image: dict[str, Any] = response.json()
    return image


def stage(client: httpx.Client, image_id: str, data: bytes) -> httpx.Response:
    return client.put(
        f"/v2/images/{image_id}/stage",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )


def wait_for(
    client: httpx.Client,
    image_id: str,
    done: tuple[str, ...] = ("active", "queued"),
    timeout: float = 30,
) -> dict[str, Any]:
    """The image once no import task of it is running any more."""
    deadline = time.monotonic() + timeout
    while True:
        image: dict[str, Any] = client.get(f"/v2/images/{image_id}").json()
        tasks = client.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
        running = [t for t in tasks if t["status"] in ("pending", "processing")]
        if image["status"] in done and not running and "os_glance_import_task" not in image:
            return image
        if time.monotonic() > deadline:
            raise AssertionError(f"image {image_id} still importing: {image}, {tasks}")
        time.sleep(0.05)


def last_task(client: httpx.Client, image_id: str) -> dict[str, Any]:
    tasks = client.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
    assert tasks
    task: dict[str, Any] = tasks[-1]
    return task
