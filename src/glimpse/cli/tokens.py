"""`glimpse token create | list | revoke`: Glimpse's own API tokens (identity mode `tokens`)."""

from __future__ import annotations

import argparse
import json
import re
import secrets
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from glimpse.auth import tokens
from glimpse.auth.identity import roles_from
from glimpse.errors import ConfigError, GlimpseError
from glimpse.model import TokenRecord, utcnow
from glimpse.registry import db
from glimpse.registry.tokens import TokenRegistry
from glimpse.settings import Settings

_DURATION = re.compile(r"^([0-9]{1,6})([smhdwy])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def add_parser(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    token = commands.add_parser(
        "token", help="manage API tokens (identity mode 'tokens')", parents=common
    )
    token_commands = token.add_subparsers(dest="action", required=True)
    create = token_commands.add_parser(
        "create", help="make a token; its secret is shown once", parents=common
    )
    create.add_argument("--project", required=True, help="project the token acts for")
    create.add_argument("--user", required=True, help="user the token belongs to")
    create.add_argument(
        "--roles",
        default="member,reader",
        help=f"comma-separated roles among {', '.join(sorted(tokens.ROLES))} (default "
        "member,reader); as in Keystone, admin implies member and member implies reader",
    )
    create.add_argument(
        "--expires",
        help="expiry, in the future: an ISO 8601 time (2027-01-31T12:00:00Z) or a duration "
        "(90m, 12h, 30d, 2w, 1y)",
    )
    token_commands.add_parser("list", help="list tokens (never their secrets)", parents=common)
    revoke = token_commands.add_parser("revoke", help="revoke a token by id", parents=common)
    revoke.add_argument("id", help="token id, as shown by create and list")


def run(args: argparse.Namespace, settings: Settings, environ: dict[str, str]) -> int:
    db.prepare(settings.registry_url)
    engine = db.connect(settings.registry_url, 1)
    registry = TokenRegistry(engine)
    now = utcnow().replace(microsecond=0)
    try:
        if args.action == "create":
            if settings.identity.mode != "tokens":
                print(
                    f"glimpse: note: identity mode is {settings.identity.mode!r}, so this "
                    'token is not checked until [identity] mode = "tokens"',
                    file=sys.stderr,
                )
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
    unknown = sorted(roles - tokens.ROLES)
    if unknown:
        raise ConfigError(
            f"--roles: unknown role {', '.join(unknown)}; known: {', '.join(sorted(tokens.ROLES))}"
        )
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
        when = now + timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    else:
        try:
            when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                f"--expires {text!r} is neither an ISO 8601 time nor a duration (30d, 1y)"
            ) from None
        if when.tzinfo is not None:
            when = when.astimezone(UTC).replace(tzinfo=None)
    if when <= now:
        raise ConfigError(f"--expires {text!r} is not in the future")
    return when
