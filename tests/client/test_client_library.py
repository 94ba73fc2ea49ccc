"""`glimpse.client` against real servers: records, paging, data, sharing, stores, cache."""

from __future__ import annotations

import hashlib
import io
import secrets
import uuid
from collections.abc import Iterator

import httpx
import pytest

import helpers
from glimpse.client import (
    BadRequest,
    Client,
    ConfigurationError,
    Conflict,
    ConnectionFailed,
    DataError,
    Image,
    NotFound,
    RequestEntityTooLarge,
    connect,
)
from glimpse.client.imports import METHODS
from glimpse.testing import ServerProcess, free_port


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    with connect(endpoint=server.url, environ={}) as made:
        yield made


def _image(client: Client, **fields: object) -> Image:
    body = {"name": f"lib-{uuid.uuid4().hex[:8]}", "disk_format": "raw", "container_format": "bare"}
    return client.images.create(**{**body, **fields})


def test_create_get_keeps_typed_fields_and_the_raw_json(client: Client) -> None:
    made = _image(client, os_distro="debian", tags=["a", "b"], min_ram=64)
    got = client.images.get(made.id)
    assert got.id == made.id
    assert got.status == "queued"
    assert got.min_ram == 64
    assert got.tags == ("a", "b")
    assert got.properties == {"os_distro": "debian"}
    assert got.raw["os_distro"] == "debian"
    assert got.raw["self"] == f"/v2/images/{made.id}"


def test_update_sets_attributes_and_properties_and_removes_them(client: Client) -> None:
    made = _image(client, os_distro="debian")
    changed = client.images.update(made.id, {"name": "renamed", "k": "v"}, remove=["os_distro"])
    assert changed.name == "renamed"
    assert changed.properties == {"k": "v"}
    # A property that is set is set again through `add` (Image API 2.1).
    again = client.images.update(made.id, {"k": "w", "min_disk": 3})
    assert (again.properties, again.min_disk) == ({"k": "w"}, 3)
    with pytest.raises(Conflict):  # removing a property the image does not have
        client.images.update(made.id, remove=["absent"])


def test_tags_actions_and_delete(client: Client) -> None:
    made = _image(client)
    client.images.add_tag(made.id, "blue")
    client.images.add_tag(made.id, "red")
    client.images.remove_tag(made.id, "blue")
    assert client.images.get(made.id).tags == ("red",)
    client.data.upload(made.id, b"x" * 1000)
    client.images.deactivate(made.id)
    assert client.images.get(made.id).status == "deactivated"
    client.images.reactivate(made.id)
    assert client.images.get(made.id).status == "active"
    client.images.delete(made.id)
    with pytest.raises(NotFound) as caught:
        client.images.get(made.id)
    error = caught.value
    assert error.status == 404
    assert error.title == "Not Found"
    assert made.id in error.message
    assert error.request_id is not None
    assert error.request_id.startswith("req-")
    assert str(error) == f"404 Not Found: {error.message} (request id {error.request_id})"


def test_upload_and_download_round_trip_with_hashes_and_progress(client: Client) -> None:
    # A zero first sector: random bytes end it in 55 AA once in 65,536 runs, and the
    # server then inspects the raw image as an MBR disk and refuses its partitions.
    data = bytes(512) + secrets.token_bytes(3 * (1 << 20) + 17)
    made = _image(client)
    seen: list[tuple[int, int | None]] = []
    sent = client.data.upload(made.id, io.BytesIO(data), progress=lambda d, t: seen.append((d, t)))
    assert sent.size == len(data)
    assert sent.checksum == hashlib.md5(data).hexdigest()
    assert sent.os_hash_value == hashlib.sha512(data).hexdigest()
    assert seen[-1] == (len(data), len(data))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    record = client.images.get(made.id)
    assert (record.checksum, record.os_hash_value, record.size) == (
        sent.checksum,
        sent.os_hash_value,
        len(data),
    )
    out = io.BytesIO()
    got = client.data.download(made.id, out)
    assert out.getvalue() == data
    assert got == sent
    assert b"".join(client.data.iter_download(made.id)) == data
    # Ranged reads go through the configured httpx client, under the endpoint root.
    ranged = client.http.get(f"/v2/images/{made.id}/file", headers={"Range": "bytes=5-9"})
    assert (ranged.status_code, ranged.content) == (206, data[5:10])


def test_upload_from_an_iterator_is_chunked_and_complete(client: Client) -> None:
    blocks = [secrets.token_bytes(70_000) for _ in range(5)]
    made = _image(client)
    sent = client.data.upload(made.id, iter(blocks))
    assert sent.size == sum(map(len, blocks))
    assert client.images.get(made.id).checksum == hashlib.md5(b"".join(blocks)).hexdigest()
    with pytest.raises(Conflict):  # an active image takes no more data
        client.data.upload(made.id, b"again")


def test_an_image_without_data_is_a_data_error(client: Client) -> None:
    made = _image(client)
    with pytest.raises(DataError, match="has no data"):
        client.data.download(made.id, io.BytesIO())


def test_listing_follows_pages_until_the_limit(paged_server: ServerProcess) -> None:
    tag = f"page-{uuid.uuid4().hex[:8]}"
    with connect(endpoint=paged_server.url, environ={}) as client:
        names = [f"p{n:02d}-{tag}" for n in range(8)]
        for name in reversed(names):
            _image(client, name=name, tags=[tag])
        listed = list(client.images.list(tags=[tag], sort=["name:asc"]))
        assert [i.name for i in listed] == names  # 8 images over pages of at most 3
        assert [i.name for i in client.images.list(tags=[tag], sort=["name:asc"], limit=5)] == (
            names[:5]
        )
        desc = client.images.list(tags=[tag], sort=["name:desc"], limit=4, page_size=2)
        assert [i.name for i in desc] == names[::-1][:4]
        assert list(client.images.list(tags=[tag], properties={"os_distro": "none"})) == []
        with pytest.raises(BadRequest, match="sort"):
            list(client.images.list(sort=["nosuchkey:asc"]))


def test_members_are_added_listed_and_removed(client: Client) -> None:
    made = _image(client, visibility="shared")
    project = f"project-{uuid.uuid4().hex[:8]}"
    member = client.members.create(made.id, project)
    assert (member.image_id, member.member_id, member.status) == (made.id, project, "pending")
    assert [m.member_id for m in client.members.list(made.id)] == [project]
    assert client.members.get(made.id, project).status == "pending"
    # In identity mode none the caller is an admin, who may set a member's status.
    assert client.members.update(made.id, project, "rejected").status == "rejected"
    client.members.delete(made.id, project)
    assert client.members.list(made.id) == []


def test_a_member_accepts_a_shared_image(trusted_server: ServerProcess) -> None:
    owner = httpx.Client(
        base_url=trusted_server.url, headers=helpers.trusted_headers("owner-p"), timeout=30
    )
    guest = httpx.Client(
        base_url=trusted_server.url, headers=helpers.trusted_headers("guest-p"), timeout=30
    )
    with Client(owner) as as_owner, Client(guest) as as_guest:
        made = _image(as_owner, visibility="shared")
        as_owner.members.create(made.id, "guest-p")
        accepted = as_guest.members.update(made.id, "guest-p", "accepted")
        assert accepted.status == "accepted"
        assert made.id in [i.id for i in as_guest.images.list(visibility="shared")]


def test_stores_are_listed(client: Client) -> None:
    stores = client.stores.list()
    assert stores
    assert [s.default for s in stores].count(True) == 1
    detail = client.stores.list(detail=True)
    assert all(s.type for s in detail)


def test_import_methods_are_among_glances(client: Client) -> None:
    assert set(client.imports.methods()) <= set(METHODS)


def test_size_cap_is_request_entity_too_large(limited_server: ServerProcess) -> None:
    with connect(endpoint=limited_server.url, environ={}) as client:
        made = _image(client)
        with pytest.raises(RequestEntityTooLarge) as caught:
            client.data.upload(made.id, b"\0" * (2 << 20))
        assert caught.value.status == 413
        assert client.images.get(made.id).status == "queued"


def test_cache_api(tmp_path_factory: pytest.TempPathFactory) -> None:
    server = helpers.start_server(
        tmp_path_factory, env={"GLIMPSE_CACHE__ENABLED": "true"}, name="cached"
    )
    try:
        with connect(endpoint=server.url, environ={}) as client:
            made = _image(client)
            client.data.upload(made.id, b"cached bytes" * 100)
            client.cache.queue(made.id)
            listing = client.cache.list()
            assert made.id in listing.queued or made.id in [e.image_id for e in listing.cached]
            b"".join(client.data.iter_download(made.id))  # a read fills the cache
            client.cache.delete(made.id)
            assert made.id not in [e.image_id for e in client.cache.list().cached]
            client.cache.clear("queue")
            client.cache.clear()
            assert set(client.cache.prune()) == {"total_files_pruned", "total_bytes_pruned"}
            assert "total_files_cleaned" in client.cache.clean()
            with pytest.raises(ValueError, match="target"):
                client.cache.clear("everything")
    finally:
        server.stop()


def test_connection_problems_are_typed() -> None:
    with pytest.raises(ConfigurationError, match="no image endpoint"):
        Client.from_options(environ={})
    with pytest.raises(ConfigurationError, match="token alone"):
        Client.from_options(token="t", environ={})
    with (
        connect(endpoint=f"http://127.0.0.1:{free_port()}", environ={}) as client,
        pytest.raises(ConnectionFailed, match=r"cannot talk to http://127\.0\.0\.1"),
    ):
        client.images.get("x")


def test_endpoint_options_precedence(server: ServerProcess) -> None:
    """The explicit endpoint wins over OS_IMAGE_URL; a trailing /v2 is dropped."""
    environ = {"OS_IMAGE_URL": f"http://127.0.0.1:{free_port()}", "OS_AUTH_TOKEN": "t"}
    with connect(endpoint=f"{server.url}/v2/", environ=environ) as client:
        assert str(client.http.base_url) == f"{server.url}/"
        assert client.transport.pictures_url == f"{server.url}/pictures"
        assert client.http.build_request("GET", "/v2/images").url == f"{server.url}/v2/images"
        assert list(client.images.list(limit=1)) is not None
    with connect(environ={"OS_IMAGE_URL": server.url}) as client:
        assert str(client.http.base_url) == f"{server.url}/"


def test_a_client_reads_image_data_a_mebibyte_at_a_time() -> None:
    """httpcore's 64 KiB reads cost more CPU than the transfer of a large image: the
    client raises them (and this fails if httpcore renames what it raises)."""
    import httpcore

    from glimpse.client import Client
    from glimpse.client.reads import READ_SIZE

    with httpx.Client(base_url="http://127.0.0.1:9/") as http:
        Client(http)
    assert httpcore.HTTP11Connection.READ_NUM_BYTES == READ_SIZE
    assert httpcore.AsyncHTTP11Connection.READ_NUM_BYTES == READ_SIZE
