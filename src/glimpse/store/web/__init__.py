"""Fetching remote URLs safely: what web-download and glance-download read, and how.

A caller's URL makes the server connect somewhere; these modules decide
where it may, and make sure it connects nowhere else:

| module | job |
| --- | --- |
| ``urls`` | import filtering: Glance's six allow/deny lists, host normalization, ``redact`` |
| ``addresses`` | which addresses are not public; resolve a host once, check every address |
| ``transport`` | an httpx transport connecting only to the addresses just checked |
| ``fetch`` | ``WebFetcher.open``: redirects re-checked, time limits, size cap, ``RemoteData`` |
| ``glance`` | glance-download: a remote image's record and data with the caller's token |

The read-only http store uses the same address rules and transport.

```python
fetcher = WebFetcher(settings.import_filtering)      # built by the composition root
fetcher.check(uri)                                   # at the import request: 400 if refused
with fetcher.open(uri, size_cap=left) as data:       # in the import task
    store.put(key, data.chunks(), size=data.size)
```
"""

from glimpse.store.web.addresses import AddressRules, Resolver, kind_of
from glimpse.store.web.fetch import RemoteData, WebFetcher
from glimpse.store.web.glance import image_url, open_remote_data, remote_image
from glimpse.store.web.transport import PinnedTransport
from glimpse.store.web.urls import Target, UrlFilter, redact

__all__ = [
    "AddressRules",
    "PinnedTransport",
    "RemoteData",
    "Resolver",
    "Target",
    "UrlFilter",
    "WebFetcher",
    "image_url",
    "kind_of",
    "open_remote_data",
    "redact",
    "remote_image",
]
