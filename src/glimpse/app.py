"""Composition root: Settings -> drivers -> services -> ASGI app.

Only this module (and the CLI) turn settings into objects. Drivers are built
through one builder for their options and one context argument each.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from glimpse import options, plugins
from glimpse.api import errors as api_errors
from glimpse.api.middleware import IdentityLayer, RequestFrame
from glimpse.api.routes import PUBLIC_PATHS, ROUTES
from glimpse.auth.identity import Identity, IdentityContext
from glimpse.auth.policy import Policy
from glimpse.auth.properties import PropertyProtections
from glimpse.digest import check_algorithm
from glimpse.errors import ConfigError, GlimpseError
from glimpse.registry import db
from glimpse.registry.images import ImageRegistry
from glimpse.registry.members import MemberRegistry
from glimpse.registry.tokens import TokenRegistry
from glimpse.service import Services
from glimpse.service.data import UploadLease
from glimpse.service.quotas import limits_table
from glimpse.settings import CONFIG_ENV, Settings, load
from glimpse.store.base import Store, StoreContext
from glimpse.store.stores import NamedStore, Stores


def build_stores(settings: Settings) -> Stores:
    """The default store and every store with a table of its own, each built once.

    ``[stores.<name>]`` names a store; its ``driver`` key (default: the name)
    chooses the driver and ``description`` is what store discovery shows; the
    other keys are the driver's options.
    """
    data_dir = Path(settings.data_dir).resolve()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # private, as the registry's
    names = dict.fromkeys([settings.stores.default, *settings.stores.drivers])
    enabled: list[NamedStore] = []
    for name in names:
        raw = dict(settings.stores.drivers.get(name, {}))
        driver = raw.pop("driver", name)
        description = raw.pop("description", "")
        for key, value in (("driver", driver), ("description", description)):
            if not isinstance(value, str):
                raise ConfigError(f"stores.{name}.{key} must be a string")
        cls = plugins.load("glimpse.stores", driver)
        context = StoreContext(data_dir, settings.images.hash_algo, name)
        store: Store = cls(options.build(cls.Options, raw, f"stores.{name}"), context)
        enabled.append(NamedStore(name, driver, store, description))
    return Stores(enabled, settings.stores.default)


def node_name() -> str:
    """This process, as leases name their holder: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def build_identity(settings: Settings, tokens: TokenRegistry) -> Identity:
    """The identity driver named by ``identity.mode``, with its ``[identity.<mode>]`` table."""
    mode = settings.identity.mode
    for other in settings.identity.drivers:
        if other != mode:
            # A table for a mode that is not chosen is a settings slip: the server
            # would otherwise run in another mode (perhaps 'none') without a word.
            raise ConfigError(
                f"settings have an [identity.{other}] table, but identity.mode is {mode!r}: "
                f"set identity.mode = {other!r} or remove the table"
            )
    cls = plugins.load("glimpse.identity", mode)
    raw = settings.identity.drivers.get(mode, {})
    identity: Identity = cls(
        options.build(cls.Options, raw, f"identity.{mode}"), IdentityContext(tokens.find)
    )
    return identity


def build_app(settings: Settings) -> ASGIApp:
    """Wire a complete application from settings; fails fast on bad configuration."""
    check_algorithm(settings.images.hash_algo)
    engine = db.connect(settings.registry_url, settings.registry.pool_size)
    services = Services.build(
        images=ImageRegistry(engine),
        members=MemberRegistry(engine),
        stores=build_stores(settings),
        settings=settings.images,
        policy=Policy.from_file(settings.policy.file),
        protections=PropertyProtections.from_file(settings.policy.property_protections_file),
        quota_limits=limits_table(settings.quotas),
        lease=UploadLease(node_name(), settings.scrub.upload_lease),
    )
    app = Starlette(
        routes=ROUTES,
        exception_handlers={
            GlimpseError: api_errors.glimpse_error,
            HTTPException: api_errors.http_error,
            Exception: api_errors.unexpected_error,
        },
    )
    # Glance answers 404 for /v2/images/ and the like: no redirect to the path without
    # the slash (which clients would follow into a 405).
    app.router.redirect_slashes = False
    app.state.settings = settings
    app.state.services = services
    app.state.public_endpoint = settings.server.public_endpoint
    app.state.inline_reads = engine.url.get_backend_name() == "sqlite"
    identity = build_identity(settings, TokenRegistry(engine))
    return RequestFrame(IdentityLayer(app, identity, PUBLIC_PATHS))


def from_environment() -> ASGIApp:
    """App factory for server workers: settings from $GLIMPSE_CONFIG and GLIMPSE_* variables."""
    environ = dict(os.environ)
    path = environ.pop(CONFIG_ENV, None) or None
    return build_app(load(path, environ))
