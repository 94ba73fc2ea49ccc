"""Composition root: Settings -> drivers -> services -> ASGI app.

Only this module (and the CLI) turn settings into objects. Drivers are built
through one builder for their options and one context argument each.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from glimpse import metrics as metrics_module
from glimpse import options, plugins
from glimpse.api import errors as api_errors
from glimpse.api.guard import Guard
from glimpse.api.health import Health, networks_of
from glimpse.api.middleware import IdentityLayer, ProxyHeaders, RequestFrame, parse_networks
from glimpse.api.observe import Observer
from glimpse.api.routes import PUBLIC_PATHS, ROUTES
from glimpse.api.serialize import Display
from glimpse.auth.identity import Identity, IdentityContext
from glimpse.auth.policy import Policy
from glimpse.auth.properties import PropertyProtections
from glimpse.digest import check_algorithm
from glimpse.errors import ConfigError, GlimpseError
from glimpse.model import UploadLease
from glimpse.registry import db
from glimpse.registry.images import ImageRegistry
from glimpse.registry.leases import NamedLeases
from glimpse.registry.maintenance import MaintenanceRegistry
from glimpse.registry.members import MemberRegistry
from glimpse.registry.tokens import TokenRegistry
from glimpse.service import Services
from glimpse.service.quotas import Quotas, limits_table
from glimpse.service.scrub import Scrubber
from glimpse.settings import CONFIG_ENV, Settings, load
from glimpse.store.base import Store, StoreContext
from glimpse.store.stores import NamedStore, Stores

if TYPE_CHECKING:
    from sqlalchemy import Engine


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
        weight = raw.pop("weight", 0)
        for key, value in (("driver", driver), ("description", description)):
            if not isinstance(value, str):
                raise ConfigError(f"stores.{name}.{key} must be a string")
        if isinstance(weight, bool) or not isinstance(weight, int):
            raise ConfigError(f"stores.{name}.weight must be an integer")
        cls = plugins.load("glimpse.stores", driver)
        context = StoreContext(data_dir, settings.images.hash_algo, name)
        store: Store = cls(options.build(cls.Options, raw, f"stores.{name}"), context)
        enabled.append(NamedStore(name, driver, store, description, weight))
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


def build_app(settings: Settings, stores: Stores | None = None) -> ASGIApp:
    """Wire a complete application from settings (and ``stores`` when the caller has
    built them already); fails fast on bad configuration."""
    check_algorithm(settings.images.hash_algo)
    engine = db.connect(settings.registry_url, settings.registry.pool_size)
    stores = stores if stores is not None else build_stores(settings)
    policy = Policy.from_file(settings.policy.file)
    services = Services.build(
        images=ImageRegistry(engine),
        members=MemberRegistry(engine),
        stores=stores,
        settings=settings.images,
        policy=policy,
        protections=PropertyProtections.from_file(settings.policy.property_protections_file),
        quota_limits=limits_table(settings.quotas),
        lease=UploadLease(node_name(), settings.scrub.upload_lease),
    )
    app = Starlette(
        routes=ROUTES,
        lifespan=scrub_lifespan(
            settings.scrub.interval, build_scrubber(settings, ImageRegistry(engine), stores)
        ),
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
    app.state.display = Display(
        locations=settings.images.show_multiple_locations,
        direct_url=settings.images.show_image_direct_url,
        order=stores.ordered,
    )
    app.state.inline_reads = engine.url.get_backend_name() == "sqlite"
    identity = build_identity(settings, TokenRegistry(engine))
    return RequestFrame(observed(app, settings, engine, stores, identity, policy))


def observed(
    app: Starlette,
    settings: Settings,
    engine: Engine,
    stores: Stores,
    identity: Identity,
    policy: Policy,
) -> ASGIApp:
    """``app`` behind identity, the operators' layers (logs, metrics, proxy headers), and
    the health and metrics pages' state."""
    exposure = metrics_module.check_exposure(settings.metrics.exposure)
    metrics = None if exposure == "off" else metrics_module.Metrics.build(engine.pool)
    app.state.metrics = metrics
    app.state.health = Health(
        disable_file=settings.health.disable_file,
        detail_networks=networks_of(settings.health.detail_networks),
        registry=lambda: db.current_revision(engine),
        registry_backend=engine.url.get_backend_name(),
        stores=stores,
        identity=identity,
        is_admin=policy.is_admin,
    )
    if metrics is not None:
        # Store failures are counted where the service meets them, by store.
        data = dataclasses.replace(app.state.services.data, store_errors=metrics.store_error)
        app.state.services = dataclasses.replace(app.state.services, data=data)
    # The guard's 431 and 408 answers pass the observer: they are counted and logged.
    layered: ASGIApp = Guard(IdentityLayer(app, identity, PUBLIC_PATHS), settings.server)
    log = settings.logging
    if metrics is not None or log.access_log or settings.server.debug_requests:
        layered = Observer(
            layered,
            ROUTES,
            metrics=metrics,
            access=log.access_log,
            debug=settings.server.debug_requests,
        )
    trusted = parse_networks(settings.server.trusted_proxies, "server.trusted_proxies")
    return ProxyHeaders(layered, trusted) if trusted else layered


def build_scrubber(settings: Settings, images: ImageRegistry, stores: Stores) -> Scrubber:
    """The scrubber over the registry behind ``images`` and the enabled ``stores``."""
    return Scrubber(
        images=images,
        maintenance=MaintenanceRegistry(images.engine),
        leases=NamedLeases(images.engine),
        quotas=Quotas(images, limits_table(settings.quotas)),
        stores=stores,
        settings=settings.scrub,
        scrub_time=settings.images.scrub_time,
    )


def scrub_lifespan(
    interval: int, scrubber: Scrubber
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """The worker's own scrubbing, as a lifespan: every ``interval`` seconds (0: never).

    Every worker of every node asks for the scrub lease each interval and the
    one that wins runs the pass, in a thread so the event loop keeps serving.
    At shutdown the loop is cancelled (a pass under way finishes first).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if interval <= 0:
            yield
            return
        task = asyncio.create_task(_scrub_every(interval, scrubber, node_name()))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return lifespan


async def _scrub_every(interval: int, scrubber: Scrubber, holder: str) -> None:
    log = logging.getLogger("glimpse.service.scrub")
    while True:
        try:
            report = await anyio.to_thread.run_sync(scrubber.turn, holder)
        except Exception:
            # A pass that fails (registry or store down) is retried next interval.
            log.exception("scrub: the pass failed")
        else:
            if report is not None and (report.reaped or report.deleted or report.swept):
                log.info(
                    "scrub: %d uploads reaped, %d images deleted, %d failed uploads swept",
                    len(report.reaped),
                    len(report.deleted),
                    len(report.swept),
                )
        await asyncio.sleep(interval)


def from_environment() -> ASGIApp:
    """App factory for server workers: settings from $GLIMPSE_CONFIG and GLIMPSE_* variables."""
    environ = dict(os.environ)
    path = environ.pop(CONFIG_ENV, None) or None
    return build_app(load(path, environ))
