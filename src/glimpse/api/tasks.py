"""Routes of the Tasks API (``/v2/tasks``) and of an image's tasks (``/v2/images/{id}/tasks``).

Bodies and views are Glance's: a task shows its input, result and message,
a task list shows stubs without them, and ``DELETE /v2/tasks/{id}`` is
always 405 (tasks go when they expire).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from glimpse.api import inputs
from glimpse.api.endpoint import Call, endpoint, json_object_of, lookup, services, settings
from glimpse.api.errors import error_response
from glimpse.api.json import json_response
from glimpse.api.serialize import isotime
from glimpse.errors import Invalid
from glimpse.logs import REQUEST_ID
from glimpse.model.tasks import TASK_TYPES, Task, TaskQuery, TaskStatus
from glimpse.service.tasks import NewTask

_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)
#: Keys a task body may hold (Glance's task schema).
_TASK_KEYS = frozenset(
    {
        "id", "type", "status", "input", "result", "owner", "message", "image_id",
        "request_id", "user_id", "expires_at", "created_at", "updated_at", "self", "schema",
    }
)  # fmt: skip


def task_view(task: Task) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": task.id,
        "input": dict(task.input),
        "type": task.type,
        "status": task.status.value,
        "owner": task.owner,
        "message": task.message,
        "result": None if task.result is None else dict(task.result),
        "created_at": isotime(task.created_at),
        "updated_at": isotime(task.updated_at),
        "self": f"/v2/tasks/{task.id}",
        "schema": "/v2/schemas/task",
    }
    if task.image_id:
        view["image_id"] = task.image_id
    if task.request_id:
        view["request_id"] = task.request_id
    if task.user_id:
        view["user_id"] = task.user_id
    if task.expires_at:
        view["expires_at"] = isotime(task.expires_at)
    return view


def task_stub(task: Task) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": task.id,
        "type": task.type,
        "status": task.status.value,
        "owner": task.owner,
        "created_at": isotime(task.created_at),
        "updated_at": isotime(task.updated_at),
        "self": f"/v2/tasks/{task.id}",
        "schema": "/v2/schemas/task",
    }
    if task.expires_at:
        view["expires_at"] = isotime(task.expires_at)
    return view


def image_task_view(task: Task) -> dict[str, Any]:
    """A task as ``GET /v2/images/{id}/tasks`` shows it: Glance's database record."""

    def stamp(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "id": task.id,
        "type": task.type,
        "status": task.status.value,
        "owner": task.owner,
        "expires_at": stamp(task.expires_at),
        "created_at": stamp(task.created_at),
        "updated_at": stamp(task.updated_at),
        "deleted_at": None,
        "deleted": False,
        "image_id": task.image_id,
        "request_id": task.request_id,
        "user_id": task.user_id,
        "input": dict(task.input),
        "result": None if task.result is None else dict(task.result),
        "message": task.message,
    }


def parse_new_task(body: dict[str, Any]) -> NewTask:
    """A task body as Glance checks it: ``type`` and ``input`` required, the schema's
    types, and for an ``import`` the image properties a create would take."""
    for key in ("type", "input"):
        if key not in body:
            raise Invalid(f"Task '{key}' is required")
    unknown = sorted(set(body) - _TASK_KEYS)
    if unknown:
        raise Invalid(f"Additional properties are not allowed ({', '.join(unknown)})")
    kind, task_input = body["type"], body["input"]
    if not isinstance(kind, str) or kind not in TASK_TYPES:
        raise Invalid(f"Failed validating 'enum' in schema['properties']['type']: {kind!r}")
    if task_input is not None and not isinstance(task_input, dict):
        raise Invalid("Failed validating 'type' in schema['properties']['input']")
    task_input = task_input or {}
    image = None
    if kind == "import":
        properties = task_input.get("image_properties") or {}
        if not isinstance(properties, dict):
            raise Invalid("Task input 'image_properties' must be an object")
        image = inputs.new_image(properties)
    return NewTask(kind, task_input, image)


def _created(task: Task, _request: Request) -> Response:
    return json_response(task_view(task), 201, {"Location": f"/v2/tasks/{task.id}"})


async def _list_query(request: Request) -> TaskQuery:
    params = dict(request.query_params)
    images = settings(request).images
    sort_dir = params.get("sort_dir", "desc")
    if sort_dir not in ("asc", "desc"):
        raise Invalid(f"Invalid sort direction: {sort_dir}")
    status = params.get("status")
    if status and status not in {s.value for s in TaskStatus}:
        raise Invalid(f"Invalid status value: {status}")
    kind = params.get("type")
    if kind and kind not in ("import",):
        raise Invalid(f"Invalid type value: {kind}")
    marker = params.get("marker")
    if marker and not _UUID.match(marker):
        raise Invalid("Invalid marker format")
    limit = images.limit_default
    if "limit" in params:
        raw = params["limit"]
        if not re.fullmatch(r"-?[0-9]{1,18}", raw.strip()):
            raise Invalid("limit param must be an integer")
        limit = int(raw)
        if limit < 0:
            raise Invalid("limit param must be positive")
    return TaskQuery(
        status=TaskStatus(status) if status else None,
        type=kind or None,
        sort_key=params.get("sort_key", "created_at"),
        sort_dir=sort_dir,
        limit=min(limit, images.limit_max),
        marker=marker or None,
    )


def _page(listed: tuple[TaskQuery, list[Task]], request: Request) -> Response:
    query, found = listed
    params = {k: v for k, v in request.query_params.items() if k != "marker"}
    body: dict[str, Any] = {
        "tasks": [task_stub(t) for t in found],
        "first": f"/v2/tasks?{urlencode(params)}" if params else "/v2/tasks",
        "schema": "/v2/schemas/tasks",
    }
    if found and len(found) == query.limit:
        body["next"] = f"/v2/tasks?{urlencode({**params, 'marker': found[-1].id})}"
    return json_response(body)


def _create(c: Call[NewTask]) -> Task:
    return c.services.tasks.create(c.actor, c.input, REQUEST_ID.get())


def _image_tasks(tasks: Sequence[Task], _request: Request) -> Response:
    return json_response({"tasks": [image_task_view(t) for t in tasks]})


create = endpoint(json_object_of(parse_new_task), _create, _created)
index = endpoint(
    _list_query, lambda c: (c.input, c.services.tasks.index(c.actor, c.input)), _page, reads=True
)
show = lookup(
    lambda c: c.services.tasks.get(c.actor, c.path["task_id"]),
    lambda task, _request: json_response(task_view(task)),
)
of_image = lookup(lambda c: c.services.tasks.of_image(c.actor, c.image_id), _image_tasks)


async def delete(request: Request) -> Response:
    # As Glance: callers without access to the Tasks API hear 403 first.
    services(request).tasks.check_access(request.state.actor)
    return error_response(
        request,
        405,
        "This operation is currently not permitted on Glance Tasks. They are auto deleted "
        "after reaching the time based on their expires_at property.",
        {"Allow": "GET"},
    )
