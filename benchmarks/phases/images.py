"""Images and data shared by phases: the 1 GiB file, creating, uploading, checking.

None of this is timed; phases time only the request they measure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from common import CLIENT, GIB, MIB, BenchError
from servers import Server
from tools import api, client, curl


def ensure_data(path: Path) -> dict[str, str]:
    """The 1 GiB random file (made once) in the page cache; returns its md5 and sha512."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.stat().st_size != GIB:
        print(f"writing {GIB} random bytes to {path}", flush=True)
        partial = path.with_suffix(".partial")
        with open(partial, "wb") as out:
            for _ in range(GIB // MIB):
                out.write(os.urandom(MIB))
        partial.replace(path)
    sidecar = path.with_suffix(".digests.json")
    stamp = [path.stat().st_size, path.stat().st_mtime_ns]
    known = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    if known.get("stamp") != stamp:
        hashes = client("hash", str(path), "md5+sha512")["hex"]
        known = {"stamp": stamp, **hashes}
        sidecar.write_text(json.dumps(known))
    warm(path)
    return {"md5": known["md5"], "sha512": known["sha512"]}


def warm(path: Path) -> None:
    """Read the file into the page cache. Before each timed transfer too: the project
    machine's kernel pages out memory left unused for a while (DAMON), the cache too."""
    with open(path, "rb", buffering=0) as source:
        while source.read(4 * MIB):
            pass


def new_image(server: Server, name: str) -> str:
    body = {"name": name, "disk_format": "raw", "container_format": "bare"}
    return str(api(server.url, "POST", "/v2/images", body)["id"])


def upload(server: Server, image_id: str, data_file: Path, chunked: bool) -> dict[str, float]:
    """PUT the data file as the image's data with curl (what curl measured)."""
    extra = ["-H", "Transfer-Encoding: chunked"] if chunked else []
    return curl(
        "-X",
        "PUT",
        "-H",
        "Expect:",
        "-H",
        "Content-Type: application/octet-stream",
        *extra,
        "-T",
        str(data_file),
        f"{server.url}/v2/images/{image_id}/file",
    )


def check_image(server: Server, image_id: str, digests: dict[str, str]) -> None:
    """After an upload: active, 1 GiB, and the data file's md5 and sha512."""
    image = api(server.url, "GET", f"/v2/images/{image_id}")
    problems = []
    if image.get("status") != "active":
        problems.append(f"status {image.get('status')}")
    if image.get("size") != GIB:
        problems.append(f"size {image.get('size')}")
    if image.get("checksum") != digests["md5"]:
        problems.append("checksum is not the file's md5")
    if image.get("os_hash_value") not in (None, digests["sha512"]):
        problems.append("os_hash_value is not the file's sha512")
    if problems:
        raise BenchError(f"{server.name} image {image_id} after upload: {', '.join(problems)}")


def populate(server: Server, count: int, work: Path) -> list[str]:
    """Create ``count`` images (untimed), with two client processes in parallel."""
    halves = [count // 2, count - count // 2]
    files = [work / f"ids-{index}.txt" for index in range(2)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(CLIENT),
                "create",
                server.url,
                str(n),
                "--keep-alive",
                "--ids",
                str(path),
                "--prefix",
                f"fill-{index}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for index, (n, path) in enumerate(zip(halves, files, strict=True))
    ]
    try:
        failures = [proc.communicate()[1].decode() for proc in procs if proc.wait() != 0]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if failures:
        raise BenchError(f"creating {count} images failed: {failures[0][-500:]}")
    ids = [line for path in files for line in path.read_text().split()]
    if len(ids) != count:
        raise BenchError(f"created {len(ids)} images, wanted {count}")
    return ids
