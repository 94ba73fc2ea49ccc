"""glance-download's reads of another region's Image API, against a real Glimpse server.

The "remote region" is a Glimpse server in identity mode ``tokens``: the
caller's token must travel with both requests, and only to that server.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from glimpse.errors import AddressRefused, FetchFailed, TooLarge, UrlRefused
from glimpse.settings import ImportFilteringSettings
from glimpse.store.web import WebFetcher, image_url, open_remote_data, remote_image
from glimpse.testing import ServerProcess
from helpers import make_image, make_token

SIZE = (5 << 20) // 2


@pytest.fixture(scope="module")
def token(tokens_server: ServerProcess) -> str:
    made: str = make_token(tokens_server, "remote-project")["token"]
    return made


@pytest.fixture(scope="module")
def remote(tokens_server: ServerProcess, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=tokens_server.url, headers={"X-Auth-Token": token}, timeout=60
    ) as client:
        yield client


@pytest.fixture(scope="module")
def image(remote: httpx.Client) -> tuple[dict[str, Any], bytes]:
    """An active image of the remote region, and its data."""
    data = os.urandom(SIZE)
    made = make_image(remote, hw_disk_bus="virtio")
    stored = remote.put(
        f"/v2/images/{made['id']}/file",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert stored.status_code == 204, stored.text
    return remote.get(f"/v2/images/{made['id']}").json(), data


def _fetcher(server: ServerProcess, **overrides: Any) -> WebFetcher:
    port = urlsplit(server.url).port
    settings = ImportFilteringSettings(**{"allowed_ports": (port,), **overrides})
    return WebFetcher(settings, method="glance-download")


def test_the_record_and_the_data_are_read_with_the_token(
    tokens_server: ServerProcess, token: str, image: tuple[dict[str, Any], bytes]
) -> None:
    record, data = image
    fetcher = _fetcher(tokens_server)
    got = remote_image(fetcher, tokens_server.url + "/", record["id"], token)
    assert got["id"] == record["id"]
    assert got["status"] == "active"
    assert got["hw_disk_bus"] == "virtio"
    with open_remote_data(
        fetcher, tokens_server.url, record["id"], token, expected_size=got["size"]
    ) as remote_data:
        assert remote_data.size == SIZE
        digest = hashlib.sha512()
        for chunk in remote_data.chunks():
            digest.update(chunk)
    assert digest.hexdigest() == got["os_hash_value"] == hashlib.sha512(data).hexdigest()


def test_the_endpoints_port_must_pass_filtering_as_in_glance(
    tokens_server: ServerProcess, token: str, image: tuple[dict[str, Any], bytes]
) -> None:
    port = urlsplit(tokens_server.url).port
    fetcher = WebFetcher(ImportFilteringSettings(), method="glance-download")
    with pytest.raises(UrlRefused, match=f"^port {port} is not allowed$"):
        remote_image(fetcher, tokens_server.url, image[0]["id"], token)
    with pytest.raises(UrlRefused, match=f"^port {port} is not allowed$"):
        open_remote_data(fetcher, tokens_server.url, image[0]["id"], token)


def test_private_endpoints_are_allowed_unless_the_setting_says_otherwise(
    tokens_server: ServerProcess, token: str, image: tuple[dict[str, Any], bytes]
) -> None:
    strict = _fetcher(tokens_server, glance_download_allow_private_addresses=False)
    with pytest.raises(AddressRefused, match="resolves to a loopback address"):
        remote_image(strict, tokens_server.url, image[0]["id"], token)
    # web-download's own rule does not apply to glance-download.
    assert _fetcher(tokens_server, allow_private_addresses=False).rules.allow_private


def test_a_missing_or_wrong_token_is_refused(
    tokens_server: ServerProcess, image: tuple[dict[str, Any], bytes]
) -> None:
    fetcher = _fetcher(tokens_server)
    for token in (None, "glt_not-a-token"):
        with pytest.raises(FetchFailed, match="refused the token for image") as caught:
            remote_image(fetcher, tokens_server.url, image[0]["id"], token)
        assert caught.value.status == 401
        with pytest.raises(FetchFailed, match="refused the token for image"):
            open_remote_data(fetcher, tokens_server.url, image[0]["id"], token)


def test_an_image_the_region_does_not_have_is_not_found(
    tokens_server: ServerProcess, token: str
) -> None:
    missing = str(uuid.uuid4())
    fetcher = _fetcher(tokens_server)
    with pytest.raises(FetchFailed, match=f"^image {missing} was not found at http"):
        remote_image(fetcher, tokens_server.url, missing, token)
    with pytest.raises(FetchFailed, match=f"^image {missing} was not found at http"):
        open_remote_data(fetcher, tokens_server.url, missing, token)


def test_an_image_without_data_has_none_to_download(
    tokens_server: ServerProcess, token: str, remote: httpx.Client
) -> None:
    queued = make_image(remote)
    fetcher = _fetcher(tokens_server)
    assert remote_image(fetcher, tokens_server.url, queued["id"], token)["status"] == "queued"
    with pytest.raises(FetchFailed, match="has no data"):
        open_remote_data(fetcher, tokens_server.url, queued["id"], token)


def test_a_size_other_than_the_records_is_an_error(
    tokens_server: ServerProcess, token: str, image: tuple[dict[str, Any], bytes]
) -> None:
    fetcher = _fetcher(tokens_server)
    with pytest.raises(FetchFailed, match=f"announces {SIZE} bytes, not the {SIZE + 1} expected"):
        open_remote_data(fetcher, tokens_server.url, image[0]["id"], token, expected_size=SIZE + 1)


def test_the_token_never_appears_in_messages(
    tokens_server: ServerProcess, token: str, image: tuple[dict[str, Any], bytes]
) -> None:
    fetcher = _fetcher(tokens_server, size_cap=10)
    failures: list[str] = []
    for call in (
        lambda: open_remote_data(fetcher, tokens_server.url, image[0]["id"], token),
        lambda: remote_image(fetcher, tokens_server.url, str(uuid.uuid4()), token),
        lambda: remote_image(fetcher, tokens_server.url, image[0]["id"], token),
    ):
        with pytest.raises((FetchFailed, TooLarge)) as caught:
            call()
        failures.append(str(caught.value))
    assert failures[0].startswith("image larger than the size cap of 10 bytes")
    assert "was not found" in failures[1]
    assert "is larger than 10 bytes" in failures[2]
    assert all(token not in text for text in failures)


@pytest.mark.parametrize(
    ("endpoint", "image_id", "message"),
    [
        ("http://glance.example:9292", "../../v3/auth/tokens", "must be an image id"),
        ("http://glance.example:9292", "", "must be an image id"),
        ("http://glance.example:9292?x=1", str(uuid.UUID(int=1)), "has a query or fragment"),
    ],
)
def test_bad_ids_and_endpoints_are_refused(endpoint: str, image_id: str, message: str) -> None:
    with pytest.raises(UrlRefused, match=message):
        image_url(endpoint, image_id)


def test_image_urls_follow_glances_form() -> None:
    image_id = str(uuid.UUID(int=7))
    assert image_url("https://glance.example/image/", image_id) == (
        f"https://glance.example/image/v2/images/{image_id}"
    )
    assert image_url("http://glance.example:9292", image_id, data=True) == (
        f"http://glance.example:9292/v2/images/{image_id}/file"
    )
