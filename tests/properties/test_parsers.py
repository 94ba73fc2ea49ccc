"""Random bad input to every request parser: it answers with a Glimpse error, never a crash.

A Glimpse error becomes a precise 4xx at the HTTP boundary; any other exception
would be a 500. Seeded, so a failure reproduces.
"""

from __future__ import annotations

import contextlib
import string
from typing import Any

from hypothesis import given, seed, settings
from hypothesis import strategies as st

from glimpse import options
from glimpse import settings as settings_module
from glimpse.api import inputs, patch
from glimpse.errors import ConfigError, GlimpseError

_KEYS = st.sampled_from(
    [
        "id",
        "name",
        "visibility",
        "protected",
        "os_hidden",
        "owner",
        "container_format",
        "disk_format",
        "min_ram",
        "min_disk",
        "tags",
        "status",
        "size",
        "locations",
        "kernel_id",
        "cinder_encryption_key_deletion_policy",
        "os_glance_x",
        "member",
        "",
        "x" * 300,
    ]
) | st.text(max_size=20)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=300)
    | st.sampled_from(["public", "raw", "bare", "accepted", "pending", "00000000-0000"])
)
JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=12,
)
OBJECTS = st.dictionaries(_KEYS, JSON, max_size=6)


def _refused_cleanly(parse: Any, *args: Any) -> None:
    with contextlib.suppress(GlimpseError):
        parse(*args)


@seed(20261201)
@settings(database=None, max_examples=400, deadline=None)
@given(OBJECTS)
def test_create_bodies(body: dict[str, Any]) -> None:
    _refused_cleanly(inputs.new_image, body)


@seed(20261202)
@settings(database=None, max_examples=300, deadline=None)
@given(OBJECTS)
def test_member_bodies(body: dict[str, Any]) -> None:
    _refused_cleanly(inputs.new_member, body)
    _refused_cleanly(inputs.member_status, body)


_OPS = st.fixed_dictionaries(
    {},
    optional={
        "op": st.sampled_from(["add", "remove", "replace", "move", 3]) | JSON,
        "path": st.sampled_from(["/name", "/tags", "/visibility", "/locations/0", "/a~2", "/"])
        | st.text(max_size=30)
        | JSON,
        "value": JSON,
        "add": JSON,
        "remove": JSON,
        "replace": JSON,
    },
)


@seed(20261203)
@settings(database=None, max_examples=400, deadline=None)
@given(st.lists(_OPS, max_size=4) | JSON, st.sampled_from([patch.MEDIA_V21, patch.MEDIA_V20]))
def test_patch_documents(document: Any, media: str) -> None:
    _refused_cleanly(patch.parse, document, media)


_TABLE_NAMES = st.sampled_from(
    ["server", "registry", "images", "identity", "policy", "quotas", "stores", "projects"]
)
_SETTING_KEYS = (
    _TABLE_NAMES
    | st.sampled_from(
        ["port", "workers", "size_cap", "mode", "default", "import_methods", "image_size_total"]
    )
    | st.text(string.ascii_lowercase + "_", max_size=12)
)
_RAW_TABLES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_SETTING_KEYS, inner, max_size=4),
    max_leaves=10,
)


@seed(20261204)
@settings(database=None, max_examples=400, deadline=None)
@given(st.dictionaries(_SETTING_KEYS, _RAW_TABLES, max_size=5))
def test_settings_tables(raw: dict[str, Any]) -> None:
    with contextlib.suppress(ConfigError):
        options.build(settings_module.Settings, raw, "")
