"""What inspected image data Glimpse takes, and its virtual size: Glance 33's rules.

Only the data of ``bare`` images is inspected (a container format wraps a disk
image in something else: a tarball, an OVF package). Then, as Glance 33:

- Data matching several formats is refused, except an ISO with a GPT/MBR in
  front (a hybrid, bootable as a disk), which is an ISO.
- Data in its ``disk_format`` gets the virtual size the format's header states.
- Data of no known format is taken for ``ami``, ``ari``, ``aki`` and ``ploop``,
  formats no inspector knows, without a virtual size.
- ``raw`` takes data of any format, as a disk read byte for byte: its virtual
  size is the data's size.
- Any other mismatch is refused while ``require_image_format_match`` is on.
- Whatever was detected must pass its format's safety checks (a qcow2 backing
  file or external data file, VMDK extents naming other files, banned formats),
  and a VMDK must be of an allowed create-type; a GPT/MBR check named in
  ``gpt_safety_checks_nonfatal`` (and the MBR check for kernels and ramdisks)
  only warns.

Glimpse is stricter than Glance 33 where Glance lets unchecked data through:
with ``require_image_format_match`` off, a mismatched format's safety checks
still run (Glance skips them), and data that cannot be checked because it ends
inside a header it needs, or on which an inspector fails, is always refused.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from oslo_utils.imageutils import format_inspector as oslo

from glimpse.errors import InvalidImageData
from glimpse.settings import ImageSettings

log = logging.getLogger(__name__)

#: The one container format whose data is a disk image as it stands.
BARE = "bare"
#: An ISO whose system area holds a partition table: taken as the ISO it is.
ISO_HYBRID = frozenset({"iso", "gpt"})
#: Kernels and ramdisks may carry an invalid MBR on purpose: its check only warns.
MBR_TOLERANT = frozenset({"aki", "ari"})
#: Formats whose header states the virtual size; for the others it is the data's size.
HEADER_SIZED = frozenset({"qcow2", "vhd", "vhdx", "vmdk", "vdi", "iso"})
INSPECTION_FAILED = "Image format inspection failed"


def inspects(disk_format: str | None, container_format: str | None) -> bool:
    """Whether data of an image with these formats is inspected at all."""
    return disk_format is not None and container_format == BARE


@dataclass(frozen=True)
class Found:
    """What inspection found: the data's format (None: not inspected, or several formats
    let through) and the virtual size to record (None: unknown)."""

    format: str | None
    virtual_size: int | None


@dataclass(frozen=True)
class Verdict:
    """Data judged acceptable; its virtual size is known once the data's size is."""

    format: str | None
    #: The virtual size the format's header states, when that is the one recorded.
    stated_size: int | None = None
    #: The virtual size is the data's own size (raw data, or any data declared raw).
    counted: bool = False

    def found(self, size: int) -> Found:
        """What was found, for data of ``size`` bytes; a virtual size of 0 is unknown."""
        virtual = size if self.counted else self.stated_size
        return Found(self.format, virtual or None)


def judge(
    matches: Sequence[oslo.FileInspector], disk_format: str, settings: ImageSettings
) -> Verdict:
    """The verdict on data whose inspectors ``matches`` (raw aside) recognized it,
    declared as ``disk_format``.

    Raises:
        InvalidImageData: the data is refused; the message says why, in Glance's words
            where Glance has them.
    """
    by_name = {str(inspector): inspector for inspector in matches}
    require = settings.require_image_format_match
    if len(by_name) > 1 and by_name.keys() != ISO_HYBRID:
        if require:
            raise InvalidImageData("Multiple formats detected: " + ",".join(sorted(by_name)))
        for inspector in matches:
            _check_safety(inspector, disk_format, settings)
        return Verdict(None)
    chosen = by_name["iso"] if by_name.keys() == ISO_HYBRID else next(iter(matches), None)
    detected = "raw" if chosen is None else str(chosen)
    if detected == disk_format:
        verdict = Verdict(detected, counted=detected not in HEADER_SIZED)
    elif detected == "raw" and disk_format not in oslo.ALL_FORMATS:
        verdict = Verdict(detected)
    elif disk_format == "raw":
        verdict = Verdict(detected, counted=True)
    elif require:
        raise InvalidImageData(
            f"Image disk_format {disk_format} does not match stream data {detected}"
        )
    else:
        log.warning("image data is %s, not its disk_format %s: let through", detected, disk_format)
        verdict = Verdict(detected)
    if chosen is not None:
        _check_safety(chosen, disk_format, settings)
        if detected == disk_format and not verdict.counted:
            return Verdict(detected, stated_size=_stated_size(chosen))
    return verdict


def _check_safety(inspector: oslo.FileInspector, disk_format: str, settings: ImageSettings) -> None:
    name = str(inspector)
    try:
        inspector.safety_check()
    except oslo.SafetyCheckFailed as failed:
        fatal = set(failed.failures) - set(settings.gpt_safety_checks_nonfatal)
        if disk_format in MBR_TOLERANT:
            fatal.discard("mbr")
        reasons = "; ".join(str(reason) for reason in failed.failures.values())
        if name != "gpt" or fatal:
            raise InvalidImageData(f"Image failed safety checks: {name} ({reasons})") from None
        log.warning("image data seen as %s failed non-fatal safety checks: %s", name, reasons)
    except oslo.ImageFormatError as exc:
        # The data ends inside a region the format needs: it cannot be shown safe.
        raise InvalidImageData(str(exc)) from None
    except Exception as exc:
        log.warning("%s inspector failed its safety check: %r", name, exc)
        raise InvalidImageData(INSPECTION_FAILED) from None
    if name == "vmdk":
        _check_vmdk_type(inspector, settings)


def _check_vmdk_type(inspector: oslo.FileInspector, settings: ImageSettings) -> None:
    # The inspector keeps the descriptor's createType lowercased.
    create_type = getattr(inspector, "vmdktype", None)
    allowed = {allowed.lower() for allowed in settings.vmdk_allowed_types}
    if create_type not in allowed:
        raise InvalidImageData(
            f"Image failed safety checks: vmdk (create-type {create_type} is not allowed)"
        )


def _stated_size(inspector: oslo.FileInspector) -> int:
    try:
        return inspector.virtual_size
    except Exception as exc:
        log.warning("%s inspector failed to read the virtual size: %r", inspector, exc)
        raise InvalidImageData(INSPECTION_FAILED) from None
