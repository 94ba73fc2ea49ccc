"""The oslo.policy rule language: parsing, precedence and each kind of check."""

from __future__ import annotations

from typing import Any

import pytest

from glimpse.auth import rules
from glimpse.auth.identity import Actor
from glimpse.auth.policy import DEFAULTS, Policy
from glimpse.errors import ConfigError

CREDS = {
    "roles": ["Member", "reader"],
    "project_id": "p1",
    "user_id": "u1",
    "token": {"project": {"domain": {"id": "d1"}}},
}
TARGET = {"project_id": "p1", "owner": "p2", "visibility": "shared", "nested": {"k": "v"}}


def evaluate(text: str, target: dict[str, Any] = TARGET, creds: dict[str, Any] = CREDS) -> bool:
    named = {"yes": rules.parse("@"), "no": rules.parse("!")}
    return rules.parse(text)(target, creds, lambda name, t, c: named[name](t, c, lambda *_: False))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("@", True),
        ("!", False),
        ("role:member", True),  # roles compare case-insensitively
        ("role:MEMBER", True),
        ("role:admin", False),
        ("project_id:%(project_id)s", True),
        ("project_id:%(owner)s", False),
        ("project_id:%(missing)s", False),  # a missing target key fails the check
        ("'shared':%(visibility)s", True),
        ('"public":%(visibility)s', False),
        ("True:%(flag)s", False),
        ("user_id:u1", True),
        ("token.project.domain.id:d1", True),  # dotted credentials reach nested values
        ("token.project.domain.id:d2", False),
        ("roles:reader", True),  # a list credential matches any element
        ("role:%(nested.k)s", False),
        ("rule:yes", True),
        ("rule:no", False),
        ("not role:admin", True),
        ("not not role:admin", False),
        ("role:admin or role:reader and project_id:%(owner)s", False),
        ("role:reader or role:admin and project_id:%(owner)s", True),  # and binds tighter
        ("(role:reader or role:admin) and project_id:%(owner)s", False),
        ("role:admin or (role:member and project_id:%(project_id)s)", True),
        ("((role:member))", True),
        ("not (role:admin or role:nobody)", True),
        ("role:member AND NOT role:admin", True),  # keywords in any case
    ],
)
def test_checks(text: str, expected: bool) -> None:
    assert evaluate(text) is expected


@pytest.mark.parametrize(
    "text",
    [
        "role:admin or",
        "(role:admin",
        "role:admin)",
        "and role:admin",
        "role",
        "http://example/check",
        "https:x",
        "role:a role:b",
    ],
)
def test_malformed_rules_are_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        rules.parse(text)


def test_every_default_parses_and_refers_to_known_rules() -> None:
    Policy()  # parses every default and checks every rule: reference
    for name in DEFAULTS:
        for referenced in rules.parse(DEFAULTS[name]).references():
            assert referenced in DEFAULTS


def test_system_scope_passes_only_unscoped_rules() -> None:
    policy = Policy()
    system_admin = Actor(project=None, user="u", roles=frozenset({"admin"}), system_scope="all")
    assert policy.is_admin(system_admin)
    assert not policy.allowed("get_images", system_admin, {})
    assert not policy.allowed("publicize_image", system_admin, {})
    project_admin = Actor(project="p", user="u", roles=frozenset({"admin"}))
    assert policy.allowed("publicize_image", project_admin, {})


def test_overrides_may_refer_to_other_rules() -> None:
    policy = Policy({"get_images": "rule:context_is_admin or role:auditor"})
    auditor = Actor(project="p", user="u", roles=frozenset({"auditor"}))
    reader = Actor(project="p", user="u", roles=frozenset({"reader"}))
    assert policy.allowed("get_images", auditor, {"project_id": "p"})
    assert not policy.allowed("get_images", reader, {"project_id": "p"})
