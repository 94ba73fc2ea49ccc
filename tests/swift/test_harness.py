"""The Swift harness gives what the Swift and S3 store drivers rely on."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import httpx
import psutil
import pytest
import swiftclient.exceptions

from swift.harness import Swift, run_swift

PART = 5 * 1024 * 1024  # s3api's smallest part but the last


def _name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def _zombies() -> list[psutil.Process]:
    return [child for child in psutil.Process().children() if child.status() == "zombie"]


def test_tempauth_gives_the_account_url(swift: Swift) -> None:
    response = httpx.get(
        swift.auth_url, headers={"X-Auth-User": swift.user, "X-Auth-Key": swift.key}
    )
    assert response.status_code == 200
    assert response.headers["X-Storage-Url"] == swift.account_url
    wrong = httpx.get(swift.auth_url, headers={"X-Auth-User": swift.user, "X-Auth-Key": "wrong"})
    assert wrong.status_code == 401


def test_info_shows_the_constraints_and_middleware(swift: Swift) -> None:
    info = httpx.get(f"{swift.url}/info").json()
    # Read from the run's swift.conf, not /etc/swift: the launcher's work.
    assert info["swift"]["max_meta_overall_size"] == 2048
    assert {"s3api", "slo", "tempauth", "bulk_delete"} <= info.keys()


def test_swiftclient_puts_and_gets(swift: Swift) -> None:
    container = _name("swift")
    connection = swift.connection()
    connection.put_container(container)
    connection.put_object(container, "a/b", b"hello", headers={"X-Object-Meta-Color": "blue"})
    headers, body = connection.get_object(container, "a/b", headers={"Range": "bytes=1-3"})
    assert body == b"ell"
    assert headers["x-object-meta-color"] == "blue"
    assert container in swift.containers()
    assert swift.objects(container) == ["a/b"]
    assert swift.objects(_name("missing")) == []


def test_s3_puts_and_gets_in_the_same_account(swift: Swift) -> None:
    bucket = _name("s3")
    s3 = swift.s3()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"over s3", Metadata={"color": "red"})
    answer = s3.get_object(Bucket=bucket, Key="k")
    assert answer["Body"].read() == b"over s3"
    assert answer["Metadata"] == {"color": "red"}
    # Buckets are the account's containers.
    assert swift.objects(bucket) == ["k"]
    assert swift.connection().get_object(bucket, "k")[1] == b"over s3"


def test_slo_manifest_joins_its_segments_and_deletes_them(swift: Swift) -> None:
    container, segments = _name("slo"), _name("slo-segments")
    connection = swift.connection()
    connection.put_container(container)
    connection.put_container(segments)
    manifest = []
    for index, chunk in enumerate((b"first ", b"second ", b"third")):
        etag = connection.put_object(segments, f"part-{index}", chunk)
        manifest.append(
            {"path": f"/{segments}/part-{index}", "etag": etag, "size_bytes": len(chunk)}
        )
    connection.put_object(
        container, "whole", json.dumps(manifest), query_string="multipart-manifest=put"
    )
    assert connection.get_object(container, "whole")[1] == b"first second third"
    connection.delete_object(container, "whole", query_string="multipart-manifest=delete")
    assert swift.objects(container) == []
    assert swift.objects(segments) == []


def test_s3_multipart_upload_leaves_no_parts_after_delete(swift: Swift) -> None:
    bucket = _name("mpu")
    s3 = swift.s3()
    s3.create_bucket(Bucket=bucket)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    parts = []
    for number, data in ((1, b"a" * PART), (2, b"tail")):
        answer = s3.upload_part(
            Bucket=bucket, Key="big", UploadId=upload, PartNumber=number, Body=data
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    s3.complete_multipart_upload(
        Bucket=bucket, Key="big", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    answer = s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={PART - 1}-")
    assert answer["Body"].read() == b"atail"
    s3.delete_object(Bucket=bucket, Key="big")
    # allow_async_delete = false: the parts go with the object, not when an expirer runs.
    assert swift.objects(bucket) == []
    assert swift.objects(f"{bucket}+segments") == []


def test_the_other_account_is_isolated(swift: Swift) -> None:
    container = _name("mine")
    swift.connection().put_container(container)
    other = swift.connection(swift.other_user, swift.other_key)
    assert other.get_auth()[0] == swift.other_account_url
    assert container not in [entry["name"] for entry in other.get_account()[1]]
    with pytest.raises(swiftclient.exceptions.ClientException) as raised:
        other.get_container(container)  # in its own account: there is none
    assert raised.value.http_status == 404
    s3 = swift.s3(swift.other_user, swift.other_key)
    assert container not in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]


def test_proxy_stops_and_starts_on_its_port(swift: Swift) -> None:
    container = _name("fault")
    swift.connection().put_container(container)
    swift.connection().put_object(container, "kept", b"still here")
    swift.stop_proxy()
    try:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{swift.url}/info")
        assert _zombies() == []
    finally:
        swift.start_proxy()
    assert swift.connection().get_object(container, "kept")[1] == b"still here"


def test_a_second_swift_runs_beside_and_stops_every_process(swift: Swift, tmp_path: Path) -> None:
    before = {child.pid for child in psutil.Process().children()}
    with run_swift(tmp_path) as other:
        assert other.url != swift.url
        other.connection().put_container("only-here")
        assert "only-here" not in swift.containers()
        started = {child.pid for child in psutil.Process().children()} - before
        assert len(started) == 4
    assert {child.pid for child in psutil.Process().children()} & started == set()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{other.url}/info")
