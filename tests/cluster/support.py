"""Helpers of the cluster tests: store settings as ``GLIMPSE_*`` variables, what an object
store holds of an image, callers, and the JSON error body.

`store_env` spells a ``[stores.<name>]`` table as environment variables, which every node
and every `glimpse` command of a test is given. `Placement` tells what the test Swift holds
of an image: its published object, and the segments or multipart parts an interrupted
upload leaves.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import swiftclient.exceptions

from swift.harness import Swift

MiB = 1 << 20


def toml_value(value: object) -> str:
    """``value`` as the TOML literal a ``GLIMPSE_*`` variable carries (strings quoted, so
    that ``"1"`` stays a string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return json.dumps([str(v) for v in value])  # a JSON array of strings is TOML too
    return json.dumps(str(value))


def store_env(name: str, options: Mapping[str, object], *, default: bool = False) -> dict[str, str]:
    """The table ``[stores.<name>]`` as environment variables (``default``: it takes uploads)."""
    env = {
        f"GLIMPSE_STORES__{name.upper()}__{k.upper()}": toml_value(v) for k, v in options.items()
    }
    if default:
        env["GLIMPSE_STORES__DEFAULT"] = toml_value(name)
    return env


def swift_options(swift: Swift, container: str, **overrides: object) -> dict[str, object]:
    """A swift store over the test Swift with tempauth: small segments, few retries."""
    return {
        "driver": "swift",
        "auth_version": "1",
        "auth_url": swift.auth_url,
        "user": swift.user,
        "key": swift.key,
        "container": container,
        "large_object_size": MiB,  # anything larger is a Static Large Object
        "segment_size": MiB,
        "retries": 0,
        "connect_timeout": 2.0,
        "read_timeout": 10.0,
        **overrides,
    }


def s3_options(swift: Swift, bucket: str, **overrides: object) -> dict[str, object]:
    """An s3 store over the test Swift's S3 API: the smallest parts S3 allows."""
    return {
        "driver": "s3",
        "endpoint_url": swift.s3_endpoint,
        "region": swift.s3_region,
        "bucket": bucket,
        "access_key": swift.access_key,
        "secret_key": swift.secret_key,
        "create_bucket": True,
        "addressing": "path",
        "part_size": 5 * MiB,
        "retries": 0,
        "connect_timeout": 2.0,
        "read_timeout": 10.0,
        **overrides,
    }


@dataclass(frozen=True)
class Placement:
    """Where one store keeps its objects in the test Swift: a container or a bucket."""

    swift: Swift
    driver: str  # swift or s3
    place: str  # the container or the bucket

    @property
    def side(self) -> str:
        """The container of segments (Swift's SLOs) or of parts (s3api's multipart uploads)."""
        return f"{self.place}_segments" if self.driver == "swift" else f"{self.place}+segments"

    def published(self, image_id: str) -> bool:
        """Whether the image's object is in the store."""
        return image_id in self.swift.objects(self.place)

    def segments(self, image_id: str) -> list[str]:
        """The segments (Swift) or stored parts (S3) of the image's uploads, finished or not.

        Swift names segments ``<key>/<upload>/<n>``; s3api names parts so too, beside a
        marker ``<key>/<upload-id>`` for each unfinished upload (see `uploads`).
        """
        names = self.swift.objects(self.side)
        return [n for n in names if n.startswith(f"{image_id}/") and n.count("/") >= 2]

    def uploads(self, image_id: str) -> list[str]:
        """The image's unfinished S3 multipart uploads (none for Swift)."""
        if self.driver != "s3":
            return []
        listed = self.swift.s3().list_multipart_uploads(Bucket=self.place, Prefix=image_id)
        return [f"{u['Key']} {u['UploadId']}" for u in listed.get("Uploads", ())]

    def leftovers(self, image_id: str) -> list[str]:
        """What uploads of the image left beside its published object: segments or parts
        no manifest uses, and unfinished multipart uploads."""
        used = set(self.referenced_segments(image_id))
        found = [f"segment {n}" for n in self.segments(image_id) if n not in used]
        return found + [f"upload {u}" for u in self.uploads(image_id)]

    def referenced_segments(self, image_id: str) -> list[str]:
        """The segments of the image's published object when it is a Static Large Object
        (as Swift stores big images, and s3api a completed multipart upload)."""
        with contextlib.closing(self.swift.connection()) as connection:
            try:
                headers = connection.head_object(self.place, image_id)
            except swiftclient.exceptions.ClientException:
                return []
            if headers.get("x-static-large-object", "").lower() != "true":
                return []
            _, body = connection.get_object(
                self.place, image_id, query_string="multipart-manifest=get"
            )
        # Each segment is named "/<container>/<name>" in the manifest.
        return sorted(s["name"].split("/", 2)[2] for s in json.loads(body))

    def remove(self) -> None:
        """Empty and remove the container or bucket and its side container (best effort)."""
        self.swift.remove_containers(self.place, self.side)


def unique(prefix: str) -> str:
    """A container or bucket name of this test's own (lower case, S3-compatible)."""
    return f"{prefix}-{secrets.token_hex(4)}"


def put_file(
    client: httpx.Client, image_id: str, body: bytes | Iterator[bytes], **headers: str
) -> httpx.Response:
    """PUT image data: ``body`` as bytes (with a Content-Length) or chunks (chunked)."""
    return client.put(
        f"/v2/images/{image_id}/file",
        content=body,
        headers={"Content-Type": "application/octet-stream", **headers},
    )


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON error body ``{"error": {"code", "title", "message"}}``, checked."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "title", "message"}, error
    assert error["code"] == response.status_code
    assert "Traceback" not in error["message"]
    return error
