"""Property protections: which roles may create, read, update and delete which extra properties.

The file is Glance's ``property-protections-roles.conf``: an INI file whose
section names are regular expressions over property names, each with
``create``, ``read``, ``update`` and ``delete`` set to comma-separated roles,
``@`` (everyone) or ``!`` (no one)::

    [^x_billing_.*]
    create = admin
    read = admin,member
    update = admin
    delete = !

    [.*]
    create = @
    read = @
    update = @
    delete = @

The first section whose expression matches (anywhere in the name, as
``re.search``) decides; a property no section matches may not be touched at
all, and an action a section leaves out is allowed to no one, as in Glance. An
unreadable property is hidden from the caller; a forbidden write is 403. Base
attributes are never subject to protections.
"""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass

from glimpse.errors import ConfigError

ACTIONS = ("create", "read", "update", "delete")


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    roles: dict[str, frozenset[str]]


class PropertyProtections:
    """The rules of one protections file; without a file everything is allowed."""

    def __init__(self, rules: list[_Rule] | None = None) -> None:
        self._rules = rules

    @property
    def active(self) -> bool:
        return self._rules is not None

    @classmethod
    def from_file(cls, path: str) -> PropertyProtections:
        if not path:
            return cls()
        parser = configparser.RawConfigParser()
        try:
            with open(path) as file:
                parser.read_file(file)
        except OSError as exc:
            raise ConfigError(
                f"cannot read property protections file {path}: {exc.strerror}"
            ) from None
        except configparser.Error as exc:
            raise ConfigError(f"property protections file {path} is malformed: {exc}") from None
        rules = []
        for section in parser.sections():
            try:
                pattern = re.compile(section)
            except re.error as exc:
                raise ConfigError(
                    f"property protections file {path}: [{section}] is not a valid "
                    f"regular expression: {exc}"
                ) from None
            unknown = set(parser.options(section)) - set(ACTIONS)
            if unknown:
                raise ConfigError(
                    f"property protections file {path}: [{section}] has unknown "
                    f"operations {sorted(unknown)}; use create, read, update, delete"
                )
            roles = {
                action: frozenset(
                    role.strip().lower()
                    for role in parser.get(section, action, fallback="").split(",")
                    if role.strip()
                )
                for action in ACTIONS
            }
            rules.append(_Rule(pattern, roles))
        return cls(rules)

    def allows(self, name: str, action: str, roles: frozenset[str]) -> bool:
        """Whether a caller with ``roles`` may apply ``action`` to property ``name``."""
        if self._rules is None:
            return True
        for rule in self._rules:
            if rule.pattern.search(name):
                allowed = rule.roles[action]
                if "!" in allowed:
                    return False
                return "@" in allowed or not allowed.isdisjoint(roles)
        return False
