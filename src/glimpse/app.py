"""Composition root: Settings -> drivers -> service -> ASGI app.

Only this module (and the CLI) turn settings into objects.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from glimpse import plugins
from glimpse.api import errors as api_errors
from glimpse.api.routes import ROUTES, RequestFrame
from glimpse.auth import identity
from glimpse.digest import check_algorithm
from glimpse.errors import GlimpseError
from glimpse.registry import db
from glimpse.registry.images import ImageRegistry
from glimpse.service import ImageService
from glimpse.settings import CONFIG_ENV, Settings, load
from glimpse.store.base import Store, build


def build_store(settings: Settings) -> Store:
    name = settings.stores.default
    return build(name, plugins.load("glimpse.stores", name), settings.store_options(name))


def build_app(settings: Settings) -> ASGIApp:
    """Wire a complete application from settings; fails fast on bad configuration."""
    check_algorithm(settings.images.hash_algo)
    engine = db.connect(settings.registry_url, settings.registry.pool_size)
    service = ImageService(ImageRegistry(engine), build_store(settings), settings.images)
    app = Starlette(
        routes=ROUTES,
        exception_handlers={
            GlimpseError: api_errors.glimpse_error,
            HTTPException: api_errors.http_error,
            Exception: api_errors.unexpected_error,
        },
    )
    app.state.settings = settings
    app.state.service = service
    app.state.identity = identity.build(settings.identity.mode, settings.identity.project)
    app.state.public_endpoint = settings.server.public_endpoint
    app.state.inline_reads = engine.url.get_backend_name() == "sqlite"
    return RequestFrame(app)


def from_environment() -> ASGIApp:
    """App factory for server workers: settings from $GLIMPSE_CONFIG and GLIMPSE_* variables."""
    environ = dict(os.environ)
    path = environ.pop(CONFIG_ENV, None) or None
    return build_app(load(path, environ))
