"""Every access rule in one table, with Glance 33's secure-RBAC defaults.

Rule names and default check strings are Glance's, so an operator's existing
``policy.yaml`` (or ``policy.json``) overrides keep working: the file maps rule
names to check strings in the oslo.policy language (see ``rules.py``). A name
the table does not know, or a check string that does not parse, stops start-up.

Targets are what Glance puts in them: for an image, ``project_id`` and
``owner`` are its owner, ``visibility`` its visibility, ``member_id`` the
caller's project when the caller is a member of the image, plus its extra
properties. Credentials are the caller's ``roles``, ``project_id``, ``user_id``
and ``system_scope``. Glance scopes all of its rules to projects, so a
system-scoped caller passes none of them (except the scope-less
``context_is_admin`` and ``default``), as Glance with scope enforcement does;
nor does a caller scoped to neither a project nor the system (a domain-scoped
Keystone token, trusted headers without a project).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from glimpse.auth import rules
from glimpse.auth.identity import Actor
from glimpse.errors import ConfigError, Forbidden

_PROJECT_MEMBER = "role:member and project_id:%(project_id)s"
_PROJECT_READER = "role:reader and project_id:%(project_id)s"
_IMAGE_MEMBER = "project_id:%(member_id)s"
_ANY_VISIBLE = "'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s"
_ADMIN = "role:admin"
_ADMIN_OR_MEMBER = f"role:admin or ({_PROJECT_MEMBER})"
_ADMIN_OR_READER = f"role:admin or ({_PROJECT_READER})"
_ADMIN_OR_SERVICE = "role:admin or role:service"
_READER_OR_PUBLIC = (
    "role:admin or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))"
)

#: Glance 33's rules and their defaults. Rules for features Glimpse does not
#: serve yet (tasks) are listed so that operators' files load.
DEFAULTS: Mapping[str, str] = {
    "default": "",
    "context_is_admin": _ADMIN,
    "service_api": "role:service or role:admin",
    # images
    "add_image": f"role:admin or ({_PROJECT_MEMBER} and project_id:%(owner)s)",
    "get_image": (
        f"role:admin or (role:reader and (project_id:%(project_id)s or {_IMAGE_MEMBER} "
        f"or {_ANY_VISIBLE}))"
    ),
    "get_images": _ADMIN_OR_READER,
    "modify_image": _ADMIN_OR_MEMBER,
    "publicize_image": _ADMIN,
    "communitize_image": _ADMIN_OR_MEMBER,
    "delete_image": _ADMIN_OR_MEMBER,
    "download_image": (
        f"role:admin or (role:member and (project_id:%(project_id)s or {_IMAGE_MEMBER} "
        f"or {_ANY_VISIBLE}))"
    ),
    "upload_image": _ADMIN_OR_MEMBER,
    "deactivate": _ADMIN_OR_MEMBER,
    "reactivate": _ADMIN_OR_MEMBER,
    "copy_image": _ADMIN,
    "get_image_location": _ADMIN_OR_READER,
    "set_image_location": _ADMIN_OR_MEMBER,
    "delete_image_location": _ADMIN,
    "add_image_location": f"role:service or ({_PROJECT_MEMBER})",
    "fetch_image_location": "role:service or role:admin",
    # members
    "add_member": _ADMIN_OR_MEMBER,
    "delete_member": _ADMIN_OR_MEMBER,
    "get_member": f"role:admin or role:reader and (project_id:%(project_id)s or {_IMAGE_MEMBER})",
    "get_members": f"role:admin or role:reader and (project_id:%(project_id)s or {_IMAGE_MEMBER})",
    "modify_member": f"role:admin or (role:member and {_IMAGE_MEMBER})",
    # cache and discovery
    "manage_image_cache": _ADMIN,
    "cache_image": _ADMIN,
    "cache_list": _ADMIN,
    "cache_delete": _ADMIN,
    "cache_clean": _ADMIN,
    "cache_prune": _ADMIN,
    "list_cached_nodes": _ADMIN,
    "stores_info_detail": _ADMIN_OR_SERVICE,
    # tasks (deprecated API)
    "tasks_api_access": _ADMIN,
    "get_task": _ADMIN,
    "get_tasks": _ADMIN,
    "add_task": _ADMIN,
    "modify_task": _ADMIN,
    # metadata definitions
    "metadef_default": "",
    "metadef_admin": "rule:context_is_admin",
    **{
        name: _READER_OR_PUBLIC
        for name in (
            "get_metadef_namespace",
            "get_metadef_namespaces",
            "get_metadef_object",
            "get_metadef_objects",
            "get_metadef_resource_type",
            "list_metadef_resource_types",
            "get_metadef_property",
            "get_metadef_properties",
            "get_metadef_tag",
            "get_metadef_tags",
        )
    },
    # Glance's writes go through metadef_admin, which an operator may redefine.
    **{
        name: "rule:metadef_admin"
        for name in (
            "add_metadef_namespace",
            "modify_metadef_namespace",
            "delete_metadef_namespace",
            "add_metadef_object",
            "modify_metadef_object",
            "delete_metadef_object",
            "add_metadef_resource_type_association",
            "remove_metadef_resource_type_association",
            "add_metadef_property",
            "modify_metadef_property",
            "remove_metadef_property",
            "add_metadef_tag",
            "add_metadef_tags",
            "modify_metadef_tag",
            "delete_metadef_tag",
            "delete_metadef_tags",
        )
    },
}
#: Rules without a scope: they hold for system-scoped callers too.
_UNSCOPED = frozenset({"default", "context_is_admin"})


class Policy:
    """Decides whether an actor may apply a named rule to a target."""

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        texts = dict(DEFAULTS)
        for name, text in (overrides or {}).items():
            if name not in DEFAULTS:
                raise ConfigError(f"policy file names an unknown rule {name!r}")
            if not isinstance(text, str):
                raise ConfigError(f"policy rule {name!r} must be a string")
            texts[name] = text
        self._checks = {name: _parse(name, text) for name, text in texts.items()}
        for name, check in self._checks.items():
            for referenced in check.references():
                if referenced not in self._checks:
                    raise ConfigError(f"policy rule {name!r} refers to unknown rule {referenced!r}")

    @classmethod
    def from_file(cls, path: str) -> Policy:
        """Load overrides from a YAML or JSON file; an empty path means the defaults."""
        if not path:
            return cls()
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read policy file {path}: {exc.strerror}") from None
        return cls(_parse_file(path, text))

    def allowed(self, rule: str, actor: Actor, target: Mapping[str, Any]) -> bool:
        """Whether ``actor`` passes ``rule`` on ``target``."""
        if rule not in _UNSCOPED and (actor.system_scope or actor.project is None):
            return False
        return self._evaluate(rule, target, _credentials(actor))

    def require(self, rule: str, actor: Actor, target: Mapping[str, Any]) -> None:
        """Forbidden unless ``actor`` passes ``rule``."""
        if not self.allowed(rule, actor, target):
            raise Forbidden(f"You are not authorized to complete {rule} action.")

    def is_admin(self, actor: Actor) -> bool:
        """Glance's ``is_admin``: the caller passes ``context_is_admin``.

        Never for a caller scoped to neither a project nor the system: an admin
        role on a domain does not make one an admin of every project's images.
        """
        if actor.project is None and not actor.system_scope:
            return False
        return self._evaluate("context_is_admin", {}, _credentials(actor))

    def _evaluate(self, rule: str, target: Mapping[str, Any], creds: Mapping[str, Any]) -> bool:
        check = self._checks.get(rule)
        if check is None:
            raise KeyError(f"no policy rule {rule!r}")
        return check(target, creds, self._lookup)

    def _lookup(self, name: str, target: rules.Target, creds: rules.Credentials) -> bool:
        check = self._checks.get(name)
        return check is not None and check(target, creds, self._lookup)


def _parse(name: str, text: str) -> rules.Check:
    try:
        return rules.parse(text)
    except ConfigError as exc:
        raise ConfigError(f"policy rule {name!r}: {exc.message}") from None


def _credentials(actor: Actor) -> dict[str, Any]:
    return {
        "roles": sorted(actor.roles),
        "project_id": actor.project,
        "user_id": actor.user,
        "system_scope": actor.system_scope,
    }


def _parse_file(path: str, text: str) -> Mapping[str, str]:
    if path.endswith(".json"):
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"policy file {path} is not valid JSON: {exc}") from None
    else:
        import yaml  # only deployments with a policy file pay for the import

        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"policy file {path} is not valid YAML: {exc}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"policy file {path} must map rule names to check strings")
    return loaded
