"""`glimpse token create | list | revoke`: Glimpse's own API tokens."""

from __future__ import annotations

import argparse
import json
import re
import secrets
import sys
from datetime import UTC, datetime, timedelta

from glimpse.auth import tokens
from glimpse.auth.identity import TokenRecord, roles_from
from glimpse.errors import ConfigError, GlimpseError
from glimpse.model import utcnow
from glimpse.registry import db
from glimpse.registry.tokens import TokenRegistry
from glimpse.server import prepare_registry
from glimpse.settings import Settings

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def run(args: argparse.Namespace, settings: Settings) -> int:
    prepare_registry(settings)
    engine = db.connect(settings.registry_url, 1)
    registry = TokenRegistry(engine)
    now = utcnow().replace(microsecond=0)
    try:
        if args.action == "create":
            return _create(registry, args, now)
        if args.action == "list":
            return _list(registry, now)
        registry.revoke(args.id, now)
        print(f"revoked {args.id}")
        return 0
    except GlimpseError as exc:
        print(f"glimpse: {exc.message}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


def _create(registry: TokenRegistry, args: argparse.Namespace, now: datetime) -> int:
    roles = roles_from(args.roles)
    if not roles:
        raise ConfigError("--roles names no role")
    record = TokenRecord(
        id=secrets.token_hex(8),
        user=args.user,
        project=args.project,
        roles=tuple(sorted(roles)),
        created_at=now,
        expires_at=_expiry(args.expires, now),
        revoked_at=None,
    )
    secret = tokens.new_secret()
    registry.add(record, tokens.secret_hash(secret))
    print(json.dumps({**_view(record, now), "token": secret}, indent=2))
    print("Keep the token now: it is not stored and cannot be shown again.", file=sys.stderr)
    return 0


def _list(registry: TokenRegistry, now: datetime) -> int:
    rows = [_view(record, now) for record in registry.list()]
    columns = ["id", "user", "project", "roles", "created_at", "expires_at", "state"]
    table = [columns] + [
        [str(row[c] if row[c] is not None else "-") for c in columns] for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for line in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )
    return 0


def _view(record: TokenRecord, now: datetime) -> dict[str, object]:
    if record.revoked_at is not None:
        state = "revoked"
    elif record.expires_at is not None and record.expires_at <= now:
        state = "expired"
    else:
        state = "active"
    return {
        "id": record.id,
        "user": record.user,
        "project": record.project,
        "roles": ",".join(record.roles),
        "created_at": _iso(record.created_at),
        "expires_at": _iso(record.expires_at),
        "state": state,
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _expiry(text: str | None, now: datetime) -> datetime | None:
    if text is None:
        return None
    match = _DURATION.match(text.strip())
    if match:
        return now + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--expires {text!r} is neither an ISO 8601 time nor a duration"
        ) from None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when
