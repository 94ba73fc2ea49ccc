"""A node that dies mid-import: the task's lease lapses, and the scrubber of the node that
comes back fails the task and returns the image to queued with nothing of the import kept."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from import_support import last_task, new_image, stage

from glimpse.testing import ServerProcess
from helpers import start_server


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that takes connections and never answers: a store that hangs."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def test_the_scrubber_reverts_an_import_whose_node_died(
    tmp_path_factory: pytest.TempPathFactory, black_hole: int
) -> None:
    env = {
        "GLIMPSE_STORES__HANG__DRIVER": '"swift"',
        "GLIMPSE_STORES__HANG__AUTH_URL": f'"http://127.0.0.1:{black_hole}/auth/v1.0"',
        "GLIMPSE_STORES__HANG__USER": '"a:b"',
        "GLIMPSE_STORES__HANG__KEY": '"c"',
        "GLIMPSE_STORES__HANG__RETRIES": "0",
        "GLIMPSE_STORES__HANG__READ_TIMEOUT": "10.0",  # start-up checks it too
        "GLIMPSE_SCRUB__INTERVAL": "1",
        "GLIMPSE_IMPORTS__TASK_LEASE": "5",
    }
    first = start_server(tmp_path_factory, env=env, name="crash")
    with httpx.Client(base_url=first.url, timeout=30) as client:
        image = new_image(client)
        assert stage(client, image["id"], b"x" * 4096).status_code == 204
        body = {"method": {"name": "glance-direct"}, "stores": ["hang"]}
        assert client.post(f"/v2/images/{image['id']}/import", json=body).status_code == 202
        assert client.get(f"/v2/images/{image['id']}").json()["status"] == "importing"
        assert last_task(client, image["id"])["status"] in ("pending", "processing")
    assert first.process is not None
    os.killpg(first.process.pid, signal.SIGKILL)
    first.process.wait()
    # The node comes back without the hanging store (its start-up check would hang too).
    kept = {k: v for k, v in env.items() if "__HANG__" not in k}
    second = ServerProcess(data_dir=first.data_dir, env=kept)
    second.start()
    try:
        with httpx.Client(base_url=second.url, timeout=30) as client:
            deadline = time.monotonic() + 60
            while (task := last_task(client, image["id"]))["status"] != "failure":
                assert time.monotonic() < deadline, task
                time.sleep(0.2)
            assert "went away" in task["message"]
            reverted = client.get(f"/v2/images/{image['id']}").json()
            assert reverted["status"] == "queued"
            assert "os_glance_import_task" not in reverted
            assert reverted["os_glance_importing_to_stores"] == ""
            assert not (first.data_dir / "staging" / image["id"]).exists()
            # The image takes a new stage and import.
            assert stage(client, image["id"], b"y" * 10).status_code == 204
    finally:
        second.stop()
