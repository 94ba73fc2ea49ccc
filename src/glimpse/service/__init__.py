"""The use cases, a module per job, composed here.

``access`` (who sees what) and ``quotas`` (the rules of project limits) are the
building blocks; ``images``, ``data``, ``sharing``, ``usage``, ``metadefs``,
``imports`` and ``tasks`` hold the use cases and never import each other
(``import_flow`` is the imports' background runner). ``Services.build`` wires them over the
registry, the stores and the policy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from glimpse.auth.policy import Policy
from glimpse.auth.properties import PropertyProtections
from glimpse.cache.local import LocalCache
from glimpse.model import QuotaLimits, UploadLease
from glimpse.registry.images import ImageRegistry
from glimpse.registry.members import MemberRegistry
from glimpse.registry.metadef_items import MetadefItems
from glimpse.registry.metadefs import MetadefRegistry
from glimpse.registry.tasks import TaskRegistry
from glimpse.service.access import Access
from glimpse.service.caching import CacheService
from glimpse.service.data import DataService
from glimpse.service.images import ImageService
from glimpse.service.import_flow import ImportRunner, Plugin
from glimpse.service.imports import ImportService
from glimpse.service.locations import LocationService
from glimpse.service.metadefs import MetadefService
from glimpse.service.quotas import Quotas
from glimpse.service.sharing import SharingService
from glimpse.service.tasks import TaskService
from glimpse.service.usage import UsageService
from glimpse.settings import ImageSettings, ImportSettings
from glimpse.store.staging import StagingArea
from glimpse.store.stores import Stores
from glimpse.store.web import WebFetcher


@dataclass(frozen=True)
class ImportParts:
    """What imports are built from besides the registry and the stores."""

    settings: ImportSettings
    staging: StagingArea
    #: Fetch web-download URLs and glance-download images, within import filtering.
    web: WebFetcher | None = None
    glance: WebFetcher | None = None
    #: Refuses a URL import filtering does not let through, at request time.
    check_uri: Callable[[str], None] | None = None
    plugins: Sequence[Plugin] = field(default_factory=tuple)


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
    imports: ImportService
    tasks: TaskService

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
        imports: ImportParts,
        cache: LocalCache | None = None,
    ) -> Services:
        access = Access(images, members, policy, protections)
        quotas = Quotas(images, quota_limits)
        task_registry = TaskRegistry(images.engine)
        runner = ImportRunner(
            images=images,
            tasks=task_registry,
            stores=stores,
            staging=imports.staging,
            quotas=quotas,
            settings=imports.settings,
            image_settings=settings,
            lease=UploadLease(lease.holder, imports.settings.task_lease),
            web=imports.web,
            glance=imports.glance,
            plugins=imports.plugins,
        )
        image_service = ImageService(images, access, quotas, stores, settings, cache)
        return cls(
            images=image_service,
            data=DataService(access, quotas, stores, settings, images, lease, cache=cache),
            sharing=SharingService(access, members, settings.member_quota),
            usage=UsageService(quotas),
            locations=LocationService(images, access, stores, settings, lease),
            caching=CacheService(access, cache),
            metadefs=MetadefService(
                MetadefRegistry(images.engine), MetadefItems(images.engine), policy
            ),
            imports=ImportService(
                registry=images,
                tasks=task_registry,
                access=access,
                quotas=quotas,
                stores=stores,
                staging=imports.staging,
                settings=imports.settings,
                images=settings,
                runner=runner,
                lease=lease,
                check_uri=imports.check_uri,
            ),
            tasks=TaskService(
                tasks=task_registry,
                access=access,
                settings=imports.settings,
                create_image=image_service.create,
                submit=runner.submit,
                check_uri=imports.check_uri,
            ),
        )
