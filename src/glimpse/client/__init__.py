"""A typed client of the Image API v2 and the Pictures API, over httpx.

The stable surface, for scripts and for ``glimpse.fetch``::

    from glimpse.client import Client, connect

    client = connect(endpoint="http://127.0.0.1:9292", token="glt_...")
    # or Client.from_options(cloud="mycloud"), or from the OS_* variables alone
    image = client.images.get(image_id)      # an Image; image.raw is the JSON dict
    client.http.get(f"/v2/images/{image.id}/file", headers={"Range": "bytes=0-1023"})

- ``Client.from_options(endpoint=None, token=None, cloud=None, ...)`` (also named
  ``connect``) builds a client from CLI-style options, ``clouds.yaml`` and ``OS_*``.
- ``Client.images.get(image_id) -> Image``, with every field typed and the answer's
  JSON in ``.raw``; ``Client.images.find(id_or_name)`` tries the id, then the name.
- ``Client.http`` is the configured ``httpx.Client``: base URL the Image API's root,
  authentication applied to each request.

Sub-APIs: ``images``, ``data`` (streamed upload and verified download),
``members``, ``stores``, ``tasks``, ``imports``, ``cache`` and ``pictures``.
Failures raise ``ClientError`` subclasses (``glimpse.client.errors``).

This package imports the standard library and httpx only (keystoneauth1 when
Keystone is used, openstacksdk when a ``clouds.yaml`` cloud is named), so it ships
without the server.
"""

from glimpse.client.core import Client, connect
from glimpse.client.errors import (
    AmbiguousImageName,
    BadRequest,
    ChecksumMismatch,
    ClientError,
    ConfigurationError,
    Conflict,
    ConnectionFailed,
    DataError,
    Forbidden,
    Gone,
    HTTPError,
    ImageNameNotFound,
    MethodNotAllowed,
    NotFound,
    RangeNotSatisfiable,
    RequestEntityTooLarge,
    ServerError,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMediaType,
)
from glimpse.client.types import (
    CacheEntry,
    CacheListing,
    Image,
    Member,
    PictureInfo,
    RenditionInfo,
    Store,
    Task,
    Transfer,
)

__all__ = [
    "AmbiguousImageName",
    "BadRequest",
    "CacheEntry",
    "CacheListing",
    "ChecksumMismatch",
    "Client",
    "ClientError",
    "ConfigurationError",
    "Conflict",
    "ConnectionFailed",
    "DataError",
    "Forbidden",
    "Gone",
    "HTTPError",
    "Image",
    "ImageNameNotFound",
    "Member",
    "MethodNotAllowed",
    "NotFound",
    "PictureInfo",
    "RangeNotSatisfiable",
    "RenditionInfo",
    "RequestEntityTooLarge",
    "ServerError",
    "ServiceUnavailable",
    "Store",
    "Task",
    "Transfer",
    "Unauthorized",
    "UnsupportedMediaType",
    "connect",
]
