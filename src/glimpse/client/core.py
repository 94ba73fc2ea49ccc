"""``Client``: one configured ``httpx.Client`` and the sub-APIs that speak through it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

import glimpse
from glimpse.client import reads
from glimpse.client.cache import CacheApi
from glimpse.client.connect import Options, resolve
from glimpse.client.data import DataApi
from glimpse.client.images import ImagesApi
from glimpse.client.imports import ImportsApi
from glimpse.client.members import MembersApi
from glimpse.client.pictures import PicturesApi
from glimpse.client.stores import StoresApi
from glimpse.client.tasks import TasksApi
from glimpse.client.transport import Transport

USER_AGENT = f"glimpse-client/{glimpse.__version__}"
#: Seconds to connect, and to wait for each read or write once connected.
TIMEOUT = httpx.Timeout(300.0, connect=15.0)


class Client:
    """A client of one Glimpse (or Glance) deployment.

    ``http`` is the ``httpx.Client`` every call goes through: its base URL is the
    Image API's root (no ``/v2``) and authentication is applied to each request, so
    callers may send their own requests on it (``http.get("/v2/images/ID/file",
    headers={"Range": "bytes=0-99"})``).
    """

    def __init__(self, http: httpx.Client, pictures_url: str | None = None) -> None:
        reads.enlarge()  # image data arrives in 1 MiB reads, not 64 KiB ones
        self.http = http
        base = str(http.base_url).rstrip("/")
        self.transport = Transport(http, pictures_url or f"{base}/pictures")
        self.images = ImagesApi(self.transport)
        self.data = DataApi(self.transport, self.images)
        self.members = MembersApi(self.transport)
        self.stores = StoresApi(self.transport)
        self.tasks = TasksApi(self.transport)
        self.imports = ImportsApi(self.transport)
        self.cache = CacheApi(self.transport)
        self.pictures = PicturesApi(self.transport)

    @classmethod
    def from_options(
        cls,
        *,
        endpoint: str | None = None,
        token: str | None = None,
        cloud: str | None = None,
        pictures_url: str | None = None,
        timeout: httpx.Timeout | float | None = None,
        environ: Mapping[str, str] | None = None,
        **options: Any,
    ) -> Client:
        """A Client from CLI-style options, ``clouds.yaml`` and the ``OS_*`` variables.

        ``options`` are the other fields of ``glimpse.client.connect.Options``
        (``auth_url``, ``username``, ``password``, ``project_name``, ``region_name``,
        ``interface``, ``cacert``, ``insecure``...). ``environ`` defaults to
        ``os.environ``. Explicit options win over the cloud, the cloud over ``OS_*``.

        Raises:
            ConfigurationError: nothing says where the Image API is, or how to log in.
            ConnectionFailed, Unauthorized: Keystone is unreachable or refused.
        """
        chosen = Options(endpoint=endpoint, token=token, cloud=cloud, **options)
        connection = resolve(chosen, os.environ if environ is None else environ)
        http = httpx.Client(
            base_url=connection.endpoint + "/",
            auth=connection.auth,
            verify=connection.verify,
            timeout=TIMEOUT if timeout is None else timeout,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )
        return cls(http, pictures_url.strip().rstrip("/") if pictures_url else None)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


connect = Client.from_options
