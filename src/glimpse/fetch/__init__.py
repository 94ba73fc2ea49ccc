"""Getting an image onto this host's disk, fast and verified, with pluggable handlers.

```python
from glimpse.client import Client
from glimpse.fetch import ClientImageService, Fetcher, settings

fetcher = Fetcher(ClientImageService(client), settings.load(None, os.environ), os.environ)
done = fetcher.fetch(image_id, "/var/lib/images/base.raw")
print(done.handler)   # "file", "s3", "swift", "http" or "api"
```

Handlers are the entry points of group ``glimpse.fetchers`` (built in: ``file``,
``http``, ``s3``, ``swift`` and the location-independent ``api``), tried in the order
``fetcher`` describes. A target is complete and verified (size, ``checksum``,
``os_hash_value``), or absent. This package imports none of the server's
dependencies; boto3 and swiftclient are imported by their handlers at the first read.
"""

from glimpse.fetch.base import Expected, Handler, HandlerContext, Job, Location, Transfer
from glimpse.fetch.errors import Attempt, DataMismatch, FetchError, NoHandlerAvailable
from glimpse.fetch.fetcher import Fetched, Fetcher
from glimpse.fetch.service import ClientImageService, HttpImageService, ImageService
from glimpse.fetch.settings import FetchSettings
from glimpse.fetch.sink import Sink

__all__ = [
    "Attempt",
    "ClientImageService",
    "DataMismatch",
    "Expected",
    "FetchError",
    "FetchSettings",
    "Fetched",
    "Fetcher",
    "Handler",
    "HandlerContext",
    "HttpImageService",
    "ImageService",
    "Job",
    "Location",
    "NoHandlerAvailable",
    "Sink",
    "Transfer",
]
