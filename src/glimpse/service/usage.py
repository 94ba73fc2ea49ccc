"""``/v2/info/usage``: the caller's project, its quotas and what it uses of them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from glimpse.auth.identity import Actor
from glimpse.errors import Forbidden
from glimpse.model import UNLIMITED
from glimpse.service.quotas import MIB, SIZES, Quotas


@dataclass(frozen=True)
class QuotaUse:
    """One quota as Glance reports it: sizes in MiB, UNLIMITED where there is none."""

    name: str
    limit: int
    usage: int


class UsageService:
    def __init__(self, quotas: Quotas) -> None:
        self.quotas = quotas

    def report(self, actor: Actor) -> list[QuotaUse]:
        """Every quota of the caller's project, with what the project uses of it."""
        if actor.project is None:
            raise Forbidden("Usage is reported for a project; the caller has none.")
        used = self.quotas.usage(actor.project)
        limits = self.quotas.limits(actor.project)
        report = []
        for field in dataclasses.fields(limits):
            limit = getattr(limits, field.name)
            value = getattr(used, field.name)
            if field.name in SIZES:
                value //= MIB
                limit = limit if limit == UNLIMITED else limit // MIB
            report.append(QuotaUse(field.name, limit, value))
        return report
