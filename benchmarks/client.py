#!/usr/bin/env python3
"""Timed client loops that run.py starts as child processes (standard library only).

Each subcommand prints one JSON object on stdout. Running them in their own
process keeps their CPU out of the driver and lets the driver account for it
(getrusage of children) separately from the server's.

    client.py hash FILE ALGO[+ALGO...]          single-thread hashlib rate, 64 KiB reads
    client.py create URL COUNT [--keep-alive] [--ids FILE] [--prefix P]
                                                sequential POST /v2/images
    client.py pipeline FILE DIR [--algo A]      Glimpse's upload pipeline without HTTP:
                                                digest.DigestingStream into FileStore.put
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

CHUNK = 64 * 1024  # glance_store's filesystem chunk size
SRC = Path(__file__).resolve().parent.parent / "src"
#: What the pipeline is fed: the blocks api/streaming.py hands the service (BLOCK_SIZE),
#: cut from this much of the data file held in memory, over and over up to 1 GiB.
PIPELINE_BLOCK = 256 * 1024
PIPELINE_HELD = 256 << 20


def hash_rate(path: Path, spec: str) -> dict[str, object]:
    """Hash the file with every algorithm in ``spec`` (e.g. md5+sha512) in one thread."""
    digests = [hashlib.new(name) for name in spec.split("+")]
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    size = 0
    started = time.perf_counter()
    with open(path, "rb", buffering=0) as source:
        while count := source.readinto(buffer):
            size += count
            for digest in digests:
                digest.update(view[:count])
    seconds = time.perf_counter() - started
    return {
        "algorithms": spec,
        "bytes": size,
        "seconds": round(seconds, 4),
        "MB_s": round(size / seconds / 1e6, 1),
        "hex": {digest.name: digest.hexdigest() for digest in digests},
    }


class Client:
    """HTTP/1.1 client that either reuses one connection or opens one per request."""

    def __init__(self, url: str, keep_alive: bool) -> None:
        parts = urlsplit(url)
        if parts.hostname is None or parts.port is None:
            raise SystemExit(f"URL needs a host and a port: {url}")
        self.host, self.port = parts.hostname, parts.port
        self.keep_alive = keep_alive
        self.conn: http.client.HTTPConnection | None = None
        self.connections = 0

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
            self.connections += 1
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.conn.request(method, path, body, headers)
        response = self.conn.getresponse()
        data = response.read()
        # A server may close every connection (Glance's uWSGI sends Connection: close);
        # http.client then reconnects, which is counted here.
        if not self.keep_alive or response.will_close:
            self.conn.close()
            self.conn = None
        return response.status, data

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def create(url: str, count: int, keep_alive: bool, ids_file: Path | None, prefix: str) -> dict:
    client = Client(url, keep_alive)
    ids: list[str] = []
    started = time.perf_counter()
    for number in range(count):
        body = json.dumps(
            {"name": f"{prefix}-{number}", "disk_format": "raw", "container_format": "bare"}
        ).encode()
        status, data = client.request("POST", "/v2/images", body)
        if status != 201:
            raise SystemExit(f"POST /v2/images answered {status}: {data[:300]!r}")
        ids.append(json.loads(data)["id"])
    seconds = time.perf_counter() - started
    client.close()
    if ids_file is not None:
        ids_file.write_text("\n".join(ids) + "\n")
    return {
        "count": count,
        "seconds": round(seconds, 4),
        "per_s": round(count / seconds, 2),
        "connections": client.connections,
        "keep_alive": keep_alive,
    }


def pipeline(path: Path, directory: Path, algo: str) -> dict[str, object]:
    """1 GiB through Glimpse's own hash-and-write pipeline, fed from memory.

    The same objects an upload uses once its bytes have arrived: a DigestingStream
    (count, cap, md5 and ``algo`` in threads) consumed by the file store's ``put``
    (write, background fdatasync, rename), with no HTTP, event loop or registry.
    The feed is ``PIPELINE_HELD`` bytes of the data file read beforehand (more than
    the CPU caches hold) cut into ``PIPELINE_BLOCK`` views without copying.
    """
    sys.path.insert(0, str(SRC))  # glimpse.digest and glimpse.store.file: standard library only
    from glimpse.digest import DigestingStream
    from glimpse.store.base import StoreContext
    from glimpse.store.file import FileStore

    size = 1 << 30
    with open(path, "rb") as source:
        held = memoryview(source.read(PIPELINE_HELD))
    store = FileStore(FileStore.Options(str(directory)), StoreContext(directory, algo, "bench"))

    def blocks() -> Iterator[memoryview]:
        for offset in range(0, size, PIPELINE_BLOCK):
            start = offset % len(held)
            yield held[start : start + PIPELINE_BLOCK]

    cpu = time.process_time()
    started = time.perf_counter()
    stream = DigestingStream(blocks(), algo=algo, size_cap=size, expected_size=size)  # type: ignore[arg-type]
    url = store.put("pipeline", stream, size=size)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    store.delete(url)
    if stream.digest is None or stream.digest.size != size:
        raise SystemExit(f"the pipeline did not take all {size} bytes")
    return {
        "bytes": size,
        "seconds": round(seconds, 4),
        "MB_s": round(size / seconds / 1e6, 1),
        "cpu_s": round(cpu, 3),
        "block": PIPELINE_BLOCK,
        "algo": algo,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    hashing = commands.add_parser("hash", help="single-thread hashing rate of a file")
    hashing.add_argument("file", type=Path)
    hashing.add_argument("algorithms", help="e.g. sha512, md5, md5+sha512")
    creating = commands.add_parser("create", help="sequential POST /v2/images")
    creating.add_argument("url")
    creating.add_argument("count", type=int)
    creating.add_argument("--keep-alive", action="store_true", help="reuse one connection")
    creating.add_argument("--ids", type=Path, help="write the new image ids here")
    creating.add_argument("--prefix", default=f"bench-{os.getpid()}")
    piping = commands.add_parser("pipeline", help="DigestingStream + FileStore.put from memory")
    piping.add_argument("file", type=Path, help="data to feed (the first 256 MiB are held)")
    piping.add_argument("directory", type=Path, help="the file store's directory")
    piping.add_argument("--algo", default="sha512", help="the multihash (images.hash_algo)")
    args = parser.parse_args()
    if args.command == "hash":
        result = hash_rate(args.file, args.algorithms)
    elif args.command == "pipeline":
        result = pipeline(args.file, args.directory, args.algo)
    else:
        result = create(args.url, args.count, args.keep_alive, args.ids, args.prefix)
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
