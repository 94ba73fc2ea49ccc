"""The ``s3`` handler: read ``s3://`` locations with boto3 and this host's credentials.

Glimpse's S3 store writes ``s3://<bucket>/<key>`` (key percent-encoded, ``/`` kept)
and never puts a credential in a location; the endpoint and the credentials are this
host's: the ``[fetch.s3]`` options, else botocore's own chain (``AWS_*`` variables,
``~/.aws``, instance roles). Glance-style ``s3://`` and ``s3+http(s)://`` locations
with a host (``s3+https://host/bucket/key``, userinfo ignored) are read from that host
when no ``endpoint_url`` is set. boto3 is imported at the first read only.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from glimpse.fetch.base import Association, HandlerContext, Job, Location
from glimpse.fetch.errors import FetchError, RangeUnsupported
from glimpse.fetch.ranged import Busy, describe, download
from glimpse.fetch.sink import Sink
from glimpse.options import option

CHUNK = 1 << 20
_MISSING = frozenset({"NoSuchKey", "NoSuchBucket", "NotFound", "404"})
_BUSY = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"})


@dataclass(frozen=True)
class S3Object:
    endpoint: str | None
    bucket: str
    key: str


def parse(location: Location) -> S3Object:
    """The endpoint (only when the URL names one), bucket and key of an S3 location."""
    parts = urlsplit(location.url)
    scheme = parts.scheme.lower()
    host = parts.netloc.rsplit("@", 1)[-1]
    if parts.query or parts.fragment:
        raise FetchError("an S3 location has no query or fragment")
    if scheme == "s3" and "@" not in parts.netloc:
        bucket, key = host, unquote(parts.path[1:])
        endpoint = None
    else:
        bucket, _, raw_key = parts.path[1:].partition("/")
        key = unquote(raw_key)
        endpoint = f"{'https' if scheme == 's3+https' else 'http'}://{host}" if host else None
    if not bucket or not key:
        raise FetchError("an S3 location names a bucket and a key")
    return S3Object(endpoint, bucket, key)


class S3Handler:
    """Reads S3 objects with ranged GetObject calls, resumed and in parallel parts."""

    schemes: ClassVar[tuple[str, ...]] = ("s3", "s3+http", "s3+https")

    @dataclass(frozen=True)
    class Options:
        endpoint_url: str = option("", "S3 endpoint; empty: the location's host, else AWS's.")
        region: str = option("", "Region requests are signed for; empty: botocore's default.")
        access_key: str = option("", "Access key id; empty: botocore's credential chain.")
        secret_key: str = option("", "Secret access key; never shown or logged.")
        addressing: str = option("path", "Bucket addressing: path or virtual.")
        verify_tls: bool = option(True, "Verify the endpoint's TLS certificate.")
        ca_file: str = option("", "CA bundle to verify the endpoint with; empty: the system's.")
        connect_timeout: float = option(10.0, "Seconds to wait for a connection.")
        read_timeout: float = option(60.0, "Seconds to wait for data before resuming.")
        retries: int = option(2, "Retries of a failed request by botocore itself.", minimum=0)

    def __init__(self, options: Options, context: HandlerContext) -> None:
        self.name = context.name
        self.options = options
        self._clients: dict[str | None, Any] = {}
        self._lock = threading.Lock()

    def prepare(self, owned: Mapping[str, Association]) -> None:
        """Nothing to set up again: clients are made at the first read."""

    def fetch(self, job: Job, location: Location | None, sink: Sink) -> None:
        if location is None:
            raise FetchError("the s3 handler needs an s3 location")
        import botocore.exceptions
        import urllib3.exceptions

        target = parse(location)
        client = self._client(self.options.endpoint_url or target.endpoint)
        reader = _Ranges(client, target)
        transient = (
            botocore.exceptions.ResponseStreamingError,
            botocore.exceptions.IncompleteReadError,
            botocore.exceptions.ReadTimeoutError,
            botocore.exceptions.ConnectionClosedError,
            urllib3.exceptions.ProtocolError,
            urllib3.exceptions.ReadTimeoutError,
            Busy,
        )
        try:
            download(reader, sink, job.expected.size, job.transfer, transient, "S3")
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise FetchError(_reason(exc)) from None

    def _client(self, endpoint: str | None) -> Any:
        with self._lock:
            if endpoint not in self._clients:
                import boto3.session
                import botocore.config

                o = self.options
                config = botocore.config.Config(
                    region_name=o.region or None,
                    signature_version="s3v4",
                    s3={"addressing_style": o.addressing},
                    connect_timeout=o.connect_timeout,
                    read_timeout=o.read_timeout,
                    retries={"max_attempts": o.retries + 1, "mode": "standard"},
                    max_pool_connections=32,
                    user_agent_extra="glimpse-fetch",
                )
                session = boto3.session.Session(
                    aws_access_key_id=o.access_key or None,
                    aws_secret_access_key=o.secret_key or None,
                    region_name=o.region or None,
                )
                self._clients[endpoint] = session.client(
                    "s3",
                    endpoint_url=endpoint or None,
                    config=config,
                    verify=o.ca_file or o.verify_tls,
                )
            return self._clients[endpoint]


class _Ranges:
    def __init__(self, client: Any, target: S3Object) -> None:
        self._client = client
        self._target = target

    @contextlib.contextmanager
    def __call__(self, start: int, end: int | None) -> Iterator[Iterator[bytes]]:
        import botocore.exceptions

        asked: dict[str, str] = {}
        if start or end is not None:
            asked["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            answer = self._client.get_object(
                Bucket=self._target.bucket, Key=self._target.key, **asked
            )
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in _BUSY:
                raise Busy(_reason(exc)) from None
            raise FetchError(_reason(exc)) from None
        body = answer["Body"]
        try:
            if asked and not str(answer.get("ContentRange", "")).startswith(f"bytes {start}-"):
                raise RangeUnsupported("S3 answered another byte range than asked")
            yield body.iter_chunks(CHUNK)
        finally:
            body.close()


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _reason(exc: Exception) -> str:
    """Why S3 refused, never with a credential or a signed URL."""
    import botocore.exceptions

    if isinstance(exc, botocore.exceptions.ClientError):
        code = _code(exc)
        if code in _MISSING:
            return f"S3 has no such object ({code})"
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"S3 refused the read: {code or 'error'} (HTTP {status})"
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return "no S3 credentials: set [fetch.s3] access_key and secret_key or AWS_* variables"
    return f"S3 is unreachable: {describe(exc).split(' for url')[0]}"
