"""``/v2/tasks``, ``/v2/tasks/{id}`` and ``/v2/images/{id}/tasks``: asynchronous work."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

from glimpse.client.images import path
from glimpse.client.transport import Transport
from glimpse.client.types import Task

_Pairs = list[tuple[str, str]]
_Tasks = list[Task]


class TasksApi:
    """Tasks, listed page by page as the server links them."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def list(
        self,
        *,
        status: str | None = None,
        type: str | None = None,
        sort_key: str | None = None,
        sort_dir: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Task]:
        """Tasks matching the filters, following ``next`` until ``limit`` (None: all)."""
        named = {"status": status, "type": type, "sort_key": sort_key, "sort_dir": sort_dir}
        params: _Pairs = [(k, v) for k, v in named.items() if v is not None]
        if limit is not None:
            params.append(("limit", str(max(1, min(limit, 1000)))))
        left = limit
        page = self._transport.json("GET", "/v2/tasks", params=params)
        while True:
            tasks = page.get("tasks") or []
            for document in tasks:
                if left is not None:
                    if left <= 0:
                        return
                    left -= 1
                yield Task.from_json(document)
            following = page.get("next")
            if not following or not tasks or left == 0:
                return
            page = self._transport.json("GET", following)

    def get(self, task_id: str) -> Task:
        return Task.from_json(self._transport.json("GET", f"/v2/tasks/{quote(task_id, safe='')}"))

    def for_image(self, image_id: str) -> _Tasks:
        """The tasks that worked on an image (Image API 2.12), newest first as served."""
        document = self._transport.json("GET", path(image_id, "tasks"))
        return [Task.from_json(t) for t in document.get("tasks") or ()]
