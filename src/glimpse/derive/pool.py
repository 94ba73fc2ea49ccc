"""A bounded pool of render threads: work beyond its queue is refused, never piled up.

libvips releases the GIL while it works, so threads render in parallel; the
bound keeps a burst of new renditions from growing memory and latency without
limit: the caller answers 503 with ``Retry-After`` instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from glimpse.errors import Busy

T = TypeVar("T")


class RenderPool:
    """``threads`` render at once and up to ``queue`` more wait; the rest are Busy."""

    def __init__(self, threads: int, queue: int) -> None:
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="render")
        self._slots = threading.BoundedSemaphore(threads + queue)

    def submit(self, work: Callable[[], T]) -> Future[T]:
        """Start ``work`` on a render thread; Busy (503) when every slot is taken."""
        if not self._slots.acquire(blocking=False):
            raise Busy("Too many renditions are being made; retry shortly", retry_after=1)
        try:
            future = self._executor.submit(work)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        return future

    def run(self, work: Callable[[], T]) -> T:
        """Run ``work`` on a render thread and wait for it (from a thread of the caller's)."""
        return self.submit(work).result()
