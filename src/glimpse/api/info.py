"""``/v2/info/usage``: the caller's project, its quotas and what it uses of them."""

from __future__ import annotations

import dataclasses

from starlette.requests import Request
from starlette.responses import Response

from glimpse.api import context
from glimpse.api.body import reject_body
from glimpse.api.json import json_response
from glimpse.model import UNLIMITED
from glimpse.quota import MIB, SIZES


async def usage(request: Request) -> Response:
    reject_body(request)
    actor = context.actor(request)
    service = context.service(request)
    used = await context.read(request, service.registry.usage, actor.project)
    limits = service.quotas.limits(actor.project)
    body = {}
    for field in dataclasses.fields(limits):
        limit = getattr(limits, field.name)
        value = getattr(used, field.name)
        if field.name in SIZES:  # MiB, as Glance reports them
            value //= MIB
            limit = limit if limit == UNLIMITED else limit // MIB
        body[field.name] = {"limit": limit, "usage": value}
    return json_response({"usage": body})
