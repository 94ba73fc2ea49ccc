"""Import plugins: steps run in order on an import's staged file before it is stored.

The names and behaviour are Glance's (``[image_import_opts]
image_import_plugins``): ``image_conversion`` converts the data to
``[imports] conversion_format`` with ``qemu-img`` after checking it is what
its ``disk_format`` says and is safe to hand to qemu-img;
``image_decompression`` unpacks a gzip or single-file ZIP archive (unless the
image's container format is ``compressed``); ``inject_image_metadata`` sets
the configured properties unless the caller has one of the ignored roles;
``no_op`` does nothing. Each returns the image as it should become; the
runner saves it.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from glimpse.errors import ConfigError
from glimpse.service.import_flow import ImportFailed, Plugin, PluginJob
from glimpse.settings import ImportSettings

log = logging.getLogger(__name__)

#: Formats qemu-img writes that image_conversion may convert to.
CONVERSION_TARGETS = ("raw", "qcow2", "vmdk")
#: VMDK create types qemu-img may read (Glance's vmdk_allowed_types default).
VMDK_ALLOWED = ("streamOptimized", "monolithicSparse")
#: Limits on the qemu-img processes: address space and CPU seconds, as Glance's.
QEMU_ADDRESS_SPACE = 1 << 30
QEMU_CPU_SECONDS = 30
_COPY = 1 << 20


def build(settings: ImportSettings) -> list[Plugin]:
    """The configured plugins, in their order; ConfigError on a bad setting."""
    made: list[Plugin] = []
    for name in settings.plugins:
        if name == "image_conversion":
            if settings.conversion_format not in CONVERSION_TARGETS:
                raise ConfigError(
                    f"setting imports.conversion_format must be one of "
                    f"{', '.join(CONVERSION_TARGETS)}"
                )
            made.append(convert)
        elif name == "image_decompression":
            made.append(decompress)
        elif name == "inject_image_metadata":
            made.append(injector(parse_injected(settings.inject_properties)))
        elif name == "no_op":
            made.append(lambda job: job.image)
    return made


def parse_injected(entries: tuple[str, ...]) -> Mapping[str, str]:
    properties: dict[str, str] = {}
    for entry in entries:
        name, sep, value = entry.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(f"setting imports.inject_properties: {entry!r} is not name=value")
        if name.startswith("os_glance"):
            raise ConfigError(f"setting imports.inject_properties: {name} is reserved")
        properties[name] = value.strip()
    return properties


def injector(properties: Mapping[str, str]) -> Plugin:
    def inject(job: PluginJob) -> Any:
        ignored = set(job.settings.inject_ignore_user_roles)
        if not properties or (ignored & job.roles) or (job.is_admin and "admin" in ignored):
            return job.image
        return job.image.with_properties({**job.image.properties, **properties})

    return inject


# -- decompression ------------------------------------------------------------------------


def decompress(job: PluginJob) -> Any:
    image = job.image
    if image.container_format == "compressed":
        return image
    source = job.staging.path(image.id)
    with open(source, "rb") as file:
        head = file.read(8)
    unpack: Callable[[Path, Path, int], None] | None = None
    if head.startswith(b"PK\x03\x04"):
        unpack = _unzip
    elif head.startswith(b"\x1f\x8b\x08"):
        unpack = _gunzip
    elif head[2:5] == b"-lh":
        raise ImportFailed("LHA archives cannot be decompressed here")
    if unpack is None:
        return image
    target = job.staging.temporary(image.id, "uncompressed")
    try:
        unpack(source, target, job.size_cap)
        os.replace(target, source)
    except ImportFailed:
        raise
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ImportFailed(f"The image could not be decompressed: {exc}") from None
    finally:
        target.unlink(missing_ok=True)
    size = source.stat().st_size
    log.info("image %s: decompressed to %d bytes", image.id, size)
    return dataclasses.replace(image, size=size)


def _unzip(source: Path, target: Path, cap: int) -> None:
    with zipfile.ZipFile(source) as archive:
        names = archive.namelist()
        if len(names) != 1:
            raise ImportFailed("Archive contains more than one file.")
        with archive.open(names[0]) as member:
            _copy_capped(member, target, cap)


def _gunzip(source: Path, target: Path, cap: int) -> None:
    with gzip.open(source, "rb") as packed:
        _copy_capped(packed, target, cap)


def _copy_capped(packed: IO[bytes] | gzip.GzipFile, target: Path, cap: int) -> None:
    """Unpack into ``target``, stopping at the size cap: an archive may be a bomb."""
    written = 0
    with open(target, "wb") as out:
        while chunk := packed.read(_COPY):
            written += len(chunk)
            if written > cap:
                raise ImportFailed(
                    f"The decompressed image is larger than the size cap of {cap} bytes"
                )
            out.write(chunk)


# -- conversion ---------------------------------------------------------------------------


def convert(job: PluginJob) -> Any:
    """Check the staged data is what its disk_format says, then convert it."""
    from oslo_utils.imageutils import format_inspector

    image = job.image
    target_format = job.settings.conversion_format
    source = job.staging.path(image.id)
    declared = image.disk_format or ""
    try:
        inspector = format_inspector.detect_file_format(str(source))
        if inspector is None:
            raise format_inspector.ImageFormatError("no format detected")
        inspector.safety_check()
    except format_inspector.SafetyCheckFailed:
        raise ImportFailed("Image has disallowed configuration") from None
    except format_inspector.ImageFormatError:
        raise ImportFailed("Image format detection failed") from None
    detected = str(inspector)
    if detected == "gpt":
        detected = "raw"
    if detected == "iso":
        if declared == "iso":
            return image
        raise ImportFailed("Image has disallowed configuration")
    if detected != declared:
        raise ImportFailed("Image format mismatch")
    info = _qemu_img(job, "info", "-f", declared, "--output=json", str(source))
    metadata = json.loads(info)
    if metadata.get("format") != declared:
        raise ImportFailed("Image metadata disagrees about format")
    virtual_size = metadata.get("virtual-size")
    if "backing-filename" in metadata:
        raise ImportFailed("QCOW images with backing files are not allowed")
    data = metadata.get("format-specific", {}).get("data", {})
    if data.get("data-file") is not None:
        raise ImportFailed("QCOW images with data-file set are not allowed")
    if declared == "vmdk":
        create_type = data.get("create-type")
        if not create_type:
            raise ImportFailed("Unable to determine VMDK create-type")
        if create_type not in VMDK_ALLOWED:
            raise ImportFailed("Invalid VMDK create-type specified")
    if declared == target_format:
        return dataclasses.replace(image, virtual_size=virtual_size)
    target = job.staging.temporary(image.id, target_format)
    try:
        _qemu_img(job, "convert", "-f", declared, "-O", target_format, str(source), str(target))
        converted = json.loads(
            _qemu_img(job, "info", "-f", target_format, "--output=json", str(target))
        )
        os.replace(target, source)
    finally:
        target.unlink(missing_ok=True)
    log.info("image %s: converted from %s to %s", image.id, declared, target_format)
    return dataclasses.replace(
        image,
        disk_format=target_format,
        virtual_size=converted.get("virtual-size"),
        size=source.stat().st_size,
    )


def _qemu_img(job: PluginJob, *args: str) -> str:
    """Run qemu-img (``info`` within address-space and CPU limits, through util-linux's
    prlimit, as Glance limits it); its output, or ImportFailed saying what went wrong."""
    program = job.settings.qemu_img
    command = [program, *args]
    limiter = shutil.which("prlimit")
    if args[0] == "info" and limiter is not None:
        command = [limiter, f"--as={QEMU_ADDRESS_SPACE}", f"--cpu={QEMU_CPU_SECONDS}", *command]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=False)
    except FileNotFoundError:
        raise ImportFailed(f"image_conversion needs {program}, which is not installed") from None
    except subprocess.TimeoutExpired:
        raise ImportFailed(f"qemu-img {args[0]} took too long") from None
    if done.returncode != 0 or (args[0] == "info" and done.stderr.strip()):
        raise ImportFailed(f"qemu-img {args[0]} failed: {done.stderr.strip()[:500]}")
    return done.stdout
