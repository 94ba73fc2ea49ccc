"""Units where the logic is dense: spec parsing and canonical keys, negotiation, limits, signing."""

from __future__ import annotations

import pytest

from glimpse.derive import signing, spec
from glimpse.derive.limits import Limits, parse_sizes
from glimpse.errors import ConfigError, Forbidden, Invalid, NotFound, TooLarge


def test_parse_in_pymagers_order() -> None:
    parsed = spec.parse("a-complex-id-800x600.jpg", [])
    assert (parsed.picture_id, parsed.width, parsed.height, parsed.format) == (
        "a-complex-id",
        800,
        600,
        "jpeg",
    )
    assert parsed.fit == "fill"
    assert parsed.enlarge
    with pytest.raises(NotFound):
        spec.parse("no-size.jpg", [])
    with pytest.raises(Invalid):
        spec.parse("x-10x10.pixar", [])
    assert spec.parse("x-10x10", []).format is None
    assert spec.parse("x-10x10.png", [("ext", "auto")]).format is None


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ([], "10x20-fill-centre-up-q82-jpeg"),
        ([("gravity", "center"), ("q", "82")], "10x20-fill-centre-up-q82-jpeg"),
        ([("fit", "fit")], "10x20-fit-down-q82-jpeg"),
        ([("fit", "force"), ("gravity", "attention")], "10x20-force-q82-jpeg"),
        ([("fit", "pad"), ("bg", "#FF0000")], "10x20-pad-down-q82-bgff0000-jpeg"),
        ([("v", "abc"), ("sig", "x"), ("exp", "1")], "10x20-fill-centre-up-q82-jpeg"),
    ],
)
def test_canonical_keys(params: list[tuple[str, str]], key: str) -> None:
    assert spec.parse("x-10x20.jpg", params).spec("jpeg").key == key


def test_lossless_formats_have_no_quality() -> None:
    parsed = spec.parse("x-10x20.png", [("q", "5")])
    assert parsed.spec("png").key == "10x20-fill-centre-up-png"
    assert parsed.spec("webp").key == "10x20-fill-centre-up-q5-webp"


@pytest.mark.parametrize(
    ("accept", "animated", "alpha", "expected"),
    [
        ("image/avif,image/webp,*/*", False, False, "avif"),
        ("image/webp", False, True, "webp"),
        ("*/*", False, True, "png"),
        ("text/html", False, False, "jpeg"),
        ("image/avif,image/webp", True, False, "webp"),
        ("image/avif", True, False, "gif"),
        ("image/webp;q=0", False, False, "jpeg"),
    ],
)
def test_negotiate(accept: str, animated: bool, alpha: bool, expected: str) -> None:
    assert spec.negotiate(accept, animated=animated, alpha=alpha) == expected


def test_limits() -> None:
    limits = Limits(
        max_pixels=100, max_frames=3, max_dimension=50, allowed_sizes=parse_sizes(["10x10"])
    )
    limits.check_source(10, 10, 1)
    with pytest.raises(TooLarge, match="max_pixels"):
        limits.check_source(10, 11, 1)
    with pytest.raises(TooLarge, match="in 3 frames"):
        limits.check_source(6, 6, 3)  # 108 pixels over its frames
    with pytest.raises(TooLarge, match="max_frames"):
        limits.check_source(1, 1, 4)
    limits.check_size(10, 10)
    with pytest.raises(Forbidden, match="allowed_sizes"):
        limits.check_size(10, 11)
    with pytest.raises(Forbidden, match="max_dimension"):
        Limits(max_dimension=50).check_size(51, 1)
    with pytest.raises(ConfigError):
        parse_sizes(["10x0"])
    with pytest.raises(ConfigError):
        parse_sizes(["ten"])


def test_signing_covers_path_and_every_option() -> None:
    query = signing.sign("k", "/derived/a-1x1.jpg", [("q", "5"), ("fit", "fit")])
    params = [tuple(part.split("=")) for part in query.split("&")]
    signing.verify(["other", "k"], "/derived/a-1x1.jpg", params, now=0)  # type: ignore[arg-type]
    with pytest.raises(Forbidden):
        signing.verify(["k"], "/derived/a-2x1.jpg", params, now=0)  # type: ignore[arg-type]
    with pytest.raises(Forbidden):
        signing.verify(["k"], "/derived/a-1x1.jpg", [*params, ("bg", "000000")], now=0)  # type: ignore[list-item]
    with pytest.raises(Forbidden, match="no sig"):
        signing.verify(["k"], "/derived/a-1x1.jpg", [], now=0)
