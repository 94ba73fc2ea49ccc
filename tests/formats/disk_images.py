"""Disk images built byte by byte from the formats' specifications, for inspection tests.

Each builder returns a whole file as the format lays it out: a qcow2 with its header,
refcount structures and L1 table, a sparse or stream-optimized VMDK with its embedded
descriptor, an ISO 9660 volume, VHD, VHDX and VDI headers, MBR/GPT partition tables.
The unsafe variants differ from the safe ones by exactly the field under test.
"""

from __future__ import annotations

import struct
import uuid

KIB = 1 << 10
MIB = 1 << 20
SECTOR = 512

QCOW2_MAGIC = b"QFI\xfb"
#: qcow2 incompatible feature bit 2: the guest data lives in an external file.
QCOW2_EXTERNAL_DATA = 1 << 2
#: Header extension type of the external data file's name ("DATA" in ASCII).
QCOW2_EXT_DATA_FILE = 0x44415441


def qcow2(
    virtual_size: int = 1 * MIB * 1024,
    *,
    version: int = 3,
    backing_file: str | None = None,
    data_file: str | None = None,
    incompatible: int = 0,
) -> bytes:
    """An empty qcow2 image of ``virtual_size`` with 64 KiB clusters, as qemu-img lays
    one out: header cluster, refcount table, one refcount block, the L1 table.

    ``backing_file`` names a backing file in the header cluster; ``data_file`` sets the
    external-data-file feature bit and adds the header extension that names the file.
    """
    cluster_bits = 16
    cluster = 1 << cluster_bits
    l2_entries = cluster // 8
    l1_size = max(1, -(-virtual_size // (cluster * l2_entries)))
    refcount_table, refcount_block, l1_table = cluster, 2 * cluster, 3 * cluster
    features = incompatible | (QCOW2_EXTERNAL_DATA if data_file else 0)
    header_length = 104 if version >= 3 else 72
    extensions = b""
    if data_file is not None and version >= 3:
        name = data_file.encode()
        extensions += struct.pack(">II", QCOW2_EXT_DATA_FILE, len(name)) + _pad8(name)
    extensions += struct.pack(">II", 0, 0)  # end of the header extensions
    backing = backing_file.encode() if backing_file else b""
    backing_offset = header_length + len(extensions) if backing else 0
    header = struct.pack(
        ">4sIQIIQIIQQIIQ",
        QCOW2_MAGIC,
        version,
        backing_offset,
        len(backing),
        cluster_bits,
        virtual_size,
        0,  # no encryption
        l1_size,
        l1_table,
        refcount_table,
        1,  # refcount table clusters
        0,  # snapshots
        0,
    )
    if version >= 3:
        header += struct.pack(">QQQII", features, 0, 0, 4, header_length)
    first = (header + extensions + backing).ljust(cluster, b"\0")
    table = struct.pack(">Q", refcount_block).ljust(cluster, b"\0")
    # 16-bit refcounts (refcount_order 4): the four clusters in use are referenced once.
    block = struct.pack(">4H", 1, 1, 1, 1).ljust(cluster, b"\0")
    l1 = bytes(cluster)
    return first + table + block + l1


def _pad8(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 8)


def vmdk_descriptor(create_type: str, extents: list[str]) -> str:
    """A VMDK text descriptor of ``create_type`` listing ``extents`` lines."""
    lines = [
        "# Disk DescriptorFile",
        "version=1",
        "CID=7e4c2a1f",
        "parentCID=ffffffff",
        f'createType="{create_type}"',
        "",
        "# Extent description",
        *extents,
        "",
        "# The Disk Data Base",
        'ddb.virtualHWVersion = "4"',
        'ddb.adapterType = "ide"',
        "",
    ]
    return "\n".join(lines)


VMDK_GD_AT_END = 0xFFFFFFFFFFFFFFFF


def vmdk_sparse(
    virtual_size: int = 64 * MIB,
    *,
    create_type: str = "monolithicSparse",
    extents: list[str] | None = None,
    stream_optimized_footer: bool = False,
    grains: int = 0,
) -> bytes:
    """A hosted sparse extent: the KDMV header, the descriptor at sector 1, then an empty
    grain directory; with ``stream_optimized_footer`` the grain directory offset says
    "at the end", ``grains`` 64 KiB grains of zeros follow, and the file ends with a
    footer marker, the footer and the end-of-stream marker.
    """
    sectors = virtual_size // SECTOR
    extents = extents or [f'RW {sectors} SPARSE "disk.vmdk"']
    descriptor = vmdk_descriptor(create_type, extents).encode().ljust(20 * SECTOR, b"\0")
    desc_sectors = len(descriptor) // SECTOR
    gd_offset = 1 + desc_sectors + 1

    def header(gd: int) -> bytes:
        return struct.pack(
            "<4sIIQQQQIQQQB4sH",
            b"KDMV",
            3 if stream_optimized_footer else 1,
            0x3 | (0x30000 if stream_optimized_footer else 0),
            sectors,
            128,  # grain of 64 KiB
            1,
            desc_sectors,
            512,  # grain table entries per grain table
            0,
            gd,
            128,  # overhead sectors
            0,
            b"\n \r\n",
            1 if stream_optimized_footer else 0,  # deflate-compressed grains
        ).ljust(SECTOR, b"\0")

    if not stream_optimized_footer:
        return header(gd_offset) + descriptor + bytes(2 * SECTOR)
    body = header(VMDK_GD_AT_END) + descriptor + bytes(4 * SECTOR) + bytes(grains * 64 * KIB)
    marker_footer = struct.pack("<QII", 1, 0, 3).ljust(SECTOR, b"\0")
    end_of_stream = bytes(SECTOR)
    return body + marker_footer + header(gd_offset) + end_of_stream


def iso9660(blocks: int = 40, *, block_size: int = 2048, hybrid_mbr: bool = False) -> bytes:
    """An ISO 9660 volume of ``blocks`` logical blocks: system area, then the primary
    volume descriptor at 32 KiB and the terminator; ``hybrid_mbr`` puts a protective
    MBR in the system area as bootable USB/ISO hybrids do."""
    pvd = bytearray(2048)
    pvd[0] = 1
    pvd[1:6] = b"CD001"
    pvd[6] = 1
    pvd[40:72] = b"GLIMPSE".ljust(32)
    pvd[80:88] = struct.pack("<I", blocks) + struct.pack(">I", blocks)
    pvd[128:132] = struct.pack("<H", block_size) + struct.pack(">H", block_size)
    terminator = bytearray(2048)
    terminator[0] = 255
    terminator[1:6] = b"CD001"
    terminator[6] = 1
    system_area = bytearray(32 * KIB)
    if hybrid_mbr:
        system_area[:SECTOR] = mbr([(0x00, 0xEE, 1, blocks * block_size // SECTOR - 1)])
    data = bytes(system_area) + bytes(pvd) + bytes(terminator)
    return data.ljust(blocks * block_size, b"\0")


def mbr(partitions: list[tuple[int, int, int, int]], *, fat: bool = False) -> bytes:
    """A 512-byte MBR with up to four (boot flag, type, first LBA, sectors) entries."""
    sector = bytearray(SECTOR)
    for number, (boot, kind, first, count) in enumerate(partitions):
        start_chs = (0x00, 0x02, 0x00) if first == 1 else (0xFE, 0xFF, 0xFF)
        entry = struct.pack("<B3BB3BII", boot, *start_chs, kind, 0xFE, 0xFF, 0xFF, first, count)
        sector[446 + 16 * number : 462 + 16 * number] = entry
    if fat:
        sector[0x10] = 2
        sector[0x15] = 0xF8
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def gpt_disk(size: int = 4 * MIB) -> bytes:
    """A disk with a protective MBR and a GPT header at LBA 1."""
    sectors = size // SECTOR
    header = b"EFI PART" + struct.pack("<II", 0x10000, 92)
    return (mbr([(0x00, 0xEE, 1, sectors - 1)]) + header.ljust(SECTOR, b"\0")).ljust(size, b"\0")


def vhd(virtual_size: int = 32 * MIB) -> bytes:
    """A dynamic VHD's leading footer copy ("conectix", original and current size) and
    its dynamic disk header."""
    footer = struct.pack(
        ">8sIIQI4sI4sQQ",
        b"conectix",
        2,
        0x00010000,
        SECTOR,  # the dynamic header follows
        0,
        b"glim",
        0x00010000,
        b"Wi2k",
        virtual_size,
        virtual_size,
    ).ljust(SECTOR, b"\0")
    dynamic = b"cxsparse".ljust(1024, b"\0")
    return footer + dynamic + footer


VHDX_METADATA_REGION = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E")
VHDX_VIRTUAL_DISK_SIZE = uuid.UUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8")


def vhdx(virtual_size: int = 128 * MIB, *, metadata_at: int = 2 * MIB) -> bytes:
    """A VHDX file: identifier, region table at 192 KiB naming the metadata region at
    ``metadata_at``, and a metadata table whose virtual-disk-size item is 64 KiB in."""
    ident = b"vhdxfile".ljust(64 * KIB, b"\0")
    entry = VHDX_METADATA_REGION.bytes_le + struct.pack("<QII", metadata_at, MIB, 1)
    regions = (b"regi" + struct.pack("<III", 0, 1, 0) + entry).ljust(64 * KIB, b"\0")
    item = VHDX_VIRTUAL_DISK_SIZE.bytes_le + struct.pack("<IIII", 64 * KIB, 8, 0x2, 0)
    table = (b"metadata" + struct.pack("<HH", 0, 1)).ljust(32, b"\0") + item
    metadata = table.ljust(64 * KIB, b"\0") + struct.pack("<Q", virtual_size)
    head = ident + bytes(128 * KIB) + regions
    return head.ljust(metadata_at, b"\0") + metadata.ljust(MIB, b"\0")


def vdi(virtual_size: int = 16 * MIB) -> bytes:
    """A VirtualBox VDI header (signature at 0x40, disk size at 0x170)."""
    header = bytearray(SECTOR)
    header[:40] = b"<<< Oracle VM VirtualBox Disk Image >>>\n".ljust(40, b"\0")[:40]
    header[0x40:0x44] = struct.pack("<I", 0xBEDA107F)
    header[0x44:0x48] = struct.pack("<I", 0x00010001)
    header[0x170:0x178] = struct.pack("<Q", virtual_size)
    return bytes(header).ljust(2 * SECTOR, b"\0")


def qed(virtual_size: int = 16 * MIB) -> bytes:
    """A QED header: a format qemu still reads and nobody should upload."""
    return (
        b"QED\0" + struct.pack("<III", 64 * KIB, 16, 1) + struct.pack("<Q", virtual_size)
    ).ljust(4 * KIB, b"\0")


def luks(version: int = 1) -> bytes:
    """A LUKS header of ``version`` with no key slot enabled, then payload sectors."""
    header = bytearray(4096)
    header[0:6] = b"LUKS\xba\xbe"
    header[6:8] = struct.pack(">H", version)
    header[8:40] = b"aes".ljust(32, b"\0")
    header[40:72] = b"xts-plain64".ljust(32, b"\0")
    header[72:104] = b"sha256".ljust(32, b"\0")
    header[104:108] = struct.pack(">I", 8)  # payload at sector 8
    header[108:112] = struct.pack(">I", 64)
    return bytes(header) + bytes(4 * SECTOR)


def text_then_binary() -> bytes:
    """A first sector of printable text, then bytes that are not ASCII."""
    return (b"boot sector notes\n" * 40)[:SECTOR] + bytes(range(128, 256)) * 64


def samples() -> dict[str, bytes]:
    """Every crafted image by name, safe and unsafe, each small."""
    passwd_extent = 'RW 2048 SPARSE "/etc/passwd"'
    long_stream = vmdk_sparse(create_type="streamOptimized", stream_optimized_footer=True, grains=5)
    return {
        "qcow2": qcow2(),
        "qcow2-v2": qcow2(version=2),
        "qcow2-backing": qcow2(backing_file="/etc/passwd"),
        "qcow2-v2-backing": qcow2(version=2, backing_file="base.qcow2"),
        "qcow2-data-file": qcow2(data_file="/dev/sda"),
        "qcow2-unknown-feature": qcow2(incompatible=1 << 20),
        "qcow2-v1": qcow2(version=1),
        "vmdk": vmdk_sparse(),
        "vmdk-stream": vmdk_sparse(create_type="streamOptimized", stream_optimized_footer=True),
        "vmdk-stream-long": long_stream,
        "vmdk-stream-bad-end": long_stream[:-SECTOR] + b"\x01" + bytes(SECTOR - 1),
        "vmdk-flat-outside": vmdk_sparse(extents=['RW 2048 FLAT "/etc/shadow" 0']),
        "vmdk-text-flat": vmdk_descriptor(
            "monolithicFlat", ['RW 2048 FLAT "/etc/passwd" 0']
        ).encode(),
        "vmdk-text-sparse": vmdk_descriptor("monolithicSparse", [passwd_extent]).encode(),
        "iso": iso9660(),
        "iso-hybrid": iso9660(hybrid_mbr=True),
        "gpt": gpt_disk(MIB),
        "mbr-bad-boot-flag": mbr([(0x12, 0x83, 2048, 1000)]).ljust(MIB, b"\0"),
        "fat": mbr([(0x12, 0x83, 2048, 1000)], fat=True).ljust(MIB, b"\0"),
        "qcow2-with-mbr": qcow2()[:510] + b"\x55\xaa" + qcow2()[512:],
        "vhd": vhd(),
        "vhdx": vhdx(metadata_at=MIB),
        "vdi": vdi(),
        "qed": qed(),
        "luks": luks(),
        "luks2": luks(2),
        "raw": bytes(range(256)) * 4096,
        "text-then-binary": text_then_binary(),
        "short-qcow2": qcow2()[:100],
        "short-vmdk": vmdk_sparse()[:700],
        "empty": b"",
    }
