"""Use cases of the metadata definitions API (Glance's metadefs), under the policy.

Who sees a namespace: admins see every one; others see the public ones and
their own project's; any other is MetadefNotFound, as is one the
``get_metadef_namespace`` rule refuses. A rule refused on a namespace the
caller may see is Forbidden (403). Namespaces marked ``protected`` cannot be
deleted, and neither can anything in them (403), as in Glance. The policy
target of a namespace is its owner as ``project_id`` and its ``visibility``;
rules about no namespace (list, create) get the caller's project.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from glimpse.auth.identity import Actor
from glimpse.auth.policy import Policy
from glimpse.errors import Forbidden, MetadefNotFound
from glimpse.model import utcnow
from glimpse.model.metadefs import (
    Association,
    Contents,
    MetadefObject,
    Namespace,
    NamespaceDraft,
    NamespaceQuery,
    Property,
    ResourceType,
    Tag,
    TagQuery,
)
from glimpse.registry.metadef_items import MetadefItems
from glimpse.registry.metadefs import MetadefRegistry, namespace_not_found

#: What each content kind's bulk delete and create check, besides the namespace rules.
_CLEAR_RULES = {"objects": (), "properties": (), "tags": ("delete_metadef_tags",)}


class MetadefService:
    """Namespaces, their objects, properties, tags and resource type associations."""

    def __init__(self, namespaces: MetadefRegistry, items: MetadefItems, policy: Policy) -> None:
        self.namespaces = namespaces
        self.items = items
        self.policy = policy

    # -- namespaces ---------------------------------------------------------------------------

    def index(
        self, actor: Actor, query: NamespaceQuery
    ) -> tuple[list[Namespace], dict[str, list[Association]]]:
        """A page of the namespaces the caller sees, with their resource type associations."""
        self._require_unbound("get_metadef_namespaces", actor)
        self._require_unbound("list_metadef_resource_types", actor)
        if query.marker is not None:
            self._see(actor, query.marker)
        admin = self.policy.is_admin(actor)
        found = [
            ns
            for ns in self.namespaces.namespaces(query, project=actor.project, admin=admin)
            if self.policy.allowed("get_metadef_namespace", actor, _target(ns))
        ]
        return found, self.namespaces.associations(ns.namespace for ns in found)

    def get(self, actor: Actor, name: str, resource_type: str | None = None) -> Contents:
        """A namespace with everything in it; with ``resource_type``, its properties named
        with the prefix of the namespace's association with that type."""
        ns = self._see(actor, name)
        for rule in (
            "list_metadef_resource_types",
            "get_metadef_objects",
            "get_metadef_properties",
            "get_metadef_tags",
        ):
            self._require(rule, actor, ns)
        contents = self.namespaces.contents(name)
        prefix = next(
            (a.prefix for a in contents.associations if a.name == resource_type and a.prefix),
            None,
        )
        return contents if prefix is None else _prefixed(contents, prefix)

    def create(self, actor: Actor, draft: NamespaceDraft) -> Contents:
        self._require_unbound("add_metadef_namespace", actor)
        for present, rule in (
            (draft.associations, "add_metadef_resource_type_association"),
            (draft.objects, "add_metadef_object"),
            (draft.properties, "add_metadef_property"),
            (draft.tags, "add_metadef_tag"),
        ):
            if present:
                self._require_unbound(rule, actor)
        now = utcnow()
        contents = Contents(
            self._fields(actor, draft, now, now),
            draft.associations,
            draft.properties,
            draft.objects,
            draft.tags,
        )
        self.namespaces.create(contents)
        return contents

    def replace(self, actor: Actor, name: str, draft: NamespaceDraft) -> Namespace:
        """PUT: every field replaced; those left out take their create defaults."""
        current = self._see(actor, name)
        self._require("modify_metadef_namespace", actor, current)
        return self.namespaces.update(
            name, self._fields(actor, draft, current.created_at, utcnow())
        )

    def delete(self, actor: Actor, name: str) -> None:
        ns = self._see(actor, name)
        self._require("delete_metadef_namespace", actor, ns)
        _unprotected(ns, f"Metadata definition namespace {name} is protected")
        self.namespaces.delete(name)

    def clear(self, actor: Actor, name: str, what: str) -> None:
        """Remove all of a namespace's ``objects``, ``properties`` or ``tags``."""
        ns = self._see(actor, name)
        for rule in ("delete_metadef_namespace", *_CLEAR_RULES[what]):
            self._require(rule, actor, ns)
        _unprotected(ns, f"Metadata definition namespace {name} is protected")
        self.namespaces.clear(name, what)

    # -- objects ------------------------------------------------------------------------------

    def objects(self, actor: Actor, name: str) -> list[MetadefObject]:
        ns = self._see(actor, name)
        self._require("get_metadef_objects", actor, ns)
        if not self.policy.allowed("get_metadef_object", actor, _target(ns)):
            return []
        return self.items.objects(name)

    def object(self, actor: Actor, name: str, obj: str) -> MetadefObject:
        self._require("get_metadef_object", actor, self._see(actor, name))
        return self.items.object(name, obj)

    def add_object(self, actor: Actor, name: str, obj: MetadefObject) -> MetadefObject:
        self._require("add_metadef_object", actor, self._see(actor, name))
        return self.items.add_object(name, obj)

    def replace_object(
        self, actor: Actor, name: str, current: str, obj: MetadefObject
    ) -> MetadefObject:
        self._require("modify_metadef_object", actor, self._see(actor, name))
        old = self.items.object(name, current)
        new = dataclasses.replace(obj, created_at=old.created_at, updated_at=utcnow())
        return self.items.save_object(name, current, new)

    def remove_object(self, actor: Actor, name: str, obj: str) -> None:
        ns = self._see(actor, name)
        self._require("delete_metadef_object", actor, ns)
        self.items.object(name, obj)
        _unprotected(ns, f"Metadata definition object {obj} is protected")
        self.items.remove_object(name, obj)

    # -- properties ---------------------------------------------------------------------------

    def properties(self, actor: Actor, name: str) -> list[Property]:
        self._require("get_metadef_properties", actor, self._see(actor, name))
        return self.items.properties(name)

    def property(
        self, actor: Actor, name: str, prop: str, resource_type: str | None = None
    ) -> Property:
        """One property; with ``resource_type``, ``prop`` is named with the prefix of the
        namespace's association with that type, and the answer keeps that name."""
        ns = self._see(actor, name)
        self._require("get_metadef_property", actor, ns)
        if not resource_type:
            return self.items.property(name, prop)
        self._require("get_metadef_resource_type", actor, ns)
        found = [a for a in self.items.associations(name) if a.name == resource_type]
        if not found:
            raise MetadefNotFound(
                f"Namespace {name} is not associated with resource type {resource_type}."
            )
        prefix = found[0].prefix or ""
        if not prefix or not prop.startswith(prefix):
            raise MetadefNotFound(
                f"Property {prop} does not start with the prefix {prefix!r} of "
                f"resource type {resource_type}."
            )
        return self.items.property(name, prop[len(prefix) :])

    def add_property(self, actor: Actor, name: str, prop: Property) -> Property:
        self._require("add_metadef_property", actor, self._see(actor, name))
        return self.items.add_property(name, prop)

    def replace_property(self, actor: Actor, name: str, current: str, prop: Property) -> Property:
        self._require("modify_metadef_property", actor, self._see(actor, name))
        return self.items.save_property(name, current, prop)

    def remove_property(self, actor: Actor, name: str, prop: str) -> None:
        ns = self._see(actor, name)
        self._require("remove_metadef_property", actor, ns)
        self.items.property(name, prop)
        _unprotected(ns, f"Metadata definition property {prop} is protected")
        self.items.remove_property(name, prop)

    # -- tags ---------------------------------------------------------------------------------

    def tags(self, actor: Actor, name: str, query: TagQuery) -> list[Tag]:
        self._require("get_metadef_tags", actor, self._see(actor, name))
        return self.items.tags(name, query)

    def tag(self, actor: Actor, name: str, tag: str) -> Tag:
        self._require("get_metadef_tag", actor, self._see(actor, name))
        return self.items.tag(name, tag)

    def add_tag(self, actor: Actor, name: str, tag: str) -> Tag:
        self._require("add_metadef_tag", actor, self._see(actor, name))
        now = utcnow()
        return self.items.add_tag(name, Tag(tag, now, now))

    def add_tags(self, actor: Actor, name: str, tags: list[str], *, append: bool) -> list[Tag]:
        """Create ``tags`` at once; unless ``append``, they replace the namespace's tags."""
        self._require("add_metadef_tags", actor, self._see(actor, name))
        now = utcnow()
        return self.items.add_tags(name, [Tag(t, now, now) for t in tags], append=append)

    def rename_tag(self, actor: Actor, name: str, tag: str, new: str) -> Tag:
        self._require("modify_metadef_tag", actor, self._see(actor, name))
        old = self.items.tag(name, tag)
        return self.items.rename_tag(name, tag, Tag(new, old.created_at, utcnow()))

    def remove_tag(self, actor: Actor, name: str, tag: str) -> None:
        ns = self._see(actor, name)
        self._require("delete_metadef_tag", actor, ns)
        self.items.tag(name, tag)
        _unprotected(ns, f"Metadata definition tag {tag} is protected")
        self.items.remove_tag(name, tag)

    # -- resource types -----------------------------------------------------------------------

    def resource_types(self, actor: Actor) -> list[ResourceType]:
        self._require_unbound("list_metadef_resource_types", actor)
        return self.items.resource_types()

    def associations(self, actor: Actor, name: str) -> list[Association]:
        ns = self._see(actor, name)
        self._require("list_metadef_resource_types", actor, ns)
        if not self.policy.allowed("get_metadef_resource_type", actor, _target(ns)):
            return []
        return self.items.associations(name)

    def associate(self, actor: Actor, name: str, assoc: Association) -> Association:
        self._require("add_metadef_resource_type_association", actor, self._see(actor, name))
        return self.items.associate(name, assoc)

    def dissociate(self, actor: Actor, name: str, resource_type: str) -> None:
        ns = self._see(actor, name)
        self._require("remove_metadef_resource_type_association", actor, ns)
        if not any(a.name == resource_type for a in self.items.associations(name)):
            raise MetadefNotFound(f"Failed to find resource type {resource_type} to delete")
        _unprotected(ns, f"Metadata definition resource type {resource_type} is protected")
        self.items.dissociate(name, resource_type)

    # -- access -------------------------------------------------------------------------------

    def _see(self, actor: Actor, name: str) -> Namespace:
        """A namespace the caller may see; MetadefNotFound otherwise, never Forbidden."""
        try:
            ns = self.namespaces.namespace(name)
        except MetadefNotFound:
            raise namespace_not_found(name) from None
        visible = (
            ns.visibility == "public"
            or (actor.project is not None and ns.owner == actor.project)
            or self.policy.is_admin(actor)
        )
        if not visible or not self.policy.allowed("get_metadef_namespace", actor, _target(ns)):
            raise namespace_not_found(name)
        return ns

    def _require(self, rule: str, actor: Actor, ns: Namespace) -> None:
        """Forbidden unless ``rule`` passes on ``ns`` (which the caller sees)."""
        if not self.policy.allowed(rule, actor, _target(ns)):
            raise Forbidden(f"You are not authorized to complete {rule} action.")

    def _require_unbound(self, rule: str, actor: Actor) -> None:
        self.policy.require(rule, actor, {"project_id": actor.project})

    def _fields(self, actor: Actor, draft: NamespaceDraft, created: Any, updated: Any) -> Namespace:
        return Namespace(
            namespace=draft.namespace,
            display_name=draft.display_name,
            description=draft.description,
            visibility=draft.visibility or "private",
            protected=bool(draft.protected),
            owner=draft.owner or actor.project or "",
            created_at=created,
            updated_at=updated,
        )


def _target(ns: Namespace) -> dict[str, Any]:
    return {"project_id": ns.owner, "visibility": ns.visibility}


def _unprotected(ns: Namespace, message: str) -> None:
    if ns.protected:
        raise Forbidden(f"{message} and cannot be deleted.")


def _prefixed(contents: Contents, prefix: str) -> Contents:
    """The namespace's properties, and its objects' properties, named as they apply to a
    resource type: with its prefix."""
    objects = [
        dataclasses.replace(
            obj,
            properties=(
                None
                if obj.properties is None
                else {prefix + k: v for k, v in obj.properties.items()}
            ),
            required=[prefix + r for r in obj.required] if obj.required else obj.required,
        )
        for obj in contents.objects
    ]
    properties = [Property(prefix + p.name, p.schema) for p in contents.properties]
    return dataclasses.replace(contents, properties=properties, objects=objects)
