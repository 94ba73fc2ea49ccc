"""``/v2/info/usage``: the caller's project, its quotas and what it uses of them."""

from __future__ import annotations

from typing import Any

from glimpse.api.endpoint import json_of, lookup
from glimpse.service.usage import QuotaUse


def usage_view(report: list[QuotaUse]) -> dict[str, Any]:
    return {"usage": {q.name: {"limit": q.limit, "usage": q.usage} for q in report}}


usage = lookup(lambda c: c.services.usage.report(c.actor), json_of(usage_view))
