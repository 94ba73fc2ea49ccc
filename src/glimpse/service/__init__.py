"""The use cases, a module per job, composed here.

``access`` (who sees what) and ``quotas`` (the rules of project limits) are the
building blocks; ``images``, ``data``, ``sharing``, ``usage`` and ``metadefs``
hold the use cases and never import each other. ``Services.build`` wires them over the
registry, the stores and the policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from glimpse.auth.policy import Policy
from glimpse.auth.properties import PropertyProtections
from glimpse.cache.local import LocalCache
from glimpse.model import QuotaLimits, UploadLease
from glimpse.registry.images import ImageRegistry
from glimpse.registry.members import MemberRegistry
from glimpse.registry.metadef_items import MetadefItems
from glimpse.registry.metadefs import MetadefRegistry
from glimpse.service.access import Access
from glimpse.service.caching import CacheService
from glimpse.service.data import DataService
from glimpse.service.images import ImageService
from glimpse.service.locations import LocationService
from glimpse.service.metadefs import MetadefService
from glimpse.service.quotas import Quotas
from glimpse.service.sharing import SharingService
from glimpse.service.usage import UsageService
from glimpse.settings import ImageSettings
from glimpse.store.stores import Stores


@dataclass(frozen=True)
class Services:
    """Every use case of the API, by job."""

    images: ImageService
    data: DataService
    sharing: SharingService
    usage: UsageService
    locations: LocationService
    caching: CacheService
    metadefs: MetadefService

    @classmethod
    def build(
        cls,
        *,
        images: ImageRegistry,
        members: MemberRegistry,
        stores: Stores,
        settings: ImageSettings,
        policy: Policy,
        protections: PropertyProtections,
        quota_limits: Mapping[str | None, QuotaLimits],
        lease: UploadLease,
        cache: LocalCache | None = None,
    ) -> Services:
        access = Access(images, members, policy, protections)
        quotas = Quotas(images, quota_limits)
        return cls(
            images=ImageService(images, access, quotas, stores, settings, cache),
            data=DataService(access, quotas, stores, settings, images, lease, cache=cache),
            sharing=SharingService(access, members, settings.member_quota),
            usage=UsageService(quotas),
            locations=LocationService(images, access, stores, settings, lease),
            caching=CacheService(access, cache),
            metadefs=MetadefService(
                MetadefRegistry(images.engine), MetadefItems(images.engine), policy
            ),
        )
