"""One pass over upload data: count, cap, md5 and the multihash, in parallel threads.

hashlib releases the GIL on large buffers, so md5 and the multihash each run
in a thread of their own while the caller's thread writes the same chunks to
the store.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from glimpse.errors import ConfigError, SizeMismatch, TooLarge

#: Chunks each hash may lag behind the writer; bounds memory to DEPTH chunks.
DEPTH = 2


@dataclass(frozen=True)
class Digest:
    size: int
    checksum: str
    os_hash_algo: str
    os_hash_value: str


def check_algorithm(name: str) -> None:
    """Fail start-up on a hash algorithm hashlib does not have."""
    if name not in hashlib.algorithms_available or name.startswith("shake_"):
        raise ConfigError(f"images.hash_algo {name!r} is not a fixed-length hashlib algorithm")


class DigestingStream:
    """Iterate ``chunks`` unchanged while counting and hashing them.

    Raises TooLarge as soon as the data passes ``size_cap``, and SizeMismatch as
    soon as it passes ``expected_size`` or, at the end, when it falls short of
    it, so a store's ``put`` sees the error before it publishes anything.
    ``digest`` is set once the iteration completed.
    """

    def __init__(
        self,
        chunks: Iterable[bytes],
        *,
        algo: str,
        size_cap: int,
        expected_size: int | None = None,
    ) -> None:
        self._chunks = chunks
        self._algo = algo
        self._size_cap = size_cap
        self._expected = expected_size
        self.digest: Digest | None = None

    def __iter__(self) -> Iterator[bytes]:
        md5 = hashlib.md5(usedforsecurity=False)
        multi = hashlib.new(self._algo)
        size = 0
        # One single-thread executor per hash keeps each hash's updates in
        # order while both run beside the caller, up to DEPTH chunks behind.
        lanes = [ThreadPoolExecutor(1, "glimpse-md5"), ThreadPoolExecutor(1, "glimpse-hash")]
        pending: deque[Future[None]] = deque()
        try:
            for chunk in self._chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if size > self._size_cap:
                    raise TooLarge(
                        f"Image exceeds the storage quota: the size cap is {self._size_cap} bytes"
                    )
                if self._expected is not None and size > self._expected:
                    raise SizeMismatch(
                        f"Image data is larger than the declared size {self._expected}"
                    )
                while len(pending) >= 2 * DEPTH:
                    pending.popleft().result()
                pending.append(lanes[0].submit(md5.update, chunk))
                pending.append(lanes[1].submit(multi.update, chunk))
                yield chunk
            while pending:
                pending.popleft().result()
        finally:
            for lane in lanes:
                lane.shutdown(wait=True, cancel_futures=True)
        if self._expected is not None and size != self._expected:
            raise SizeMismatch(
                f"Image data has {size} bytes, but {self._expected} bytes were declared"
            )
        self.digest = Digest(size, md5.hexdigest(), self._algo, multi.hexdigest())
