"""Single flight for renditions: one render however many requests ask at once.

Within a worker process, requests for one rendition share one task; across
workers and nodes, that task claims the rendition's row in the registry (see
``registry.pictures``). The task that holds the claim renders in the bounded
pool; the others poll the row, cheaply and with growing pauses, until it is
ready, and take the claim over once its lease has expired (a crashed renderer).
The task is not the request's: a client that goes away does not stop a render
other requests wait for.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.concurrency import run_in_threadpool

from glimpse.derive.spec import Spec
from glimpse.errors import Busy
from glimpse.model import utcnow
from glimpse.model.pictures import Picture, Rendition
from glimpse.service.pictures import PictureService

_FIRST_PAUSE = 0.01
_LONGEST_PAUSE = 0.2


class Flights:
    """The renditions this process is making or waiting for, by picture, version and spec."""

    def __init__(self, service: PictureService, lease: float) -> None:
        self.service = service
        #: How long a request waits for another's render before it is told to retry.
        self.patience = 2 * lease + 5
        self._running: dict[tuple[str, str, str], asyncio.Task[Rendition]] = {}

    async def get(self, picture: Picture, spec: Spec) -> Rendition:
        """The ready rendition, made here or by whoever holds its claim."""
        key = (picture.id, picture.version, spec.key)
        task = self._running.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._produce(picture, spec))
            self._running[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    def _finished(self, key: tuple[str, str, str], task: asyncio.Task[Any]) -> None:
        self._running.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved: the waiters were given it

    async def _produce(self, picture: Picture, spec: Spec) -> Rendition:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.patience
        pause = _FIRST_PAUSE
        found = await self._make(picture, spec)
        while True:
            if found is not None and found.ready:
                return found
            if loop.time() > deadline:
                raise Busy("The rendition is still being made; retry shortly", retry_after=2)
            await asyncio.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE)
            found = await run_in_threadpool(self.service.rendition, picture, spec)
            if found is None or (
                not found.ready
                and found.lease_expires_at is not None
                and found.lease_expires_at < utcnow()
            ):
                found = await self._make(picture, spec)

    async def _make(self, picture: Picture, spec: Spec) -> Rendition | None:
        """Claim and render in one job of the bounded pool (Busy when it is full)."""
        future = self.service.pool.submit(lambda: self.service.make(picture, spec))
        return await asyncio.wrap_future(future)
