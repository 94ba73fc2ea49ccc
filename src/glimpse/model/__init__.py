"""The model: images and their statuses, the visibility rule, members, quotas, tokens.

Plain data, no I/O; everything above the registry speaks in these types.
"""

from glimpse.model.images import (
    CONTAINER_FORMATS,
    DISK_FORMATS,
    GONE,
    NEEDS_FORMATS_FROM,
    NEEDS_FORMATS_TO,
    TRANSITIONS,
    UNSET,
    Image,
    Location,
    LocationStatus,
    NewImage,
    PatchOp,
    Status,
    Visibility,
    check_transition,
    utcnow,
)
from glimpse.model.records import (
    UNLIMITED,
    Filter,
    ListQuery,
    Member,
    MemberStatus,
    QuotaLimits,
    Reservation,
    TokenRecord,
    Usage,
)
from glimpse.model.scope import Grant, Scope

__all__ = [
    "CONTAINER_FORMATS",
    "DISK_FORMATS",
    "GONE",
    "NEEDS_FORMATS_FROM",
    "NEEDS_FORMATS_TO",
    "TRANSITIONS",
    "UNLIMITED",
    "UNSET",
    "Filter",
    "Grant",
    "Image",
    "ListQuery",
    "Location",
    "LocationStatus",
    "Member",
    "MemberStatus",
    "NewImage",
    "PatchOp",
    "QuotaLimits",
    "Reservation",
    "Scope",
    "Status",
    "TokenRecord",
    "Usage",
    "Visibility",
    "check_transition",
    "utcnow",
]
