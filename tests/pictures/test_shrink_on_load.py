"""JPEG shrink-on-load: never fewer pixels than the rendition needs, and the same picture."""

from __future__ import annotations

import math

import pyvips
from hypothesis import given, settings
from hypothesis import strategies as st
from picture_support import difference, jpeg, quadrants

from glimpse.derive import render
from glimpse.derive.limits import Limits
from glimpse.derive.spec import FITS, Spec


@settings(max_examples=400, derandomize=True, deadline=None)
@given(
    width=st.integers(1, 20_000),
    height=st.integers(1, 20_000),
    box=st.tuples(st.integers(1, 4096), st.integers(1, 4096)),
    fit=st.sampled_from(FITS),
    enlarge=st.booleans(),
)
def test_the_shrink_always_leaves_enough_pixels(
    width: int, height: int, box: tuple[int, int], fit: str, enlarge: bool
) -> None:
    spec = Spec(box[0], box[1], "jpeg", fit=fit, enlarge=enlarge)
    shrink = render.jpeg_shrink(width, height, spec)
    assert shrink in (1, 2, 4, 8)
    across, down = spec.width / width, spec.height / height
    scale = min(across, down) if fit in ("fit", "pad") else max(across, down)
    # libjpeg rounds a scaled side up; the rendition needs side x scale (at most the side).
    assert math.ceil(width / shrink) >= min(width * scale, width) - 1e-9
    assert math.ceil(height / shrink) >= min(height * scale, height) - 1e-9
    if shrink < 8:  # and no larger factor would still do
        assert (2 * shrink) * scale > 1


def test_only_still_jpegs_shrink_on_load() -> None:
    spec = Spec(800, 600, "jpeg", fit="fill")
    photo = render.Original(data=jpeg(quadrants(4000, 3000)))
    assert render.jpeg_shrink(4000, 3000, spec) == 4
    assert render.jpeg_shrink(3000, 4000, spec) == 2  # the same picture turned on its side
    assert render.jpeg_shrink(700, 500, spec) == 1
    assert render._fast_shrink(photo, render.Header(4000, 3000, 1, "jpeg", False), spec) == 4
    assert render._fast_shrink(photo, render.Header(4000, 3000, 1, "png", False), spec) == 1
    assert render._fast_shrink(photo, render.Header(4000, 3000, 2, "jpeg", False), spec) == 1
    turned = pyvips.Image.new_from_buffer(jpeg(quadrants(4000, 3000)), "").copy()
    turned.set_type(pyvips.GValue.gint_type, "orientation", 6)
    shown_upright = render.Original(data=bytes(turned.write_to_buffer(".jpg", keep="exif")))
    header = render.Header(4000, 3000, 1, "jpeg", False)
    assert render._fast_shrink(shown_upright, header, spec) == 2


def test_fast_shrink_renders_the_same_picture_at_the_same_size() -> None:
    """For each fit, the fast path gives the size and picture of libvips' own thumbnail."""
    source = jpeg(quadrants(4000, 3000).gaussblur(2), q=92)
    original = render.Original(data=source)
    header = render.probe(original, Limits(max_pixels=100_000_000))
    for fit in FITS:
        spec = Spec(800, 600, "png", fit=fit, enlarge=False)
        fast = render.render(original, header, spec, keep_icc=False, fast_shrink=True)
        slow = render.render(original, header, spec, keep_icc=False, fast_shrink=False)
        assert render._fast_shrink(original, header, spec) == 4
        assert (fast.width, fast.height) == (slow.width, slow.height), fit
        fast_image = pyvips.Image.new_from_buffer(fast.data, "")
        slow_image = pyvips.Image.new_from_buffer(slow.data, "")
        assert difference(fast_image, slow_image) < 2.0, fit
