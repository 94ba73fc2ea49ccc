"""Composition root: Settings -> drivers -> services -> ASGI app.

Only this module (and the CLI) turn settings into objects.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from glimpse import plugins
from glimpse.api import errors as api_errors
from glimpse.api.routes import ROUTES, IdentityLayer, RequestFrame
from glimpse.auth.identity import Identity
from glimpse.auth.policy import Policy
from glimpse.auth.properties import PropertyProtections
from glimpse.digest import check_algorithm
from glimpse.errors import GlimpseError
from glimpse.quota import Quotas
from glimpse.registry import db
from glimpse.registry.images import ImageRegistry
from glimpse.registry.members import MemberRegistry
from glimpse.registry.tokens import TokenRegistry
from glimpse.service import ImageService
from glimpse.settings import CONFIG_ENV, Settings, load
from glimpse.sharing import SharingService
from glimpse.store.base import Store, build


def build_store(settings: Settings) -> Store:
    name = settings.stores.default
    return build(name, plugins.load("glimpse.stores", name), settings.store_options(name))


def build_identity(settings: Settings, tokens: TokenRegistry) -> Identity:
    """The identity driver named by ``identity.mode``, with its ``[identity.<mode>]`` table."""
    mode = settings.identity.mode
    cls = plugins.load("glimpse.identity", mode)
    raw = settings.identity.drivers.get(mode, {})
    identity: Identity = cls(plugins.options(cls.Options, raw, f"identity.{mode}"), tokens.find)
    return identity


def build_app(settings: Settings) -> ASGIApp:
    """Wire a complete application from settings; fails fast on bad configuration."""
    check_algorithm(settings.images.hash_algo)
    engine = db.connect(settings.registry_url, settings.registry.pool_size)
    members = MemberRegistry(engine)
    images = ImageService(
        ImageRegistry(engine),
        members,
        build_store(settings),
        settings.images,
        Policy.from_file(settings.policy.file),
        PropertyProtections.from_file(settings.policy.property_protections_file),
        Quotas(settings.quota_defaults(), settings.quotas.projects),
    )
    app = Starlette(
        routes=ROUTES,
        exception_handlers={
            GlimpseError: api_errors.glimpse_error,
            HTTPException: api_errors.http_error,
            Exception: api_errors.unexpected_error,
        },
    )
    app.state.settings = settings
    app.state.service = images
    app.state.sharing = SharingService(images, members, settings.images.member_quota)
    app.state.public_endpoint = settings.server.public_endpoint
    app.state.inline_reads = engine.url.get_backend_name() == "sqlite"
    identity = build_identity(settings, TokenRegistry(engine))
    return RequestFrame(IdentityLayer(app, identity))


def from_environment() -> ASGIApp:
    """App factory for server workers: settings from $GLIMPSE_CONFIG and GLIMPSE_* variables."""
    environ = dict(os.environ)
    path = environ.pop(CONFIG_ENV, None) or None
    return build_app(load(path, environ))
