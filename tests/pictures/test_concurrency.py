"""Computed once: concurrent uploads of one id, concurrent requests for one new rendition
across two worker processes, a crashed renderer's claim, and a full render pool."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy
from picture_support import PREFIX, jpeg, new_id, noise, start, uploaded

from glimpse.registry.tables import picture_renditions
from glimpse.testing import ServerProcess

COUNT = 200


async def _together(
    url: str, requests: list[tuple[str, str, dict[str, object]]], stagger: float = 0.0
) -> list[httpx.Response]:
    """Send ``requests`` at once, each on a connection of its own; ``stagger`` seconds
    between their starts let both workers accept some (a burst of connections is
    mostly taken by the worker that wakes first)."""
    limits = httpx.Limits(max_connections=COUNT, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def send(n: int, method: str, path: str, kwargs: dict[str, object]) -> httpx.Response:
            await asyncio.sleep(n * stagger)
            return await client.request(method, path, **kwargs)  # type: ignore[arg-type]

        return await asyncio.gather(
            *(send(n, method, path, kwargs) for n, (method, path, kwargs) in enumerate(requests))
        )


def test_concurrent_uploads_of_one_id(server: ServerProcess) -> None:
    picture_id = new_id()
    files = {"file": ("p.jpg", jpeg(noise(64, 64)), "image/jpeg")}
    answers = asyncio.run(
        _together(
            server.url, [("POST", f"{PREFIX}/original/{picture_id}", {"files": files})] * COUNT
        )
    )
    statuses = sorted(response.status_code for response in answers)
    assert statuses.count(303) == 1, statuses
    assert statuses.count(409) == COUNT - 1, statuses


def _rendered_lines(server: ServerProcess, picture_id: str) -> list[str]:
    text = server.log_path.read_text(errors="replace")
    return [line for line in text.splitlines() if f"pictures: rendered {picture_id} " in line]


def test_concurrent_requests_render_once(server: ServerProcess, client: httpx.Client) -> None:
    assert server.workers == 2
    # A rendition that takes a while (attention crop, AVIF), asked for over 0.2 s.
    picture_id = uploaded(client, jpeg(noise(3200, 2400)))
    path = f"{PREFIX}/derived/{picture_id}-600x400.avif?fit=fill&gravity=attention"
    answers = asyncio.run(_together(server.url, [("GET", path, {})] * COUNT, stagger=0.001))
    assert {response.status_code for response in answers} == {200}
    assert len({response.content for response in answers}) == 1
    assert len({response.headers["etag"] for response in answers}) == 1
    (made,) = client.get(f"{PREFIX}/original/{picture_id}/info").json()["renditions"]
    assert made["renders"] == 1  # one claim was ever taken in the registry
    assert len(_rendered_lines(server, picture_id)) == 1  # and one renderer logged its work
    # The requests were answered by both worker processes (the access lines name them):
    # those of the worker that did not render waited for the other's result.
    ids = {response.headers["x-openstack-request-id"] for response in answers}
    workers = _answering_workers(server, ids)
    assert len(workers) == 2, workers
    assert workers <= set(server.pids())
    # The renderer's counter, over both workers, says the same.
    metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
    renders = re.findall(
        r'^glimpse_picture_renders_total\{format="avif"\} ([0-9.]+)$', metrics, re.M
    )
    assert float(renders[0]) >= 1
    assert re.search(r'^glimpse_picture_render_seconds_count\{format="avif"\} ', metrics, re.M)


def _answering_workers(server: ServerProcess, request_ids: set[str]) -> set[int]:
    """The worker processes whose access lines name these requests."""
    found: set[int] = set()
    pattern = re.compile(r"\[(req-[0-9a-f-]+)\] .* worker=(\d+)$")
    for line in server.log_path.read_text(errors="replace").splitlines():
        match = pattern.search(line)
        if match and match.group(1) in request_ids:
            found.add(int(match.group(2)))
    return found


def _engine(server: ServerProcess) -> sqlalchemy.Engine:
    url = server.registry_url or f"sqlite:///{server.data_dir / 'glimpse.db'}"
    return sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))


def test_a_crashed_renderers_claim_is_taken_over(
    server: ServerProcess, client: httpx.Client
) -> None:
    data = jpeg(noise(100, 100))
    picture_id = uploaded(client, data)
    version = hashlib.sha256(data).hexdigest()[:16]
    engine = _engine(server)
    past = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=5)
    with engine.begin() as conn:
        conn.execute(
            picture_renditions.insert().values(
                picture_id=picture_id,
                version=version,
                spec="30x30-fill-centre-up-q82-jpeg",
                status="rendering",
                holder="a-node-that-died:1",
                lease_expires_at=past,
                attempts=1,
            )
        )
    engine.dispose()
    response = client.get(f"{PREFIX}/derived/{picture_id}-30x30.jpg")
    assert response.status_code == 200
    (made,) = client.get(f"{PREFIX}/original/{picture_id}/info").json()["renditions"]
    assert made["renders"] == 2


@pytest.fixture(scope="module")
def narrow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    started = start(
        tmp_path_factory,
        {"GLIMPSE_PICTURES__RENDER_THREADS": "1", "GLIMPSE_PICTURES__RENDER_QUEUE": "0"},
    )
    yield started
    started.stop()


def test_a_full_render_pool_answers_503(narrow_server: ServerProcess) -> None:
    with httpx.Client(base_url=narrow_server.url, timeout=60) as client:
        picture_id = uploaded(client, jpeg(noise(2400, 1800)))
    paths = [f"{PREFIX}/derived/{picture_id}-{200 + n}x{200 + n}.avif" for n in range(40)]
    answers = asyncio.run(_together(narrow_server.url, [("GET", path, {}) for path in paths]))
    statuses = [response.status_code for response in answers]
    assert set(statuses) <= {200, 503}
    assert 503 in statuses
    assert 200 in statuses
    busy = next(response for response in answers if response.status_code == 503)
    assert busy.headers["retry-after"].isdigit()
    assert busy.json()["error"]["code"] == 503
