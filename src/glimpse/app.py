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
from collections.abc import AsyncIterator, Callable, Collection
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
from glimpse.api.picture_flights import Flights
from glimpse.api.picture_openapi import operations as picture_operations
from glimpse.api.pictures import PicturesApi, PublicPaths
from glimpse.api.pictures import routes as picture_routes
from glimpse.api.router import IndexedRouter
from glimpse.api.routes import PUBLIC_PATHS, ROUTES
from glimpse.api.serialize import Display
from glimpse.auth.identity import Identity, IdentityContext
from glimpse.auth.policy import Policy
from glimpse.auth.properties import PropertyProtections
from glimpse.cache.local import LocalCache
from glimpse.derive import render
from glimpse.derive.limits import Limits, parse_sizes
from glimpse.derive.pool import RenderPool
from glimpse.digest import check_algorithm
from glimpse.errors import ConfigError, GlimpseError
from glimpse.model import UploadLease
from glimpse.registry import db
from glimpse.registry.images import ImageRegistry
from glimpse.registry.leases import NamedLeases
from glimpse.registry.maintenance import MaintenanceRegistry
from glimpse.registry.members import MemberRegistry
from glimpse.registry.pictures import PictureRegistry
from glimpse.registry.tasks import TaskRegistry
from glimpse.registry.tokens import TokenRegistry
from glimpse.service import ImportParts, Services, import_plugins
from glimpse.service.import_flow import ImportRunner
from glimpse.service.pictures import PictureService
from glimpse.service.quotas import Quotas, limits_table
from glimpse.service.scrub import Scrubber
from glimpse.settings import (
    CONFIG_ENV,
    IMPORT_METHODS,
    IMPORT_PLUGINS,
    CacheSettings,
    Settings,
    load,
)
from glimpse.store.base import Store, StoreContext
from glimpse.store.staging import StagingArea
from glimpse.store.stores import NamedStore, Stores
from glimpse.store.web import WebFetcher

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


def build_cache(settings: Settings) -> LocalCache | None:
    """This node's image cache from ``[cache]``, started (index rebuilt, leftovers
    removed); None when it is not enabled."""
    if not settings.cache.enabled:
        return None
    return open_cache(settings)


def open_cache(settings: Settings) -> LocalCache:
    """The cache in ``[cache] directory``, started, whether or not the server uses it
    (``glimpse cache`` works on a stopped node's directory)."""
    cache = settings.cache
    if not 0 < cache.max_fraction <= 1:
        raise ConfigError("setting cache.max_fraction must be above 0 and at most 1")
    directory = Path(cache.directory or Path(settings.data_dir) / "cache").resolve()
    made = LocalCache(
        directory,
        max_size=cache.max_size,
        max_fraction=cache.max_fraction,
        background_limit=cache.background_fill,
    )
    try:
        made.start()
    except OSError as exc:
        raise ConfigError(f"cannot prepare the cache directory {directory}: {exc}") from None
    return made


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
        imports=build_imports(settings),
        cache=build_cache(settings),
    )
    pictures = build_pictures(settings, engine, stores)
    app = Starlette(
        routes=[*ROUTES, *picture_routes(settings.pictures.prefix)] if pictures else ROUTES,
        lifespan=together(
            scrub_lifespan(
                settings.scrub.interval, build_scrubber(settings, ImageRegistry(engine), stores)
            ),
            prefetch_lifespan(settings.cache, services.data.prefetch_next),
        ),
        exception_handlers={
            GlimpseError: api_errors.glimpse_error,
            HTTPException: api_errors.http_error,
            Exception: api_errors.unexpected_error,
        },
    )
    # Glance answers 404 for /v2/images/ and the like: no redirect to the path without
    # the slash (which clients would follow into a 405).
    app.router = IndexedRouter(
        app.router.routes, lifespan=app.router.lifespan_context, redirect_slashes=False
    )
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
    app.state.pictures = pictures
    if pictures is not None:
        pictures.identity = identity
        app.state.operations = picture_operations(settings.pictures.prefix)
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
    cache = app.state.services.data.cache
    if metrics is not None and cache is not None:
        cache.observer = metrics.cache_event
        metrics.cache_event("size", cache.index.total())
    pictures = app.state.pictures
    if metrics is not None and pictures is not None:
        pictures.service.observer = metrics.rendered
    if metrics is not None:
        # Store failures are counted where the service meets them, by store.
        data = dataclasses.replace(app.state.services.data, store_errors=metrics.store_error)
        app.state.services = dataclasses.replace(app.state.services, data=data)
    public: Collection[str] = PUBLIC_PATHS
    if settings.pictures.enabled:
        public = PublicPaths(PUBLIC_PATHS, settings.pictures.prefix)  # they identify callers
    # The guard's 431 and 408 answers pass the observer: they are counted and logged.
    layered: ASGIApp = Guard(IdentityLayer(app, identity, public), settings.server)
    log = settings.logging
    if metrics is not None or log.access_log or settings.server.debug_requests:
        layered = Observer(
            layered,
            app.router.routes,
            metrics=metrics,
            access=log.access_log,
            debug=settings.server.debug_requests,
        )
    trusted = parse_networks(settings.server.trusted_proxies, "server.trusted_proxies")
    return ProxyHeaders(layered, trusted) if trusted else layered


def build_pictures(settings: Settings, engine: Engine, stores: Stores) -> PicturesApi | None:
    """The Pictures API over the registry and its store; None when it is not enabled."""
    config = settings.pictures
    if not config.enabled:
        return None
    if config.store and config.store not in stores.by_name:
        raise ConfigError(f"pictures.store names {config.store!r}, which is not enabled")
    if config.placeholder not in ("blurhash", "none"):
        raise ConfigError("pictures.placeholder must be blurhash or none")
    if config.prefix and (not config.prefix.startswith("/") or config.prefix.endswith("/")):
        raise ConfigError("pictures.prefix must start with '/' and not end with one")
    render.configure(config.vips_threads)
    limits = Limits(
        max_upload=config.max_upload,
        max_pixels=config.max_pixels,
        max_frames=config.max_frames,
        max_dimension=config.max_dimension,
        allowed_sizes=parse_sizes(config.allowed_sizes),
    )
    pool = RenderPool(config.render_threads, config.render_queue)
    service = PictureService(PictureRegistry(engine), stores, config, limits, pool, node_name())
    return PicturesApi(service, config, limits, Flights(service, config.claim_lease))


def build_imports(settings: Settings) -> ImportParts:
    """What imports need from ``[imports]``: the staging area, the plugins in their
    order, and the guarded fetching of web-download and glance-download."""
    config = settings.imports
    for kind, names, known in (
        ("methods", config.methods, IMPORT_METHODS),
        ("plugins", config.plugins, IMPORT_PLUGINS),
    ):
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ConfigError(
                f"setting imports.{kind} names {', '.join(unknown)}; known: {', '.join(known)}"
            )
    methods = config.methods
    # The legacy import task fetches as web-download does, offered or not.
    web = WebFetcher(settings.import_filtering)
    glance = (
        WebFetcher(settings.import_filtering, method="glance-download")
        if "glance-download" in methods
        else None
    )
    return ImportParts(
        settings=config,
        staging=staging_area(settings),
        web=web if "web-download" in methods else None,
        glance=glance,
        check_uri=web.check,
        plugins=import_plugins.build(config),
    )


def staging_area(settings: Settings) -> StagingArea:
    """This node's staging area (``[imports] staging_dir``), its directory made."""
    config = settings.imports
    staging = StagingArea(Path(config.staging_dir or Path(settings.data_dir) / "staging").resolve())
    try:
        staging.ensure()
    except OSError as exc:
        raise ConfigError(f"cannot prepare the staging area {staging.directory}: {exc}") from None
    return staging


def build_scrubber(settings: Settings, images: ImageRegistry, stores: Stores) -> Scrubber:
    """The scrubber over the registry behind ``images`` and the enabled ``stores``."""
    quotas = Quotas(images, limits_table(settings.quotas))
    staging = staging_area(settings)
    runner = ImportRunner(
        images=images,
        tasks=TaskRegistry(images.engine),
        stores=stores,
        staging=staging,
        quotas=quotas,
        settings=settings.imports,
        image_settings=settings.images,
        lease=UploadLease(node_name(), settings.imports.task_lease),
    )
    return Scrubber(
        images=images,
        maintenance=MaintenanceRegistry(images.engine),
        leases=NamedLeases(images.engine),
        quotas=quotas,
        stores=stores,
        settings=settings.scrub,
        scrub_time=settings.images.scrub_time,
        reap_imports=runner.reap,
        expire_tasks=runner.remove_expired,
        unstage=staging.remove,
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


Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


def together(*lifespans: Lifespan) -> Lifespan:
    """One lifespan that enters each of ``lifespans`` in turn and leaves them in reverse."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for each in lifespans:
                await stack.enter_async_context(each(app))
            yield

    return lifespan


def prefetch_lifespan(settings: CacheSettings, prefetch: Callable[[int], str | None]) -> Lifespan:
    """The cache's prefetcher in each worker: one loop per prefetch slot of the node.

    Every worker runs the loops; a slot is a file lock, so the node prefetches
    at most ``prefetch_concurrency`` images at once, whichever workers do it.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not settings.enabled or settings.prefetch_interval <= 0:
            yield
            return
        tasks = [
            asyncio.create_task(_prefetch_every(settings.prefetch_interval, prefetch, slot))
            for slot in range(settings.prefetch_concurrency)
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return lifespan


async def _prefetch_every(interval: int, prefetch: Callable[[int], str | None], slot: int) -> None:
    log = logging.getLogger("glimpse.cache")
    while True:
        try:
            taken = await anyio.to_thread.run_sync(prefetch, slot)
        except Exception:
            log.exception("cache: prefetching failed")
            taken = None
        if taken is None:  # nothing queued (or the slot is busy): look again later
            await asyncio.sleep(interval)


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
