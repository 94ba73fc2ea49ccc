"""Starlette's router, trying only the routes that could match a path.

Starlette tries every route in order, each a regular expression: with the
Image API, the admin API and the pictures under one app, a request for the
last route paid for forty failed matches, a fifth of a small request's cost.
Routes are indexed here by the first segment of their path and their number
of segments (a ``{param}`` never spans a ``/``); a request tries, in the
table's order, only the routes under its first segment with as many
segments, and those that can match any path (a ``{name:path}`` parameter, a
mount, a parameter first). So it meets exactly the routes a full scan would
have matched, in the same order: full matches, 405s (partial matches) and
everything else come out as Starlette decides them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send

_ANY = -1  # a route that matches paths of any number of segments


class IndexedRouter(Router):
    """A ``Router`` whose HTTP requests try only the routes their path could match."""

    def __init__(self, routes: Sequence[BaseRoute], **options: Any) -> None:
        super().__init__(routes, **options)
        self._by_first: dict[str, list[tuple[BaseRoute, int]]] = {}
        anywhere: list[tuple[BaseRoute, int]] = []
        for route in self.routes:
            first, count = _shape(route)
            if first is None:
                anywhere.append((route, _ANY))
                for listed in self._by_first.values():
                    listed.append((route, _ANY))
            else:
                self._by_first.setdefault(first, list(anywhere)).append((route, count))
        self._anywhere = anywhere

    def candidates(self, path: str) -> list[BaseRoute]:
        """The routes that could match ``path``, in the table's order."""
        segments = path.split("/")
        count = len(segments)
        listed = self._by_first.get(segments[1] if count > 1 else "", self._anywhere)
        return [route for route, wanted in listed if wanted in (count, _ANY)]

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().app(scope, receive, send)
            return
        scope.setdefault("router", self)
        partial: tuple[BaseRoute, Scope] | None = None
        for route in self.candidates(_route_path(scope)):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:
                partial = (route, child_scope)
        if partial is not None:
            route, child_scope = partial
            scope["route"] = route
            scope.update(child_scope)
            await route.handle(scope, receive, send)
            return
        # Nothing matches: Starlette's own scan decides (redirects, the default 404).
        await super().app(scope, receive, send)


def _shape(route: BaseRoute) -> tuple[str | None, int]:
    """The literal first segment of ``route``'s paths and their number of segments
    (``_ANY`` for a mount or a ``{name:path}`` parameter); None for a route that may
    match a path of any first segment."""
    path = getattr(route, "path", None)
    if not isinstance(path, str) or not path.startswith("/"):
        return None, _ANY  # a host route, or a mount at the root
    first = path.split("/")[1]
    if "{" in first:
        return None, _ANY
    if isinstance(route, Route) and ":path}" not in path:
        return first, path.count("/") + 1
    return (first, _ANY) if first else (None, _ANY)


def _route_path(scope: Scope) -> str:
    """The path routes match: the request's path below the app's ``root_path``."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("/", ""):
        return path[len(root) :]
    return path
