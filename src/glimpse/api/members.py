"""Handlers for /v2/images/{id}/members: sharing an image with other projects."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from glimpse.api import context
from glimpse.api.body import read_json_object, reject_body
from glimpse.api.json import json_response
from glimpse.api.serialize import isotime
from glimpse.errors import Invalid
from glimpse.model import Member

MAX_MEMBER = 255


def member_view(member: Member) -> dict[str, Any]:
    return {
        "member_id": member.member,
        "image_id": member.image_id,
        "status": member.status.value,
        "created_at": isotime(member.created_at),
        "updated_at": isotime(member.updated_at),
        "schema": "/v2/schemas/member",
    }


async def index(request: Request) -> Response:
    reject_body(request)
    found = await context.read(
        request,
        context.sharing(request).list,
        context.actor(request),
        request.path_params["image_id"],
    )
    return json_response(
        {"members": [member_view(m) for m in found], "schema": "/v2/schemas/members"}
    )


async def show(request: Request) -> Response:
    reject_body(request)
    found = await context.read(
        request,
        context.sharing(request).get,
        context.actor(request),
        request.path_params["image_id"],
        request.path_params["member_id"],
    )
    return json_response(member_view(found))


async def create(request: Request) -> Response:
    """Add a member: 200 (not 201) with the new, pending membership, as Glance answers."""
    body = await read_json_object(request, context.settings(request).images.json_body_limit)
    if "member" not in body:
        raise Invalid("Member to be added not specified")
    member = body["member"]
    if not member:
        raise Invalid("Member can't be empty")
    if not isinstance(member, str) or len(member) > MAX_MEMBER:
        raise Invalid(f"Member must be a project id of at most {MAX_MEMBER} characters")
    created = await run_in_threadpool(
        context.sharing(request).add,
        context.actor(request),
        request.path_params["image_id"],
        member,
    )
    return json_response(member_view(created))


async def update(request: Request) -> Response:
    body = await read_json_object(request, context.settings(request).images.json_body_limit)
    if "status" not in body:
        raise Invalid("Status not specified")
    updated = await run_in_threadpool(
        context.sharing(request).update,
        context.actor(request),
        request.path_params["image_id"],
        request.path_params["member_id"],
        body["status"],
    )
    return json_response(member_view(updated))


async def delete(request: Request) -> Response:
    reject_body(request)
    await run_in_threadpool(
        context.sharing(request).remove,
        context.actor(request),
        request.path_params["image_id"],
        request.path_params["member_id"],
    )
    return Response(status_code=204)
