"""The Keystone harness gives what Glimpse's keystone mode relies on."""

from __future__ import annotations

import secrets

import httpx
import pytest
from harness import Account, Keystone
from keystoneauth1 import exceptions as ksa_exceptions


def _member(keystone: Keystone) -> Account:
    project = f"project-{secrets.token_hex(4)}"
    keystone.create_project(project)
    name = f"user-{secrets.token_hex(4)}"
    return keystone.create_user(name, "member-password", project, roles=["member"])


def test_keystone_answers_v3(keystone: Keystone) -> None:
    response = httpx.get(keystone.auth_url)
    assert response.status_code == 200
    assert response.json()["version"]["id"].startswith("v3.")


def test_member_token_validates_as_service_user(keystone: Keystone) -> None:
    member = _member(keystone)
    token = keystone.token_for(member.name, member.password, member.project)
    with keystone.session_as(keystone.service) as session:
        response = session.get(
            f"{keystone.auth_url}/auth/tokens", headers={"X-Subject-Token": token}
        )
    body = response.json()["token"]
    assert body["user"]["id"] == member.user_id
    assert body["project"]["id"] == member.project_id
    # `reader` is there only through the implied-role rule member -> reader.
    assert {role["name"] for role in body["roles"]} == {"member", "reader"}


def test_member_cannot_validate_another_users_token(keystone: Keystone) -> None:
    member, other = _member(keystone), _member(keystone)
    token = keystone.token_for(other.name, other.password, other.project)
    with (
        keystone.session_as(member) as session,
        pytest.raises(ksa_exceptions.Forbidden),
    ):
        session.get(f"{keystone.auth_url}/auth/tokens", headers={"X-Subject-Token": token})


def test_system_scoped_token_validates(keystone: Keystone) -> None:
    member = _member(keystone)
    keystone.assign_system_role(member.name, "reader")
    body = keystone.validate(keystone.system_token(member.name, member.password))
    assert body["system"] == {"all": True}
    assert "project" not in body
    assert {role["name"] for role in body["roles"]} == {"reader"}


def test_image_endpoint_appears_in_token_catalog(keystone: Keystone) -> None:
    member = _member(keystone)
    keystone.register_image_service("http://127.0.0.1:1/first")
    url = "http://127.0.0.1:9292"
    keystone.register_image_service(url)  # replaces the first
    try:
        body = keystone.validate(keystone.token_for(member.name, member.password, member.project))
        images = [service for service in body["catalog"] if service["type"] == "image"]
        assert len(images) == 1
        assert images[0]["name"] == "glimpse"
        endpoints = {(e["interface"], e["url"], e["region_id"]) for e in images[0]["endpoints"]}
        assert endpoints == {(i, url, "RegionOne") for i in ("public", "internal", "admin")}
    finally:
        keystone.remove_image_service()
    body = keystone.validate(keystone.token_for(member.name, member.password, member.project))
    assert "image" not in {service["type"] for service in body["catalog"]}
