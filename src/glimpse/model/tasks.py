"""Tasks: the record of work the server does in the background (image imports).

A task is what Glance's Tasks API shows: its type, status, input, result and
message, who asked (owner, user, the request id of the request that made it)
and when it may be removed (``expires_at``, set when it ends).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from glimpse.errors import InvalidTransition


class TaskStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILURE = "failure"


#: Types a task may have: the legacy ``import`` of POST /v2/tasks, and the
#: ``api_image_import`` behind POST /v2/images/{id}/import.
TASK_TYPES = ("import", "api_image_import", "location_import")

T = TaskStatus
_MOVES: Mapping[TaskStatus, frozenset[TaskStatus]] = {
    T.PENDING: frozenset({T.PROCESSING, T.FAILURE}),
    T.PROCESSING: frozenset({T.SUCCESS, T.FAILURE}),
    T.SUCCESS: frozenset(),
    T.FAILURE: frozenset(),
}
ENDED = frozenset({T.SUCCESS, T.FAILURE})


@dataclass(frozen=True)
class Task:
    id: str
    type: str
    status: TaskStatus
    owner: str | None
    input: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    result: Mapping[str, Any] | None = None
    message: str = ""
    image_id: str | None = None
    user_id: str | None = None
    request_id: str | None = None
    expires_at: datetime | None = None

    def moved(self, target: TaskStatus, now: datetime) -> Task:
        if target not in _MOVES[self.status]:
            raise InvalidTransition(f"Task {self.id} cannot go from {self.status} to {target}")
        return dataclasses.replace(self, status=target, updated_at=now)

    def processing(self, now: datetime) -> Task:
        return self.moved(TaskStatus.PROCESSING, now)

    def succeeded(self, result: Mapping[str, Any], now: datetime, ttl: timedelta) -> Task:
        ended = self.moved(TaskStatus.SUCCESS, now)
        return dataclasses.replace(ended, result=dict(result), expires_at=now + ttl)

    def failed(self, message: str, now: datetime, ttl: timedelta) -> Task:
        ended = self.moved(TaskStatus.FAILURE, now)
        return dataclasses.replace(ended, message=message, expires_at=now + ttl)

    def with_message(self, message: str, now: datetime) -> Task:
        return dataclasses.replace(self, message=message, updated_at=now)


@dataclass(frozen=True)
class TaskQuery:
    """A parsed task listing: filters, order and the page."""

    status: TaskStatus | None = None
    type: str | None = None
    sort_key: str = "created_at"
    sort_dir: str = "desc"
    limit: int = 25
    marker: str | None = None
