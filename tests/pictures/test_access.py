"""Who may write and read pictures (identity modes), and signed rendition URLs."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from picture_support import PREFIX, fail_json, jpeg, new_id, noise, solid, start, upload

from glimpse.derive.signing import sign
from glimpse.testing import ServerProcess

KEYS = '["new-key", "old-key"]'


@pytest.fixture(scope="module")
def trusted_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    started = start(tmp_path_factory, {"GLIMPSE_IDENTITY__MODE": "trusted-headers"})
    yield started
    started.stop()


@pytest.fixture(scope="module")
def private_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    started = start(
        tmp_path_factory,
        {"GLIMPSE_IDENTITY__MODE": "trusted-headers", "GLIMPSE_PICTURES__PUBLIC_READS": "false"},
    )
    yield started
    started.stop()


@pytest.fixture(scope="module")
def signed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    started = start(tmp_path_factory, {"GLIMPSE_PICTURES__SIGNING_KEYS": KEYS})
    yield started
    started.stop()


def _as(project: str, roles: str) -> dict[str, str]:
    return {"X-Identity-Status": "Confirmed", "X-Project-Id": project, "X-Roles": roles}


def test_writes_need_a_member_of_the_owning_project(trusted_server: ServerProcess) -> None:
    with httpx.Client(base_url=trusted_server.url, timeout=30) as client:
        picture_id = new_id()
        data = jpeg(solid(20, 20))
        fail_json(upload(client, picture_id, data), 401)
        fail_json(upload(client, picture_id, data, headers=_as("a", "reader")), 403)
        assert upload(client, picture_id, data, headers=_as("a", "member")).status_code == 303
        # Reads are public by default: no credentials needed.
        assert client.get(f"{PREFIX}/original/{picture_id}").content == data
        assert client.get(f"{PREFIX}/derived/{picture_id}-10x10.jpg").status_code == 200
        path = f"{PREFIX}/original/{picture_id}"
        fail_json(client.delete(path), 401)
        fail_json(client.delete(path, headers=_as("b", "member")), 403)
        fail_json(upload(client, picture_id, data, method="PUT", headers=_as("b", "member")), 403)
        assert client.delete(path, headers=_as("b", "admin")).status_code == 200
        # The Image API still needs credentials.
        assert client.get("/v2/images").status_code == 401


def test_private_reads_need_credentials(private_server: ServerProcess) -> None:
    with httpx.Client(base_url=private_server.url, timeout=30) as client:
        picture_id = new_id()
        member = _as("a", "member,reader")
        assert upload(client, picture_id, jpeg(solid(20, 20)), headers=member).status_code == 303
        for path in (
            f"{PREFIX}/original/{picture_id}",
            f"{PREFIX}/original/{picture_id}/info",
            f"{PREFIX}/derived/{picture_id}-10x10.jpg",
        ):
            fail_json(client.get(path), 401)
            fail_json(client.get(path, headers=_as("b", "reader")), 404)  # unseen: 404
            assert client.get(path, headers=_as("a", "reader")).status_code == 200


def test_signed_urls(signed_server: ServerProcess) -> None:
    with httpx.Client(base_url=signed_server.url, timeout=30) as client:
        picture_id = new_id()
        assert upload(client, picture_id, jpeg(noise(60, 60))).status_code == 303
        path = f"/derived/{picture_id}-20x20.jpg"
        message = fail_json(client.get(f"{PREFIX}{path}"), 403)
        assert "signed" in message
        for key in ("new-key", "old-key"):  # either key, for rotation
            query = sign(key, path, [("fit", "fit")])
            assert client.get(f"{PREFIX}{path}?{query}").status_code == 200
        query = sign("new-key", path, [("fit", "fit")])
        tampered = query.replace("fit=fit", "fit=force")
        assert "does not match" in fail_json(client.get(f"{PREFIX}{path}?{tampered}"), 403)
        other = f"/derived/{picture_id}-40x40.jpg"
        fail_json(client.get(f"{PREFIX}{other}?{query}"), 403)
        fail_json(client.get(f"{PREFIX}{path}?{sign('unknown-key', path, [])}"), 403)
        future = str(int(time.time()) + 3600)
        assert (
            client.get(f"{PREFIX}{path}?{sign('new-key', path, [('exp', future)])}").status_code
            == 200
        )
        past = str(int(time.time()) - 1)
        expired = client.get(f"{PREFIX}{path}?{sign('new-key', path, [('exp', past)])}")
        assert "expired" in fail_json(expired, 403)
        # Originals are not signed.
        assert client.get(f"{PREFIX}/original/{picture_id}").status_code == 200
