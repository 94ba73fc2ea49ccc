"""Computed once: concurrent uploads of one id, concurrent requests for one new rendition
across two worker processes, a crashed renderer's claim, and a full render pool."""

from __future__ import annotations

import asyncio
import hashlib
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
    url: str, requests: list[tuple[str, str, dict[str, object]]]
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=COUNT, max_keepalive_connections=COUNT)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        return await asyncio.gather(
            *(client.request(method, path, **kwargs) for method, path, kwargs in requests)  # type: ignore[arg-type]
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
    picture_id = uploaded(client, jpeg(noise(1600, 1200)))
    path = f"{PREFIX}/derived/{picture_id}-300x200.webp?fit=fill&gravity=attention"
    answers = asyncio.run(_together(server.url, [("GET", path, {})] * COUNT))
    assert {response.status_code for response in answers} == {200}
    assert len({response.content for response in answers}) == 1
    assert len({response.headers["etag"] for response in answers}) == 1
    (made,) = client.get(f"{PREFIX}/original/{picture_id}/info").json()["renditions"]
    assert made["renders"] == 1  # one claim was ever taken in the registry
    assert len(_rendered_lines(server, picture_id)) == 1  # and one renderer logged its work


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
