"""Uploads of crafted disk images over real HTTP: refused ones leave nothing, accepted ones
carry the virtual size their header states, as Glance 33 answers them.

A refusal is 415 with the JSON error naming the problem (Glance's status for data that
is not what the image says), the image is back to `queued` and the store holds nothing
of it. Seeded random bytes and truncated headers never get a 5xx.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator

import disk_images as images
import httpx
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from glimpse.model import DISK_FORMATS
from glimpse.testing import ServerProcess
from helpers import make_image, start_server, store_files, upload

SAMPLES = images.samples()
KIB, MIB = images.KIB, images.MIB
OCTETS = {"Content-Type": "application/octet-stream"}


def _stored(server: ServerProcess, image_id: str) -> list[str]:
    return [p.name for p in store_files(server) if image_id in p.name]


def assert_refused(
    client: httpx.Client, server: ServerProcess, image_id: str, response: httpx.Response
) -> str:
    """The upload was refused as Glance refuses data: 415, image queued, nothing kept."""
    assert response.status_code == 415, response.text
    error = response.json()["error"]
    assert error["code"] == 415
    assert error["title"] == "Unsupported Media Type"
    shown = client.get(f"/v2/images/{image_id}").json()
    assert shown["status"] == "queued"
    assert shown["size"] is None
    assert shown["virtual_size"] is None
    assert shown["checksum"] is None
    assert _stored(server, image_id) == []
    assert client.get(f"/v2/images/{image_id}/file").status_code == 204
    return str(error["message"])


def assert_accepted(
    client: httpx.Client, image_id: str, response: httpx.Response, data: bytes
) -> dict[str, object]:
    assert response.status_code == 204, response.text
    shown: dict[str, object] = client.get(f"/v2/images/{image_id}").json()
    assert shown["status"] == "active"
    assert shown["size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert client.get(f"/v2/images/{image_id}/file").content == data
    return shown


REFUSED = [
    ("raw", "qcow2", "Image disk_format qcow2 does not match stream data raw"),
    ("qcow2", "vmdk", "Image disk_format vmdk does not match stream data qcow2"),
    ("qcow2-backing", "qcow2", "Image failed safety checks: qcow2 (Image has a backing file)"),
    ("qcow2-v2-backing", "qcow2", "Image failed safety checks: qcow2 (Image has a backing file)"),
    ("qcow2-backing", "raw", "Image failed safety checks: qcow2 (Image has a backing file)"),
    ("qcow2-data-file", "qcow2", "Image failed safety checks: qcow2 (Image has data_file set)"),
    ("qcow2-unknown-feature", "qcow2", "Unknown QCOW2 features found"),
    ("vmdk-flat-outside", "vmdk", "Image failed safety checks: vmdk (Invalid extent filenames"),
    ("vmdk-text-flat", "vmdk", "Image failed safety checks: vmdk (Unsupported subformat)"),
    ("vmdk-text-sparse", "vmdk", "Invalid extent filenames found"),
    ("raw", "iso", "Image disk_format iso does not match stream data raw"),
    ("mbr-bad-boot-flag", "raw", "Image failed safety checks: gpt (MBR PTE 0 has invalid boot"),
    ("qcow2-with-mbr", "qcow2", "Multiple formats detected: gpt,qcow2"),
    ("vhd", "vhdx", "Image disk_format vhdx does not match stream data vhd"),
    ("qed", "raw", "Image failed safety checks: qed (This file format is not allowed)"),
    ("luks2", "raw", "LUKS version 2 is not supported"),
    ("short-vmdk", "vmdk", "Incomplete file cannot be safety checked"),
    ("empty", "qcow2", "Image disk_format qcow2 does not match stream data raw"),
]


@pytest.mark.parametrize(("name", "disk_format", "message"), REFUSED)
def test_refused_uploads_leave_a_queued_image_and_nothing_stored(
    server: ServerProcess, api: httpx.Client, name: str, disk_format: str, message: str
) -> None:
    image = make_image(api, disk_format=disk_format)
    response = upload(api, image["id"], SAMPLES[name])
    assert message in assert_refused(api, server, image["id"], response)
    # The image takes data again once it is what the image says.
    good = {"qcow2": SAMPLES["qcow2"], "vmdk": SAMPLES["vmdk"]}.get(disk_format)
    if good is not None:
        assert_accepted(api, image["id"], upload(api, image["id"], good), good)


ACCEPTED = [
    ("qcow2", "qcow2", 1 << 30),
    ("qcow2-v2", "qcow2", 1 << 30),
    ("qcow2", "raw", len(SAMPLES["qcow2"])),
    ("raw", "raw", MIB),
    ("vmdk", "vmdk", 64 * MIB),
    ("vmdk-stream", "vmdk", 64 * MIB),
    ("iso", "iso", 40 * 2048),
    ("iso", "raw", 40 * 2048),
    ("iso-hybrid", "iso", 40 * 2048),
    ("gpt", "raw", MIB),
    ("vhd", "vhd", 32 * MIB),
    ("vhdx", "vhdx", 128 * MIB),
    ("vdi", "vdi", 16 * MIB),
    ("raw", "ami", None),
    ("raw", "aki", None),
    ("raw", "ploop", None),
    ("empty", "raw", None),
]


@pytest.mark.parametrize(("name", "disk_format", "virtual_size"), ACCEPTED)
def test_accepted_uploads_carry_the_virtual_size(
    api: httpx.Client, name: str, disk_format: str, virtual_size: int | None
) -> None:
    data = SAMPLES[name]
    image = make_image(api, disk_format=disk_format)
    shown = assert_accepted(api, image["id"], upload(api, image["id"], data), data)
    assert shown["virtual_size"] == virtual_size


def _odd_chunks(data: bytes) -> Iterator[bytes]:
    cut = random.Random(7)
    offset = 0
    while offset < len(data):
        size = cut.choice([1, 7, 511, 4093, 65537, 200_003])
        yield data[offset : offset + size]
        offset += size


@pytest.mark.parametrize(
    ("name", "disk_format"), [("vhdx", "vhdx"), ("vmdk-stream", "vmdk"), ("qcow2-backing", "qcow2")]
)
def test_a_chunked_body_in_odd_pieces_gets_the_same_verdict(
    server: ServerProcess, api: httpx.Client, name: str, disk_format: str
) -> None:
    data = SAMPLES[name]
    image = make_image(api, disk_format=disk_format)
    response = api.put(f"/v2/images/{image['id']}/file", content=_odd_chunks(data), headers=OCTETS)
    if name == "qcow2-backing":
        assert "backing file" in assert_refused(api, server, image["id"], response)
    else:
        shown = assert_accepted(api, image["id"], response, data)
        assert shown["virtual_size"] == {"vhdx": 128 * MIB, "vmdk-stream": 64 * MIB}[name]


def test_a_large_mismatched_upload_is_refused_and_nothing_kept(
    server: ServerProcess, api: httpx.Client
) -> None:
    image = make_image(api, disk_format="qcow2")
    block = bytes(MIB)
    size = 64 * MIB
    response = api.put(
        f"/v2/images/{image['id']}/file",
        content=(block for _ in range(size // MIB)),
        headers={**OCTETS, "x-openstack-image-size": str(size)},
    )
    message = assert_refused(api, server, image["id"], response)
    assert message == "Image disk_format qcow2 does not match stream data raw"


@pytest.mark.parametrize("container_format", ["ovf", "ova"])
def test_data_in_a_container_is_taken_uninspected(api: httpx.Client, container_format: str) -> None:
    data = SAMPLES["qcow2-backing"]
    image = make_image(api, disk_format="qcow2", container_format=container_format)
    shown = assert_accepted(api, image["id"], upload(api, image["id"], data), data)
    assert shown["virtual_size"] is None


@pytest.fixture(scope="module")
def lenient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that lets format mismatches through and takes only sparse VMDKs."""
    server = start_server(
        tmp_path_factory,
        env={
            "GLIMPSE_IMAGES__REQUIRE_IMAGE_FORMAT_MATCH": "false",
            "GLIMPSE_IMAGES__VMDK_ALLOWED_TYPES": '["monolithicSparse"]',
            "GLIMPSE_IMAGES__GPT_SAFETY_CHECKS_NONFATAL": '["mbr"]',
        },
        name="lenient",
    )
    yield server
    server.stop()


@pytest.fixture
def lenient_api(lenient: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=lenient.url, timeout=60) as client:
        yield client


@pytest.mark.parametrize(
    ("name", "disk_format", "virtual_size"),
    [
        ("raw", "qcow2", None),
        ("qcow2", "vmdk", None),
        ("qcow2", "qcow2", 1 << 30),
        ("mbr-bad-boot-flag", "raw", MIB),
        ("vmdk", "vmdk", 64 * MIB),
    ],
)
def test_without_format_match_mismatches_pass(
    lenient_api: httpx.Client, name: str, disk_format: str, virtual_size: int | None
) -> None:
    data = SAMPLES[name]
    image = make_image(lenient_api, disk_format=disk_format)
    shown = assert_accepted(lenient_api, image["id"], upload(lenient_api, image["id"], data), data)
    assert shown["virtual_size"] == virtual_size


@pytest.mark.parametrize(
    ("name", "disk_format", "message"),
    [
        ("qcow2-backing", "vmdk", "Image failed safety checks: qcow2 (Image has a backing file)"),
        ("qcow2-data-file", "raw", "Image failed safety checks: qcow2 (Image has data_file set)"),
        ("vmdk-text-flat", "qcow2", "Image failed safety checks: vmdk (Unsupported subformat)"),
        ("qed", "vdi", "This file format is not allowed"),
        ("vmdk-stream", "vmdk", "vmdk (create-type streamoptimized is not allowed)"),
    ],
)
def test_without_format_match_unsafe_data_is_still_refused(
    lenient: ServerProcess, lenient_api: httpx.Client, name: str, disk_format: str, message: str
) -> None:
    image = make_image(lenient_api, disk_format=disk_format)
    response = upload(lenient_api, image["id"], SAMPLES[name])
    assert message in assert_refused(lenient_api, lenient, image["id"], response)


FUZZ = settings(
    database=None,
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
HEADERS = [name for name, data in SAMPLES.items() if 0 < len(data) <= 256 * KIB]


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """Random bytes, or a crafted header cut short and with a few bytes changed."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=2048))
    data = bytearray(SAMPLES[draw(st.sampled_from(HEADERS))])
    data = data[: draw(st.integers(0, min(len(data), 70 * KIB)))]
    for _ in range(draw(st.integers(0, 4))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@seed(20260715)
@FUZZ
@given(data=damaged(), disk_format=st.sampled_from(DISK_FORMATS))
def test_random_and_damaged_data_is_taken_or_refused_never_a_5xx(
    server: ServerProcess, api: httpx.Client, data: bytes, disk_format: str
) -> None:
    image = make_image(api, disk_format=disk_format)
    response = upload(api, image["id"], data)
    assert response.status_code in (204, 415), response.text
    if response.status_code == 415:
        assert_refused(api, server, image["id"], response)
    else:
        assert_accepted(api, image["id"], response, data)
    api.delete(f"/v2/images/{image['id']}")
