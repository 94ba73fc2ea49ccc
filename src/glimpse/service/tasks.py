"""Use cases of the Tasks API: create a legacy import task, list and show tasks,
and an image's tasks.

Glance guards the whole API with ``tasks_api_access`` (admins, by default)
and each call with its own rule; an image's tasks need only that the caller
may see the image, and show the tasks the caller may see (all to an admin,
its project's to others). Expired tasks are not shown; the scrubber removes them.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from glimpse.auth.identity import Actor
from glimpse.errors import Forbidden, ImageNotFound, Invalid
from glimpse.model import Image, NewImage, utcnow
from glimpse.model.tasks import Task, TaskQuery, TaskStatus
from glimpse.registry.tasks import TaskNotFound, TaskRegistry
from glimpse.service.access import Access
from glimpse.settings import ImportSettings


@dataclass(frozen=True)
class NewTask:
    """A parsed ``POST /v2/tasks`` body."""

    type: str
    input: Mapping[str, Any]
    #: The image an ``import`` task creates, from its ``image_properties``.
    image: NewImage | None = None


@dataclass(frozen=True)
class TaskService:
    tasks: TaskRegistry
    access: Access
    settings: ImportSettings
    #: Creates the image a legacy ``import`` task fills (the image use case's create).
    create_image: Callable[[Actor, NewImage], Image]
    #: Starts a task in the background.
    submit: Callable[[str], None]
    #: Refuses a legacy task's ``import_from`` URL (import filtering); None: no check.
    check_uri: Callable[[str], None] | None = None

    def create(self, actor: Actor, new: NewTask, request_id: str | None) -> Task:
        """Record a task and start it. Only ``import`` tasks do work through this API;
        other types are recorded and fail at once, saying so."""
        self._require("tasks_api_access", actor)
        self._require("add_task", actor)
        now = utcnow()
        task_input = dict(new.input)
        task = Task(
            id=str(uuid.uuid4()),
            type=new.type,
            status=TaskStatus.PENDING,
            owner=actor.project,
            input=task_input,
            created_at=now,
            updated_at=now,
            image_id=_text(task_input.get("image_id")),
            user_id=actor.user,
            request_id=request_id,
        )
        if new.type != "import":
            self.tasks.add(task)
            failed = task.failed(
                f"Tasks of type {new.type} are made by the API that needs them, not "
                "through POST /v2/tasks",
                now,
                timedelta(hours=self.settings.task_time_to_live),
            )
            return self.tasks.save(failed, task)
        source = task_input.get("import_from")
        if not isinstance(source, str) or not source:
            raise Invalid("Task input 'import_from' must be a URL")
        if self.check_uri is not None:
            self.check_uri(source)
        image = self.create_image(actor, new.image or NewImage())
        task_input["image_id"] = image.id
        task_input["import_req"] = {"method": {"name": "web-download", "uri": source}}
        recorded = dataclasses.replace(task, input=task_input, image_id=image.id)
        self.tasks.add(recorded)
        self.submit(recorded.id)
        return recorded

    def index(self, actor: Actor, query: TaskQuery) -> list[Task]:
        self._require("tasks_api_access", actor)
        self._require("get_tasks", actor)
        if query.marker is not None:
            self._visible(actor, query.marker)
        return self.tasks.page(query, actor.project, every_owner=self.access.is_admin(actor))

    def get(self, actor: Actor, task_id: str) -> Task:
        self._require("tasks_api_access", actor)
        self._require("get_task", actor)
        return self._visible(actor, task_id)

    def of_image(self, actor: Actor, image_id: str) -> list[Task]:
        """The tasks of an image the caller may see; ImageNotFound otherwise."""
        try:
            seen = self.access.see(actor, image_id)
            self.access.require("get_image", actor, seen)
        except Forbidden:
            raise ImageNotFound(image_id) from None
        admin = self.access.is_admin(actor)
        now = utcnow()
        return [
            t
            for t in self.tasks.for_image(image_id)
            if (admin or t.owner == actor.project) and (t.expires_at is None or t.expires_at > now)
        ]

    def _visible(self, actor: Actor, task_id: str) -> Task:
        task = self.tasks.get(task_id)
        expired = task.expires_at is not None and task.expires_at <= utcnow()
        if expired or not (self.access.is_admin(actor) or task.owner == actor.project):
            raise TaskNotFound(task_id)
        return task

    def check_access(self, actor: Actor) -> None:
        """Forbidden unless the caller may use the Tasks API at all."""
        self._require("tasks_api_access", actor)

    def _require(self, rule: str, actor: Actor) -> None:
        self.access.policy.require(rule, actor, {"project_id": actor.project})


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
