"""Two `glimpse serve` nodes over one PostgreSQL registry and one object store.

The store is the test Swift, once through the swift driver (tempauth) and once through
the s3 driver (Swift's S3 API). Each node has its own data directory, so nothing but the
registry and the store is shared: what one node wrote the other reads and deletes, a
project's quota holds across both, and an upload whose node was killed is reaped by a
`glimpse scrub` run with the other node's settings.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import pytest

from cluster.support import (
    MiB,
    Placement,
    error_of,
    put_file,
    s3_options,
    store_env,
    swift_options,
    unique,
)
from glimpse.testing import ServerProcess
from helpers import make_image, trusted_headers
from swift.harness import Swift

#: Seconds an upload's lease holds without new bytes (the least the settings allow).
LEASE = 5
#: The project whose quota the racing uploads share, and its image_size_total in MiB.
RACE_LIMIT_MIB = 5


@dataclass
class Cluster:
    """Nodes A and B over one registry and one store, and how to start more of them."""

    driver: str
    store: Placement
    registry_url: str
    env: dict[str, str]
    factory: pytest.TempPathFactory
    nodes: list[ServerProcess] = field(default_factory=list)

    @property
    def a(self) -> ServerProcess:
        return self.nodes[0]

    @property
    def b(self) -> ServerProcess:
        return self.nodes[1]

    @property
    def spare(self) -> ServerProcess:
        """A third node, for the test that kills one."""
        return self.nodes[2]

    @property
    def part(self) -> int:
        """The unit the store splits big images into: a segment, or a multipart part."""
        return MiB if self.driver == "swift" else 5 * MiB

    def project(self, name: str) -> str:
        """A project of this cluster's own (both clusters share the module's registry)."""
        return f"{name}_{self.driver}"

    def node(self, name: str) -> ServerProcess:
        """A node with the cluster's settings and a data directory of its own, not started."""
        return ServerProcess(
            data_dir=self.factory.mktemp(f"{self.driver}-{name}"),
            registry_url=self.registry_url,
            env=self.env,
        )


@pytest.fixture(scope="module", params=["swift", "s3"])
def cluster(
    request: pytest.FixtureRequest,
    module_postgres_database: str,
    swift: Swift,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    driver = request.param
    place = unique(f"glimpse-2n-{driver}")
    options = swift_options(swift, place) if driver == "swift" else s3_options(swift, place)
    env = {
        "GLIMPSE_IDENTITY__MODE": "trusted-headers",
        "GLIMPSE_SCRUB__UPLOAD_LEASE": str(LEASE),
        "GLIMPSE_SCRUB__INTERVAL": "0",  # only the `glimpse scrub` of a test reaps
        f"GLIMPSE_QUOTAS__PROJECTS__RACE_{driver.upper()}__IMAGE_SIZE_TOTAL": str(RACE_LIMIT_MIB),
        f"GLIMPSE_QUOTAS__PROJECTS__CRASH_{driver.upper()}__IMAGE_SIZE_TOTAL": "64",
        **store_env("cloud", options, default=True),
    }
    store = Placement(swift, driver, place)
    made = Cluster(driver, store, module_postgres_database, env, tmp_path_factory)
    made.nodes = [made.node("a"), made.node("b"), made.node("spare")]
    upgraded = made.a.command("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    try:
        with ThreadPoolExecutor(len(made.nodes)) as pool:
            list(pool.map(lambda node: node.start(), made.nodes))
        yield made
    finally:
        for node in made.nodes:
            node.stop()
        made.store.remove()


def caller(node: ServerProcess, project: str) -> httpx.Client:
    return httpx.Client(base_url=node.url, headers=trusted_headers(project), timeout=60)


def chunked(data: bytes, size: int = 256 * 1024) -> Iterator[bytes]:
    """``data`` as a body of unknown length (sent chunked)."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def usage(client: httpx.Client) -> dict[str, int]:
    response = client.get("/v2/info/usage")
    assert response.status_code == 200, response.text
    return {name: quota["usage"] for name, quota in response.json()["usage"].items()}


def status_of(client: httpx.Client, image_id: str) -> str:
    response = client.get(f"/v2/images/{image_id}")
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


def test_written_through_one_node_read_and_deleted_through_the_other(cluster: Cluster) -> None:
    project = cluster.project("move")
    data = os.urandom(2 * cluster.part + 12345)  # a Static Large Object, or a multipart upload
    with caller(cluster.a, project) as a, caller(cluster.b, project) as b:
        image_id = make_image(a)["id"]
        assert put_file(a, image_id, data).status_code == 204

        shown = b.get(f"/v2/images/{image_id}").json()
        assert shown["status"] == "active"
        assert shown["stores"] == "cloud"
        assert shown["size"] == len(data)
        assert shown["checksum"] == hashlib.md5(data).hexdigest()
        assert cluster.store.published(image_id)
        assert len(cluster.store.referenced_segments(image_id)) == 3
        assert cluster.store.leftovers(image_id) == []

        whole = b.get(f"/v2/images/{image_id}/file")
        assert whole.status_code == 200
        assert whole.content == data
        assert whole.headers["content-md5"] == shown["checksum"]
        # A range across the boundary of the first two segments or parts, and a suffix.
        first, last = cluster.part - 10, cluster.part + 9
        across = b.get(f"/v2/images/{image_id}/file", headers={"Range": f"bytes={first}-{last}"})
        assert across.status_code == 206
        assert across.headers["content-range"] == f"bytes {first}-{last}/{len(data)}"
        assert across.content == data[first : last + 1]
        tail = b.get(f"/v2/images/{image_id}/file", headers={"Range": "bytes=-100"})
        assert tail.status_code == 206
        assert tail.content == data[-100:]

        assert b.delete(f"/v2/images/{image_id}").status_code == 204
        assert a.get(f"/v2/images/{image_id}").status_code == 404
        assert a.get(f"/v2/images/{image_id}/file").status_code == 404
        assert not cluster.store.published(image_id)
        assert cluster.store.segments(image_id) == []
        assert cluster.store.uploads(image_id) == []


def test_one_quota_holds_for_uploads_racing_through_both_nodes(cluster: Cluster) -> None:
    project = cluster.project("race")
    size = 2 * MiB  # two fit in the quota, three do not
    count = 6
    with caller(cluster.a, project) as a:
        assert usage(a)["image_size_total"] == 0
        ids = [make_image(a)["id"] for _ in range(count)]
    start = threading.Barrier(count + 1)
    racing = threading.Event()
    racing.set()

    def race(n: int) -> tuple[str, httpx.Response]:
        node = cluster.nodes[n % 2]
        data = bytes([n]) * size
        # Half declare their size (room reserved at once), half stream without one.
        body: bytes | Iterator[bytes] = data if n % 4 < 2 else chunked(data)
        with caller(node, project) as client:
            start.wait(timeout=30)
            return ids[n], put_file(client, ids[n], body)

    def watch() -> list[int]:
        """The project's use, reservations included, in MiB, seen while the uploads run."""
        seen = []
        with caller(cluster.b, project) as b:
            start.wait(timeout=30)
            while racing.is_set():
                seen.append(usage(b)["image_size_total"])
        return seen

    with ThreadPoolExecutor(count + 1) as pool:
        watching = pool.submit(watch)
        try:
            results = list(pool.map(race, range(count)))
        finally:
            racing.clear()
        seen = watching.result()
    assert seen, "the use was never sampled"
    assert max(seen) <= RACE_LIMIT_MIB

    stored = [image_id for image_id, response in results if response.status_code == 204]
    with caller(cluster.b, project) as b:
        for image_id, response in results:
            assert response.status_code in (204, 413), response.text
            if response.status_code == 413:
                message = error_of(response)["message"]
                assert "image_size_total" in message
                assert status_of(b, image_id) == "queued"
            else:
                assert status_of(b, image_id) == "active"
        # Room is given only to uploads that can finish: the two that fit do.
        assert len(stored) == 2
        sizes = [b.get(f"/v2/images/{i}").json()["size"] or 0 for i in ids]
        assert sum(sizes) == len(stored) * size <= RACE_LIMIT_MIB * MiB
        used = usage(b)
        assert used["image_size_total"] == len(stored) * size // MiB
        assert used["image_count_uploading"] == 0
        # The store holds the uploads that were let in, and nothing of the others.
        assert sorted(i for i in ids if cluster.store.published(i)) == sorted(stored)
        assert [cluster.store.leftovers(i) for i in ids] == [[]] * count
        for image_id in ids:
            assert b.delete(f"/v2/images/{image_id}").status_code == 204


def scrub_until_reaped(node: ServerProcess, image_id: str, timeout: float = 30.0) -> str:
    """Run `glimpse scrub` with ``node``'s settings until it reaps ``image_id``; its output."""
    deadline = time.monotonic() + timeout
    while True:
        done = node.command("scrub")
        assert done.returncode == 0, done.stderr
        if f"reaped {image_id}" in done.stdout:
            return done.stdout
        assert time.monotonic() < deadline, f"never reaped:\n{done.stdout}\n{done.stderr}"
        time.sleep(0.5)


def test_an_upload_whose_node_was_killed_is_reaped_by_the_other_nodes_scrub(
    cluster: Cluster,
) -> None:
    project = cluster.project("crash")
    doomed = cluster.spare
    declared = 4 * cluster.part
    killed_at: list[float] = []
    try:
        with caller(doomed, project) as c:
            image_id = make_image(c)["id"]

            def body() -> Iterator[bytes]:
                block = os.urandom(256 * 1024)
                sent = 0
                # The first segment or part, and more than the 1 MiB the node gathers into a
                # block before it hands data on (else the store would wait for that block).
                while sent <= cluster.part + MiB:
                    yield block
                    sent += len(block)
                deadline = time.monotonic() + 30
                while not cluster.store.segments(image_id):
                    assert time.monotonic() < deadline, "no segment or part was ever stored"
                    time.sleep(0.05)
                assert doomed.process is not None
                os.killpg(doomed.process.pid, signal.SIGKILL)  # the node and its workers
                doomed.process.wait(timeout=10)
                killed_at.append(time.monotonic())
                yield block  # into a connection nobody reads any more

            with pytest.raises(httpx.TransportError):
                put_file(c, image_id, body(), **{"X-OpenStack-Image-Size": str(declared)})
        assert killed_at, "the node was not killed mid-upload"

        with caller(cluster.b, project) as b:
            # The dead node's upload holds its lease, its room and its partial data.
            assert status_of(b, image_id) == "saving"
            assert usage(b)["image_size_total"] == declared // MiB
            assert usage(b)["image_count_uploading"] == 1
            assert cluster.store.segments(image_id) != []
            assert (cluster.store.uploads(image_id) != []) == (cluster.driver == "s3")

            # The lease ends at most LEASE seconds after the kill; a scrub takes a second
            # to start and read the time.
            time.sleep(max(0.0, killed_at[0] + LEASE - 1 - time.monotonic()))
            scrub_until_reaped(cluster.b, image_id)
            assert status_of(b, image_id) == "queued"
            assert usage(b)["image_size_total"] == 0
            assert usage(b)["image_count_uploading"] == 0
            assert cluster.store.segments(image_id) == []
            assert cluster.store.uploads(image_id) == []
            assert not cluster.store.published(image_id)

            data = os.urandom(cluster.part + 4321)
            assert put_file(b, image_id, chunked(data)).status_code == 204
            assert status_of(b, image_id) == "active"
            assert b.get(f"/v2/images/{image_id}/file").content == data
            assert cluster.store.leftovers(image_id) == []
            assert b.delete(f"/v2/images/{image_id}").status_code == 204
    finally:
        doomed.stop()  # if it is still running, the test failed before the kill
