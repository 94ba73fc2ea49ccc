"""Named leases: a turn that one holder at a time has until it expires.

Nodes share no server but the registry, so whose turn it is (to scrub, say)
is a row in ``leases``. Taking a lease is one conditional UPDATE (the row is
free, expired, or already ours), and an INSERT when there is no row yet; two
nodes racing for a new row are told apart by its primary key. The same
statements hold on SQLite and PostgreSQL, where the losing UPDATE waits for
the winner's row lock and then sees the row taken.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, or_, update
from sqlalchemy.exc import IntegrityError

from glimpse.model import utcnow
from glimpse.registry.tables import leases


class NamedLeases:
    """Acquire, renew and release named leases. Every method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def acquire(
        self, name: str, holder: str, seconds: float, *, now: datetime | None = None
    ) -> bool:
        """Hold lease ``name`` for ``seconds`` from ``now`` (default: the current time).

        True when ``holder`` has it: it was free or expired, or ``holder``
        already held it (which renews it). False while another holder's lease
        runs.
        """
        now = utcnow() if now is None else now
        values = {"holder": holder, "expires_at": now + timedelta(seconds=seconds)}
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(leases)
                .where(
                    leases.c.name == name,
                    or_(leases.c.expires_at < now, leases.c.holder == holder),
                )
                .values(**values)
            )
            if taken.rowcount == 1:
                return True
        try:
            # A transaction of its own: on PostgreSQL a failed INSERT spoils its transaction.
            with self.engine.begin() as conn:
                conn.execute(insert(leases).values(name=name, **values))
        except IntegrityError:
            return False  # the row exists, held by someone else
        return True

    def release(self, name: str, holder: str) -> None:
        """Give up lease ``name`` if ``holder`` has it; another holder's lease stays."""
        with self.engine.begin() as conn:
            conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))
