"""Two nodes over one PostgreSQL registry, each with its own staging area: an import asked
of the node that does not hold the staged data is sent on to the node that does (Glance's
``os_glance_stage_host``), with the caller's credentials, and answered as that node answers."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

import httpx
import pytest
from import_support import new_image, stage, wait_for

from glimpse.testing import ServerProcess


@pytest.fixture(scope="module")
def nodes(
    module_postgres_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    shared = tmp_path_factory.mktemp("shared-images")  # one file store both nodes mount
    made = []
    for name in ("node-a", "node-b"):
        node = ServerProcess(
            data_dir=tmp_path_factory.mktemp(name),
            registry_url=module_postgres_database,
            env={"GLIMPSE_STORES__FILE__DIRECTORY": f'"{shared}"'},
        )
        node.env = {**node.env, "GLIMPSE_IMPORTS__SELF_URL": f'"{node.url}"'}
        made.append(node)
    done = made[0].command("db", "upgrade")
    assert done.returncode == 0, done.stderr
    for node in made:
        node.start()
    yield made[0], made[1]
    for node in made:
        node.stop()


def test_an_import_goes_to_the_node_holding_the_stage(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = nodes
    data = os.urandom(1 << 20)
    with (
        httpx.Client(base_url=a.url, timeout=60) as on_a,
        httpx.Client(base_url=b.url, timeout=60) as on_b,
    ):
        image = new_image(on_a)
        assert stage(on_a, image["id"], data).status_code == 204
        assert (a.data_dir / "staging" / image["id"]).is_file()
        assert not (b.data_dir / "staging" / image["id"]).exists()
        # Which node staged the data is the nodes' business: clients never see it.
        assert "os_glance_stage_host" not in on_b.get(f"/v2/images/{image['id']}").json()
        body = {"method": {"name": "glance-direct"}}
        response = on_b.post(f"/v2/images/{image['id']}/import", json=body)
        assert response.status_code == 202, response.text
        done = wait_for(on_b, image["id"])
        assert done["status"] == "active"
        assert done["checksum"] == hashlib.md5(data).hexdigest()
        assert on_b.get(f"/v2/images/{image['id']}/file").content == data
        # The task was made, and run, by the node that held the data.
        assert not (a.data_dir / "staging" / image["id"]).exists()


def test_a_refusal_of_the_holding_node_comes_back_as_it_was(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = nodes
    with (
        httpx.Client(base_url=a.url, timeout=60) as on_a,
        httpx.Client(base_url=b.url, timeout=60) as on_b,
    ):
        image = new_image(on_a)
        assert stage(on_a, image["id"], b"abc").status_code == 204
        (a.data_dir / "staging" / image["id"]).unlink()  # the holding node lost it
        body = {"method": {"name": "glance-direct"}}
        response = on_b.post(f"/v2/images/{image['id']}/import", json=body)
        assert response.status_code == 409
        assert "no data in this node's staging area" in response.json()["error"]["message"]
