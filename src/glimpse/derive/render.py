"""Pictures through libvips: read a header, check the limits, render a spec, make a placeholder.

Only trusted loaders run (JPEG, PNG, WebP, GIF, HEIF/AVIF, TIFF): every other
libvips loader is blocked at start-up, so an upload can never reach a
lesser-tested parser. The header is read lazily and checked against the limits
before a pixel is decoded. A rendition is one ``thumbnail`` (shrink-on-load, at the
smallest JPEG scale that covers the output; EXIF orientation applied; crop after
shrinking), then flattening for formats
without transparency, then a save that keeps no metadata (or only the ICC
profile). Animated GIF and WebP keep their frames when the rendition is a GIF
or WebP.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from glimpse.derive.limits import Limits
from glimpse.derive.spec import Spec
from glimpse.errors import Invalid

NOT_A_PICTURE = "Unknown image format: the data is not a picture Glimpse can decode"
#: libvips loader (without _buffer/_source) -> format name.
LOADERS = {
    "jpegload": "jpeg",
    "pngload": "png",
    "webpload": "webp",
    "gifload": "gif",
    "heifload": "heif",
    "avifload": "avif",
    "tiffload": "tiff",
}
_ALLOWED_LOADERS = (
    "VipsForeignLoadJpeg",
    "VipsForeignLoadPng",
    "VipsForeignLoadWebp",
    "VipsForeignLoadNsgif",
    "VipsForeignLoadHeif",
    "VipsForeignLoadTiff",
)
ANIMATED_OUTPUTS = ("gif", "webp")
#: Scales libjpeg can decode at (1/8, 1/4, 1/2), scaling in the DCT domain.
_JPEG_SHRINKS = (8, 4, 2)
_SUFFIX = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "avif": ".avif", "gif": ".gif"}


class _Libvips:
    """pyvips, imported and set up at its first use in a process.

    Loading libvips costs a worker about 13 MiB, which a worker that never
    touches a picture should not pay. Whatever first uses it gets it already
    set up: trusted loaders only, ``configure``'s threads, no operation cache.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._module: ModuleType | None = None
        self.threads = 0

    def __getattr__(self, name: str) -> Any:
        module = self._module
        if module is None:
            module = self._load()
        return getattr(module, name)

    def _load(self) -> ModuleType:
        with self._lock:
            if self._module is None:
                import pyvips as module

                module.cache_set_max(0)
                module.concurrency_set(self.threads)
                # libvips narrates every operation at info level; only warnings matter.
                logging.getLogger("pyvips").setLevel(logging.WARNING)
                module.operation_block_set("VipsForeignLoad", True)
                for name in _ALLOWED_LOADERS:
                    module.operation_block_set(name, False)
                self._module = module
            return self._module

    def set_threads(self, threads: int) -> None:
        with self._lock:
            self.threads = threads
            if self._module is not None:
                self._module.concurrency_set(threads)


_LIBVIPS = _Libvips()
if TYPE_CHECKING:
    import pyvips
else:
    pyvips = _LIBVIPS


def configure(threads: int = 0) -> None:
    """Once per process, before the first picture: ``threads`` libvips threads per
    operation (0: its default, one per CPU). Trusted loaders only and no operation
    cache (renditions are stored, so libvips keeping decoded originals would only
    cost memory) are set when libvips loads."""
    _LIBVIPS.set_threads(threads)


@dataclass(frozen=True)
class Original:
    """An original to read: a local file (libvips reads what it needs) or bytes in memory."""

    path: str | None = None
    data: bytes | None = None


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    pages: int
    format: str
    alpha: bool


@dataclass(frozen=True)
class Rendered:
    data: bytes
    width: int
    height: int
    format: str


def _open(original: Original, options: str = "", **kwargs: Any) -> pyvips.Image:
    if original.path is not None:
        return pyvips.Image.new_from_file(f"{original.path}[{options}]", **kwargs)
    assert original.data is not None
    return pyvips.Image.new_from_buffer(original.data, options, **kwargs)


def probe(original: Original, limits: Limits) -> Header:
    """The header of ``original``, checked against ``limits``, without decoding pixels.

    Invalid (400) when it is no picture a trusted loader reads; TooLarge (413)
    past a limit.
    """
    try:
        image = _open(original, access="sequential")
        loader = str(image.get("vips-loader")).removesuffix("_buffer").removesuffix("_source")
        pages = int(image.get("n-pages")) if image.get_typeof("n-pages") else 1
        width, height = image.width, image.height
        alpha = bool(image.hasalpha())
        if loader == "heifload" and image.get_typeof("heif-compression"):
            loader = "avifload" if image.get("heif-compression") == "av1" else loader
    except pyvips.Error:
        raise Invalid(NOT_A_PICTURE) from None
    fmt = LOADERS.get(loader)
    if fmt is None:
        raise Invalid(f"Unknown image format: {loader} pictures are not accepted")
    limits.check_source(width, height, pages)
    return Header(width, height, pages, fmt, alpha)


def decode_small(original: Original, header: Header, side: int = 32) -> tuple[int, int, bytes]:
    """Decode the whole of the first frame, failing on any error (a truncated file), to a
    small sRGB image: its width, height and RGB bytes (for the placeholder).

    JPEG is decoded at an eighth of its size, which still reads every byte.
    """
    options = "shrink=8" if header.format == "jpeg" else ""
    try:
        image = _open(original, options, access="sequential", fail_on="error")
        image = image.autorot()
        small = image.thumbnail_image(side, height=side, size="down")
        small = _srgb(small)
        if small.hasalpha():
            small = small.flatten(background=[255, 255, 255])
        if small.bands == 1:
            small = small.bandjoin([small, small])
        small = small.extract_band(0, n=3).cast("uchar")
        return small.width, small.height, small.write_to_memory()
    except pyvips.Error as exc:
        raise Invalid(f"The picture cannot be decoded: {_first_line(exc)}") from None


def jpeg_shrink(width: int, height: int, spec: Spec) -> int:
    """The largest JPEG shrink-on-load that still decodes every pixel ``spec`` needs
    from a ``width`` x ``height`` picture (its sides as shown, after EXIF rotation).

    libvips' ``thumbnail`` keeps a factor of two for its resize, so it decodes a
    4000-pixel JPEG at 2000 for an 800-pixel rendition. Decoding at the smallest
    scale that still covers the output (as PIL's draft mode and sharp's fast
    shrink-on-load do) costs much less; the price is a trace of aliasing in
    fine patterns.
    """
    across, down = spec.width / width, spec.height / height
    needed = min(across, down) if spec.fit in ("fit", "pad") else max(across, down)
    for shrink in _JPEG_SHRINKS:
        if shrink * needed <= 1:
            return shrink
    return 1


def _fast_shrink(original: Original, header: Header, spec: Spec) -> int:
    """``jpeg_shrink`` for a still JPEG, reading its orientation from the header; else 1."""
    if header.format != "jpeg" or header.pages > 1:
        return 1
    image = _open(original, access="sequential")
    orientation = int(image.get("orientation")) if image.get_typeof("orientation") else 1
    turned = orientation >= 5  # 5-8 swap the sides
    width, height = (header.height, header.width) if turned else (header.width, header.height)
    return jpeg_shrink(width, height, spec)


def render(
    original: Original, header: Header, spec: Spec, *, keep_icc: bool, fast_shrink: bool = True
) -> Rendered:
    """Render ``spec`` from ``original`` (whose ``header`` passed the limits); with
    ``fast_shrink``, still JPEGs are decoded at the scale ``jpeg_shrink`` gives."""
    animated = header.pages > 1 and spec.format in ANIMATED_OUTPUTS
    size = "force" if spec.fit == "force" else ("both" if spec.enlarge else "down")
    width = spec.width
    kwargs: dict[str, Any] = {"height": spec.height, "size": size}
    if spec.fit == "fill" and animated:
        # libvips crops an animation's strip, not each frame, when the box has the
        # picture's shape: scale to cover here and crop every frame below.
        scale = max(spec.width / header.width, spec.height / header.height)
        scale = scale if spec.enlarge else min(scale, 1.0)
        width = max(1, round(header.width * scale))
        kwargs.update(height=max(1, round(header.height * scale)), size="force")
    elif spec.fit == "fill":
        kwargs["crop"] = spec.gravity
    load = "n=-1" if animated else ""
    try:
        shrink = _fast_shrink(original, header, spec) if fast_shrink else 1
        if shrink > 1:
            image = _open(original, f"shrink={shrink}", access="sequential")
            image = image.thumbnail_image(width, **kwargs)
        elif original.path is not None:
            image = pyvips.Image.thumbnail(f"{original.path}[{load}]", width, **kwargs)
        else:
            assert original.data is not None
            image = pyvips.Image.thumbnail_buffer(
                original.data, width, option_string=load, **kwargs
            )
        if not keep_icc and image.get_typeof("icc-profile-data"):
            # After shrinking, and only for pictures with a profile: a transform of
            # every picture (export_profile) costs as much as the resize itself.
            image = image.icc_transform("srgb", embedded=True)
        if not keep_icc or image.interpretation == "cmyk":  # no CMYK renditions
            image = _srgb(image)
        if spec.fit == "fill" and animated:
            image = _frames(image, spec, _crop_centre)
        if spec.fit == "pad":
            image = _frames(image, spec, _pad) if animated else _pad(image, spec)
        if spec.format in ("jpeg",) and image.hasalpha():
            image = image.flatten(background=list(spec.background))
        data = image.write_to_buffer(_SUFFIX[spec.format], **_save_options(spec, keep_icc))
    except pyvips.Error as exc:
        raise Invalid(f"The picture cannot be rendered: {_first_line(exc)}") from None
    height = int(image.get("page-height")) if animated else image.height
    return Rendered(bytes(data), image.width, height, spec.format)


def _srgb(image: pyvips.Image) -> pyvips.Image:
    if image.interpretation in ("srgb", "b-w"):
        return image
    if image.interpretation == "cmyk":
        return image.icc_transform("srgb", input_profile="cmyk")
    return image.colourspace("srgb")


def _pad(image: pyvips.Image, spec: Spec) -> pyvips.Image:
    """Centre ``image`` on a box of the spec's size in its colour."""
    background = list(spec.background) + ([255] if image.hasalpha() else [])
    return image.gravity(
        "centre", spec.width, spec.height, extend="background", background=background
    )


def _crop_centre(image: pyvips.Image, spec: Spec) -> pyvips.Image:
    width, height = min(spec.width, image.width), min(spec.height, image.height)
    return image.crop((image.width - width) // 2, (image.height - height) // 2, width, height)


def _frames(
    image: pyvips.Image, spec: Spec, each: Callable[[pyvips.Image, Spec], pyvips.Image]
) -> pyvips.Image:
    """``each`` applied to every frame of an animation, the frames joined again."""
    page = int(image.get("page-height"))
    frames = [
        each(image.crop(0, top, image.width, page), spec) for top in range(0, image.height, page)
    ]
    joined = pyvips.Image.arrayjoin(frames, across=1).copy()
    joined.set_type(pyvips.GValue.gint_type, "page-height", frames[0].height)
    return joined


def _save_options(spec: Spec, keep_icc: bool) -> dict[str, Any]:
    options: dict[str, Any] = {"keep": "icc" if keep_icc else "none"}
    if spec.quality is not None:
        options["Q"] = spec.quality
    if spec.format == "jpeg":
        options["optimize_coding"] = True
    elif spec.format == "avif":
        options["effort"] = 2  # AVIF encoding dominates the time; 2 of 9 is near a JPEG's cost
    elif spec.format == "png":
        options["compression"] = 6
    return options


def _first_line(exc: pyvips.Error) -> str:
    text = str(exc.message or exc).strip().splitlines()
    return text[0][:200] if text else "libvips error"
