"""Disk-format safety: what image data really is, and whether Glimpse takes it.

``inspect`` feeds streamed data to oslo.utils' format inspectors without
buffering the image; ``rules`` decides, as Glance 33 does, whether the data
matches its ``disk_format`` and passes the safety checks, and what its
``virtual_size`` is.

    stream = InspectingStream(chunks, disk_format="qcow2", container_format="bare",
                              settings=settings.images)
    for chunk in stream:  # raises InvalidImageData for refused data
        write(chunk)
    stream.found.virtual_size
"""

from glimpse.formats.inspect import InspectingStream
from glimpse.formats.rules import Found, inspects, judge

__all__ = ["Found", "InspectingStream", "inspects", "judge"]
