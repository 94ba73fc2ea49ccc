"""The streaming inspector and the rules, without a server: the dense logic.

The reader feeds oslo's inspectors only until each has what it needs, in pieces at fixed
offsets; it must find what oslo's own wrapper finds when fed everything, and give the
same verdict however the data is cut into chunks.
"""

from __future__ import annotations

import io
import itertools
import tracemalloc
from collections.abc import Iterable, Iterator

import disk_images as images
import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st
from oslo_utils.imageutils import format_inspector as oslo

from glimpse.errors import InvalidImageData
from glimpse.formats import Found, InspectingStream
from glimpse.formats.inspect import PIECE, Reader
from glimpse.model import DISK_FORMATS
from glimpse.settings import ImageSettings

SAMPLES = images.samples()
DEFAULTS = ImageSettings()
KIB, MIB = images.KIB, images.MIB


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def verdict(
    chunks: Iterable[bytes],
    disk_format: str,
    container_format: str = "bare",
    policy: ImageSettings = DEFAULTS,
) -> Found | str:
    """What inspecting ``chunks`` found, or the message refusing them."""
    stream = InspectingStream(
        chunks, disk_format=disk_format, container_format=container_format, settings=policy
    )
    try:
        for _ in stream:
            pass
    except InvalidImageData as exc:
        return exc.message
    assert stream.found is not None
    return stream.found


def _outcome(inspector: oslo.FileInspector) -> tuple[str, object]:
    try:
        inspector.safety_check()
    except oslo.SafetyCheckFailed as exc:
        return "unsafe", sorted(exc.failures)
    except oslo.ImageFormatError as exc:
        return "unchecked", str(exc)
    except Exception as exc:
        return "failed", type(exc).__name__
    try:
        return "safe", inspector.virtual_size if str(inspector) not in ("gpt", "luks") else 0
    except Exception as exc:
        return "no size", type(exc).__name__


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_reader_finds_what_oslos_wrapper_finds_reading_everything(name: str) -> None:
    data = SAMPLES[name]
    wrapper = oslo.InspectWrapper(io.BytesIO(data))
    while wrapper.read(PIECE):
        pass
    wrapper.close()
    reader = Reader()
    for chunk in _chunks(data, 300 * KIB):
        reader.feed(chunk)
    reader.finish()
    ours = {str(i): _outcome(i) for i in reader.matches()}
    try:
        formats = wrapper.formats or []
    except AttributeError:
        # oslo's VMDK inspector raises on a text first sector whose rest is not ASCII;
        # Glance 33 then inspects nothing. It is no VMDK, nor anything else.
        assert name == "text-then-binary"
        assert ours == {}
        return
    assert ours == {str(i): _outcome(i) for i in formats if str(i) != "raw"}
    assert reader.size == len(data)


EXPECTED: list[tuple[str, str, Found | str]] = [
    ("qcow2", "qcow2", Found("qcow2", 1 << 30)),
    ("qcow2-v2", "qcow2", Found("qcow2", 1 << 30)),
    ("qcow2", "raw", Found("qcow2", 4 * 64 * KIB)),
    ("raw", "qcow2", "Image disk_format qcow2 does not match stream data raw"),
    ("raw", "raw", Found("raw", MIB)),
    ("qcow2-backing", "qcow2", "Image failed safety checks: qcow2 (Image has a backing file)"),
    ("qcow2-backing", "raw", "Image failed safety checks: qcow2 (Image has a backing file)"),
    ("qcow2-backing", "vmdk", "Image disk_format vmdk does not match stream data qcow2"),
    ("qcow2-v2-backing", "qcow2", "Image failed safety checks: qcow2 (Image has a backing file)"),
    ("qcow2-data-file", "qcow2", "Image failed safety checks: qcow2 (Image has data_file set)"),
    (
        "qcow2-unknown-feature",
        "qcow2",
        "Image failed safety checks: qcow2 (Unknown QCOW2 features found)",
    ),
    ("qcow2-v1", "qcow2", "Image failed safety checks: qcow2 (Unsupported qcow2 version)"),
    ("vmdk", "vmdk", Found("vmdk", 64 * MIB)),
    ("vmdk-stream", "vmdk", Found("vmdk", 64 * MIB)),
    ("vmdk-stream-long", "vmdk", Found("vmdk", 64 * MIB)),
    (
        "vmdk-stream-bad-end",
        "vmdk",
        "Image failed safety checks: vmdk (End-of-stream marker is invalid)",
    ),
    (
        "vmdk-flat-outside",
        "vmdk",
        "Image failed safety checks: vmdk (Invalid extent filenames found)",
    ),
    ("vmdk-text-flat", "vmdk", "Image failed safety checks: vmdk (Unsupported subformat)"),
    ("vmdk-text-flat", "raw", "Image failed safety checks: vmdk (Unsupported subformat)"),
    (
        "vmdk-text-sparse",
        "vmdk",
        "Image failed safety checks: vmdk (Invalid extent filenames found)",
    ),
    ("iso", "iso", Found("iso", 40 * 2048)),
    ("iso", "raw", Found("iso", 40 * 2048)),
    ("iso-hybrid", "iso", Found("iso", 40 * 2048)),
    ("iso-hybrid", "raw", Found("iso", 40 * 2048)),
    ("raw", "iso", "Image disk_format iso does not match stream data raw"),
    ("gpt", "raw", Found("gpt", MIB)),
    ("gpt", "qcow2", "Image disk_format qcow2 does not match stream data gpt"),
    (
        "mbr-bad-boot-flag",
        "raw",
        "Image failed safety checks: gpt (MBR PTE 0 has invalid boot flag)",
    ),
    ("fat", "raw", Found("raw", MIB)),
    ("qcow2-with-mbr", "qcow2", "Multiple formats detected: gpt,qcow2"),
    ("vhd", "vhd", Found("vhd", 32 * MIB)),
    ("vhd", "vhdx", "Image disk_format vhdx does not match stream data vhd"),
    ("vhdx", "vhdx", Found("vhdx", 128 * MIB)),
    ("vdi", "vdi", Found("vdi", 16 * MIB)),
    ("qed", "raw", "Image failed safety checks: qed (This file format is not allowed)"),
    ("luks", "raw", Found("luks", len(SAMPLES["luks"]))),
    ("luks2", "raw", "Image failed safety checks: luks (LUKS version 2 is not supported)"),
    ("raw", "ami", Found("raw", None)),
    ("raw", "aki", Found("raw", None)),
    ("raw", "ploop", Found("raw", None)),
    ("qcow2", "ami", "Image disk_format ami does not match stream data qcow2"),
    ("text-then-binary", "raw", Found("raw", len(SAMPLES["text-then-binary"]))),
    ("short-qcow2", "qcow2", "Image disk_format qcow2 does not match stream data raw"),
    ("short-qcow2", "raw", Found("raw", 100)),
    ("short-vmdk", "vmdk", "Incomplete file cannot be safety checked"),
    ("short-vmdk", "raw", "Incomplete file cannot be safety checked"),
    ("empty", "raw", Found("raw", None)),
    ("empty", "qcow2", "Image disk_format qcow2 does not match stream data raw"),
]


@pytest.mark.parametrize(("name", "disk_format", "expected"), EXPECTED)
def test_verdicts_are_glance_33s(name: str, disk_format: str, expected: Found | str) -> None:
    assert verdict(_chunks(SAMPLES[name], 256 * KIB), disk_format) == expected


@seed(20260714)
@settings(database=None, max_examples=150, deadline=None)
@given(
    name=st.sampled_from(sorted(SAMPLES)),
    disk_format=st.sampled_from(DISK_FORMATS),
    sizes=st.lists(
        st.one_of(st.integers(1, 600), st.integers(600, 300 * KIB)), min_size=1, max_size=6
    ),
)
def test_the_verdict_does_not_depend_on_chunk_sizes(
    name: str, disk_format: str, sizes: list[int]
) -> None:
    data = SAMPLES[name]
    expected = verdict([data], disk_format)

    def cut() -> Iterator[bytes]:
        # The sizes cycle over the first MiB, where the headers are; the rest goes whole.
        offset = 0
        for size in itertools.cycle(sizes):
            if offset >= min(len(data), MIB):
                break
            yield data[offset : offset + size]
            offset += size
        if offset < len(data):
            yield data[offset:]

    assert verdict(cut(), disk_format) == expected


def _zeros(total: int, chunk: int = MIB) -> Iterator[bytes]:
    block = bytes(chunk)
    for _ in range(total // chunk):
        yield block


def test_refused_data_is_refused_before_the_rest_is_read() -> None:
    taken = 0

    def counted() -> Iterator[bytes]:
        nonlocal taken
        for chunk in _zeros(64 * MIB, 64 * KIB):
            taken += len(chunk)
            yield chunk

    message = verdict(counted(), "qcow2")
    assert message == "Image disk_format qcow2 does not match stream data raw"
    assert taken <= 512 * KIB


def test_accepted_data_passes_unchanged_and_uninspected_after_the_headers() -> None:
    data = SAMPLES["qcow2"] + bytes(3 * MIB)
    stream = InspectingStream(
        _chunks(data, 100_000), disk_format="qcow2", container_format="bare", settings=DEFAULTS
    )
    assert b"".join(stream) == data
    assert stream.found == Found("qcow2", 1 << 30)


def test_memory_stays_flat_while_an_inspector_reads_to_the_end() -> None:
    # A stream-optimized VMDK keeps its footer inspector reading to the last byte.
    vmdk = SAMPLES["vmdk-stream"]
    head, tail = vmdk[: -3 * images.SECTOR], vmdk[-3 * images.SECTOR :]

    def chunks() -> Iterator[bytes]:
        yield head
        yield from _zeros(128 * MIB)
        yield tail

    tracemalloc.start()
    try:
        found = verdict(chunks(), "vmdk")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found == Found("vmdk", 64 * MIB)
    # A chunk of 1 MiB in flight, the inspectors' regions (1 MiB at most for a descriptor).
    assert peak < 6 * MIB


@pytest.mark.parametrize("container_format", ["ovf", "ova", "docker", "compressed", "ami"])
def test_data_in_a_container_is_not_inspected(container_format: str) -> None:
    data = SAMPLES["qcow2-backing"]
    assert verdict([data], "qcow2", container_format) == Found(None, None)


LENIENT = ImageSettings(require_image_format_match=False)


@pytest.mark.parametrize(
    ("name", "disk_format", "expected"),
    [
        ("raw", "qcow2", Found("raw", None)),
        ("qcow2", "vmdk", Found("qcow2", None)),
        ("vhd", "vhdx", Found("vhd", None)),
        ("qcow2", "qcow2", Found("qcow2", 1 << 30)),
        ("iso-hybrid", "raw", Found("iso", 40 * 2048)),
        ("qcow2-backing", "vmdk", "Image failed safety checks: qcow2 (Image has a backing file)"),
        ("qcow2-data-file", "raw", "Image failed safety checks: qcow2 (Image has data_file set)"),
        ("vmdk-text-flat", "qcow2", "Image failed safety checks: vmdk (Unsupported subformat)"),
        ("qed", "qcow2", "Image failed safety checks: qed (This file format is not allowed)"),
        (
            "qcow2-with-mbr",
            "qcow2",
            "Image failed safety checks: gpt (GPT MBR has no partitions defined)",
        ),
        ("short-vmdk", "qcow2", "Incomplete file cannot be safety checked"),
    ],
)
def test_without_format_match_a_mismatch_passes_but_unsafe_data_never(
    name: str, disk_format: str, expected: Found | str
) -> None:
    assert verdict([SAMPLES[name]], disk_format, policy=LENIENT) == expected


def test_multiple_safe_formats_pass_without_format_match() -> None:
    # A qcow2 header whose last bytes are an MBR with one valid partition entry.
    qcow2 = bytearray(SAMPLES["qcow2"])
    qcow2[446:512] = images.mbr([(0x80, 0x83, 2048, 1000)])[446:512]
    assert verdict([bytes(qcow2)], "qcow2", policy=LENIENT) == Found(None, None)
    assert verdict([bytes(qcow2)], "qcow2") == "Multiple formats detected: gpt,qcow2"


def test_vmdk_create_types_are_limited_to_those_allowed() -> None:
    sparse_only = ImageSettings(vmdk_allowed_types=("monolithicSparse",))
    stream = SAMPLES["vmdk-stream"]
    assert verdict([stream], "vmdk", policy=sparse_only) == (
        "Image failed safety checks: vmdk (create-type streamoptimized is not allowed)"
    )
    assert verdict([SAMPLES["vmdk"]], "vmdk", policy=sparse_only) == Found("vmdk", 64 * MIB)
    nothing = ImageSettings(vmdk_allowed_types=())
    assert "is not allowed" in str(verdict([SAMPLES["vmdk"]], "vmdk", policy=nothing))


def test_gpt_checks_named_nonfatal_only_warn() -> None:
    bad = SAMPLES["mbr-bad-boot-flag"]
    tolerant = ImageSettings(gpt_safety_checks_nonfatal=("mbr",))
    assert verdict([bad], "raw", policy=tolerant) == Found("gpt", MIB)
    # Only for data seen as GPT/MBR: a qcow2 check named there still refuses.
    lax = ImageSettings(gpt_safety_checks_nonfatal=("backing_file",))
    assert "backing file" in str(verdict([SAMPLES["qcow2-backing"]], "qcow2", policy=lax))


def test_kernels_and_ramdisks_may_carry_an_invalid_mbr() -> None:
    bad = SAMPLES["mbr-bad-boot-flag"]
    # An MBR is not a kernel: a mismatch while formats must match...
    assert verdict([bad], "aki") == "Image disk_format aki does not match stream data gpt"
    # ...but let through without, where its MBR check does not refuse an aki or ari.
    assert verdict([bad], "aki", policy=LENIENT) == Found("gpt", None)
    assert verdict([bad], "ari", policy=LENIENT) == Found("gpt", None)
    assert "invalid boot flag" in str(verdict([bad], "qcow2", policy=LENIENT))
