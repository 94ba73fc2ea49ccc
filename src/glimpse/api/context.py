"""Per-request access to what the composition root put on the app."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from glimpse.auth.identity import Actor
from glimpse.service import ImageService
from glimpse.settings import Settings


def service(request: Request) -> ImageService:
    svc: ImageService = request.app.state.service
    return svc


def settings(request: Request) -> Settings:
    value: Settings = request.app.state.settings
    return value


def actor(request: Request) -> Actor:
    found: Actor = request.app.state.identity.identify(request.headers)
    return found


def path_param(request: Request, name: str) -> Any:
    return request.path_params[name]
