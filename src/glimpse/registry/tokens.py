"""Glimpse's own API tokens: only the hash of each secret is stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, insert, select, update
from sqlalchemy.engine import Row

from glimpse.errors import NotFound
from glimpse.model import TokenRecord
from glimpse.registry.tables import api_tokens

_COLUMNS = [
    api_tokens.c.id,
    api_tokens.c.user_id,
    api_tokens.c.project_id,
    api_tokens.c.roles,
    api_tokens.c.created_at,
    api_tokens.c.expires_at,
    api_tokens.c.revoked_at,
]
_BY_HASH = select(*_COLUMNS).where(api_tokens.c.secret_hash == bindparam("secret_hash"))


class TokenRegistry:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, record: TokenRecord, secret_hash: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(api_tokens),
                {
                    "id": record.id,
                    "secret_hash": secret_hash,
                    "user_id": record.user,
                    "project_id": record.project,
                    "roles": ",".join(record.roles),
                    "created_at": record.created_at,
                    "expires_at": record.expires_at,
                    "revoked_at": record.revoked_at,
                },
            )

    def find(self, secret_hash: str) -> TokenRecord | None:
        """The token whose secret hashes to ``secret_hash``; revoked and expired ones too."""
        with self.engine.connect() as conn:
            row = conn.execute(_BY_HASH, {"secret_hash": secret_hash}).first()
        return None if row is None else _record(row)

    def list(self) -> list[TokenRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(*_COLUMNS).order_by(api_tokens.c.created_at)).all()
        return [_record(row) for row in rows]

    def revoke(self, token_id: str, when: datetime) -> None:
        with self.engine.begin() as conn:
            result = conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=when)
            )
        if result.rowcount != 1:
            raise NotFound(f"No active token with id {token_id}")


def _record(row: Row[Any]) -> TokenRecord:
    token_id, user, project, roles, created_at, expires_at, revoked_at = tuple(row)
    return TokenRecord(
        id=str(token_id),
        user=str(user),
        project=str(project),
        roles=tuple(r for r in str(roles).split(",") if r),
        created_at=created_at,
        expires_at=expires_at,
        revoked_at=revoked_at,
    )
