"""Use cases of the cache's admin API (Glance's ``/v2/cache``): list, queue, delete, clear,
prune, clean. Each acts on the node that answers, as in Glance.

The rules are Glance's (``cache_list``, ``cache_image``, ``cache_delete``,
``cache_clean``, ``cache_prune``; admin only by default) and are checked before
anything else, so a caller who may not manage the cache learns nothing of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from glimpse.auth.identity import Actor
from glimpse.cache.index import Entry
from glimpse.cache.local import LocalCache, Pruned
from glimpse.errors import Invalid, NotFound
from glimpse.model import Status
from glimpse.service.access import Access

#: Values of ``x-image-cache-clear-target``: what ``DELETE /v2/cache`` empties.
CLEAR_TARGETS = {"": (True, True), "cache": (True, False), "queue": (False, True)}


@dataclass(frozen=True)
class Listing:
    cached: list[Entry]
    queued: list[str]


@dataclass(frozen=True)
class CacheService:
    """The node's cache under the policy; ``cache`` is None when caching is off."""

    access: Access
    cache: LocalCache | None

    def _enabled(self, rule: str, actor: Actor) -> LocalCache:
        self.access.policy.require(rule, actor, {"project_id": actor.project})
        if self.cache is None:
            raise NotFound("Caching via API is not supported at this site.")
        return self.cache

    def list(self, actor: Actor) -> Listing:
        cache = self._enabled("cache_list", actor)
        return Listing(cache.entries(), cache.queued())

    def queue(self, actor: Actor, image_id: str) -> None:
        """Queue an active image the caller may see for the prefetcher."""
        cache = self._enabled("cache_image", actor)
        image = self.access.see(actor, image_id).image
        if image.status != Status.ACTIVE:
            raise Invalid(
                f"Only images with status active can be targeted for queueing; image "
                f"{image_id} is {image.status}."
            )
        cache.queue(image_id)

    def delete(self, actor: Actor, image_id: str) -> None:
        self._enabled("cache_delete", actor).purge(image_id)

    def clear(self, actor: Actor, target: str) -> tuple[int, int]:
        """Empty the cache, the queue, or both (``target`` empty); Invalid for another target."""
        cache = self._enabled("cache_delete", actor)
        what = CLEAR_TARGETS.get(target.strip().lower())
        if what is None:
            raise Invalid(
                "If provided 'x-image-cache-clear-target' must be 'cache', 'queue' or empty string."
            )
        return cache.clear(cache=what[0], queue=what[1])

    def prune(self, actor: Actor) -> Pruned:
        return self._enabled("cache_prune", actor).prune()

    def clean(self, actor: Actor) -> int:
        return self._enabled("cache_clean", actor).clean()
