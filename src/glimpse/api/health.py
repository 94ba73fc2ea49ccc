"""``GET /healthcheck``, as oslo.middleware's healthcheck answers for Glance.

Without credentials: ``200 OK`` (``text/plain``; ``{"detailed": false,
"reasons": ["OK"]}`` for ``Accept: application/json``; ``HEAD`` is 204), or
``503 DISABLED BY FILE`` while ``health.disable_file`` exists, so a load
balancer takes the node out before maintenance. Nothing else is checked: a
load balancer polling every second costs one ``stat``.

``?detail`` asks for the detailed form (always JSON), for admins and callers
from ``health.detail_networks`` (others: 401 or 403): the registry and every
store are reached, in parallel, each with its latency; 503 when any of them
(or the disable file) says so::

    {"detailed": true, "reasons": ["OK"],
     "registry": {"available": true, "latency_ms": 0.4, "backend": "sqlite", "revision": "0004"},
     "stores": {"file": {"available": true, "latency_ms": 0.1, "driver": "file", "default": true}}}

Errors show the message Glimpse gives clients, or only the class of an
unexpected error (its details go to the log): never a URL or a credential.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from glimpse.api.json import json_response
from glimpse.api.middleware import IPNetwork, parse_networks, within
from glimpse.auth.identity import Actor, Identity
from glimpse.errors import Forbidden, GlimpseError
from glimpse.store.stores import Stores

log = logging.getLogger(__name__)

OK = "OK"
DISABLED = "DISABLED BY FILE"
#: Seconds a detailed check waits for the registry or a store before calling it unavailable.
CHECK_SECONDS = 10.0
_NO = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Health:
    """What the health and metrics pages need: the checks, and who may see details.

    ``registry`` reaches the registry once and returns its schema revision;
    ``is_admin`` is the policy's ``context_is_admin``.
    """

    disable_file: str
    detail_networks: tuple[IPNetwork, ...]
    registry: Callable[[], object]
    registry_backend: str
    stores: Stores
    identity: Identity
    is_admin: Callable[[Actor], bool]


def state(request: Request) -> Health:
    found: Health = request.app.state.health
    return found


async def healthcheck(request: Request) -> Response:
    health = state(request)
    disabled = bool(health.disable_file) and os.path.exists(health.disable_file)
    detail = request.query_params.get("detail")
    if detail is not None and detail.lower() not in _NO:
        if not within((request.client.host if request.client else None), health.detail_networks):
            await require_admin(
                request,
                "The detailed healthcheck is for admins and callers from health.detail_networks.",
            )
        return await _detailed(health, disabled)
    reason = DISABLED if disabled else OK
    status = 503 if disabled else 200
    if request.method == "HEAD":
        return Response(status_code=204 if status == 200 else status)
    if _wants_json(request):
        return json_response({"detailed": False, "reasons": [reason]}, status)
    return PlainTextResponse(reason, status)


async def require_admin(request: Request, why: str) -> None:
    """Identify the caller of a public path; Unauthenticated (401) or Forbidden (403)
    unless it is an admin."""
    health = state(request)
    if health.identity.blocking:
        actor = await run_in_threadpool(health.identity.identify, request.headers)
    else:
        actor = health.identity.identify(request.headers)
    request.scope.setdefault("state", {})["actor"] = actor  # for the access log
    if not health.is_admin(actor):
        raise Forbidden(why)


async def _detailed(health: Health, disabled: bool) -> Response:
    checks: dict[str, dict[str, Any]] = {}

    async def run(name: str, probe: Callable[[], object]) -> None:
        checks[name] = await _timed(probe)

    async with anyio.create_task_group() as group:
        group.start_soon(run, "registry", health.registry)
        for named in health.stores.by_name.values():
            group.start_soon(run, f"store:{named.name}", named.store.check)
    registry = checks["registry"]
    revision = registry.pop("result", None)
    registry["backend"] = health.registry_backend
    if registry["available"] and revision is not None:
        registry["revision"] = str(revision)
    stores: dict[str, dict[str, Any]] = {}
    for name, named in health.stores.by_name.items():
        found = checks[f"store:{name}"]
        found.pop("result", None)
        found["driver"] = named.driver
        if name == health.stores.default_name:
            found["default"] = True
        stores[name] = found
    reasons = [DISABLED] if disabled else []
    if not registry["available"]:
        reasons.append(f"registry unavailable: {registry['error']}")
    reasons += [f"store {n} unavailable: {s['error']}" for n, s in stores.items() if "error" in s]
    body = {"detailed": True, "reasons": reasons or [OK], "registry": registry, "stores": stores}
    return json_response(body, 503 if reasons else 200)


async def _timed(probe: Callable[[], object]) -> dict[str, Any]:
    """Call ``probe`` in a thread: available, latency, and its result or why it failed."""
    started = time.perf_counter()
    found: dict[str, Any] = {}
    try:
        with anyio.fail_after(CHECK_SECONDS):
            found["result"] = await anyio.to_thread.run_sync(probe, abandon_on_cancel=True)
    except TimeoutError:
        found["error"] = f"no answer within {CHECK_SECONDS:g} seconds"
    except GlimpseError as exc:
        found["error"] = exc.message
    except Exception as exc:
        log.warning("healthcheck: %s", exc, exc_info=exc)
        found["error"] = type(exc).__name__
    available = "error" not in found
    return {
        "available": available,
        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
        **found,
    }


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/plain" not in accept.split(",")[0]


def networks_of(values: Sequence[str]) -> tuple[IPNetwork, ...]:
    """``health.detail_networks`` parsed; ConfigError naming the key for a bad entry."""
    return parse_networks(values, "health.detail_networks")
