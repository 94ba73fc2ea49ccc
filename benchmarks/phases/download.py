"""Phase download: 1 GiB GET to /dev/null against nginx sendfile, for each service.

Each server gets one upload (untimed), whose bytes are checked once by streaming
the download through md5, and then the timed curl downloads. Before each timed
run the file served (nginx's, and the image's file in each service's store) is
read into the page cache, so every run serves from memory.
"""

from __future__ import annotations

import hashlib
import http.client

from common import GIB, MB, MIB, BenchError
from metering import Sample
from phases.context import Context, sample
from phases.images import check_image, ensure_data, new_image, upload, warm
from servers import Nginx, Server
from tools import curl


def run(context: Context) -> None:
    context.digests = ensure_data(context.config.data_file)
    context.with_nginx("download", lambda server: nginx_get(context, server))
    context.for_each_service("download", lambda service: download_service(context, service))


def nginx_get(context: Context, server: Nginx) -> None:
    """nginx on loopback serving the same file (a hard link) with sendfile."""

    def get(_: int) -> Sample:
        url = f"{server.url}/f/{context.config.data_file.name}"
        warm(context.config.data_file)
        result, timing = context.meter.measure(lambda: curl(url), server.pids)
        if result["code"] != 200 or result["down"] != GIB:
            raise BenchError(f"nginx GET answered {result['code']}")
        values = {"MB_s": round(GIB / result["seconds"] / MB, 1)}
        return sample("download", "limit", "nginx_get", values, timing)

    context.repeat(get)


def download_service(context: Context, service: str) -> None:
    with context.server(service, "download") as server:
        image_id = new_image(server, "download")
        if upload(server, image_id, context.config.data_file, chunked=False)["code"] != 204:
            raise BenchError(f"{service} upload failed")
        check_image(server, image_id, context.digests)
        check_download(server, image_id, context.digests["md5"])

        served = server.image_file(image_id)
        if served is None or not served.exists():
            raise BenchError(f"{service} keeps image {image_id} where the benchmark cannot see")

        def once(_: int) -> Sample:
            url = f"{server.url}/v2/images/{image_id}/file"
            warm(served)
            result, timing = context.meter.measure(lambda: curl(url), server.pids)
            if result["code"] != 200 or result["down"] != GIB:
                raise BenchError(f"{service} download: {result}")
            values = {
                "MB_s": round(GIB / result["seconds"] / MB, 1),
                "server_cpu_s": timing.server_cpu,
            }
            return sample("download", service, "download", values, timing)

        context.repeat(once)


def check_download(server: Server, image_id: str, md5: str) -> None:
    """Once per server, untimed: the bytes served are the bytes uploaded."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=300)
    digest = hashlib.md5(usedforsecurity=False)
    try:
        conn.request("GET", f"/v2/images/{image_id}/file")
        response = conn.getresponse()
        while chunk := response.read(MIB):
            digest.update(chunk)
    finally:
        conn.close()
    if response.status != 200 or digest.hexdigest() != md5:
        raise BenchError(f"{server.name} served other bytes (status {response.status})")
