"""The Glance peer itself: it answers, and believes trusted headers as configured."""

from __future__ import annotations

import httpx
from glance_peer import Glance


def test_glance_answers_and_scopes_images_to_projects(glance: Glance) -> None:
    assert httpx.get(f"{glance.url}/versions").status_code == 200
    created = httpx.post(
        f"{glance.url}/v2/images",
        json={"name": "peer", "disk_format": "raw", "container_format": "bare"},
        headers=glance.headers("peer-a"),
    )
    assert created.status_code == 201, created.text
    assert created.json()["owner"] == "peer-a"
    other = httpx.get(
        f"{glance.url}/v2/images/{created.json()['id']}", headers=glance.headers("peer-b")
    )
    assert other.status_code == 404
    # The stock operator properties are in force: kernel_id must be a UUID.
    bad = httpx.post(
        f"{glance.url}/v2/images",
        json={"name": "k", "kernel_id": "not-a-uuid"},
        headers=glance.headers("peer-a"),
    )
    assert bad.status_code == 400
