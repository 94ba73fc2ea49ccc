"""Callers and factories for the metadefs tests."""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import Any

import httpx

NAMESPACES = "/v2/metadefs/namespaces"


def unique(prefix: str = "ns") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def identity(project: str | None, roles: str) -> dict[str, str]:
    headers = {"X-Identity-Status": "Confirmed", "X-User-Id": f"user-{project}", "X-Roles": roles}
    if project is not None:
        headers["X-Project-Id"] = project
    return headers


class Callers:
    """One client per kind of caller; the projects are fresh for each test."""

    def __init__(self, url: str) -> None:
        self.project = uuid.uuid4().hex
        self.other = uuid.uuid4().hex
        admin_project = uuid.uuid4().hex

        def client(project: str | None, roles: str) -> httpx.Client:
            return httpx.Client(base_url=url, headers=identity(project, roles), timeout=60)

        self.admin = client(admin_project, "admin,member,reader")
        self.reader = client(self.project, "reader")
        self.member = client(self.project, "member,reader")
        self.other_reader = client(self.other, "member,reader")
        self.unscoped = client(None, "admin,member,reader")
        self.anonymous = httpx.Client(base_url=url, timeout=60)
        self._all = [
            self.admin,
            self.reader,
            self.member,
            self.other_reader,
            self.unscoped,
            self.anonymous,
        ]

    def __enter__(self) -> Callers:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for client in self._all:
            client.close()

    def namespace(self, owner: str | None = None, **fields: Any) -> dict[str, Any]:
        """Create a namespace as the admin (owned by ``owner``, default this test's project)."""
        body = {"namespace": unique(), "owner": owner or self.project, **fields}
        response = self.admin.post(NAMESPACES, json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


def error(response: httpx.Response, status: int) -> str:
    """The message of a JSON error answer of ``status``."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["error"]["code"] == status
    message: str = body["error"]["message"]
    return message
