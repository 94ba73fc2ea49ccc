"""Random bad catalog lines: an import refuses each with MalformedLine, never anything else.

Lines start from a valid image line and have fields replaced by random JSON,
dropped or added, or are random text; any other exception (a database error
on one backend, a crash in the checks) fails. PostgreSQL is the stricter
backend (lengths, integer ranges, NUL characters), so both run. Seeded, so a
failure reproduces.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import sqlalchemy
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from glimpse.registry import catalog, db

VALID: dict[str, Any] = {
    "id": "5b0e2f6c-1c3d-4e59-8a7b-9c0d1e2f3a4b",
    "name": "cirros",
    "status": "active",
    "visibility": "shared",
    "protected": False,
    "os_hidden": False,
    "owner": "p",
    "container_format": "bare",
    "disk_format": "raw",
    "min_disk": 0,
    "min_ram": 0,
    "size": 3,
    "virtual_size": None,
    "checksum": "900150983cd24fb0d6963f7d28e17f72",
    "os_hash_algo": "sha512",
    "os_hash_value": "dd" * 64,
    "created_at": "2026-12-01T00:00:00",
    "updated_at": "2026-12-01T00:00:00.5",
    "deleted_at": None,
    "reserved": 0,
    "upload_started_at": None,
    "lease_holder": None,
    "lease_expires_at": None,
    "properties": {"k": "v"},
    "tags": ["t"],
    "members": [
        {
            "member": "q",
            "status": "accepted",
            "created_at": "2026-12-01T00:00:00",
            "updated_at": "2026-12-01T00:00:00",
        }
    ],
    "locations": [
        {"url": "file:///x", "metadata": {"store": "file"}, "owned": True, "status": "active"}
    ],
}
_TEXT = st.text(max_size=40) | st.sampled_from(
    ["", "x" * 256, "a\x00b", "9999-12-31T23:59:59-05:00"]
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT
    | st.sampled_from(
        [
            "queued",
            "pending",
            "active",
            "hashing",
            "0001-01-01T00:00:00+01:00",
            "2026-12-01",
            "5b0e2f6c-1c3d-4e59-8a7b-9c0d1e2f3a4c",
        ]
    )
)
JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)
_KNOWN = st.sampled_from(sorted(VALID))
# Mostly the fields an import checks, sometimes a field it does not know.
_KEYS = st.one_of(*[_KNOWN] * 9, _TEXT)


@st.composite
def _child(draw: st.DrawFn, template: dict[str, Any]) -> dict[str, Any]:
    """A member or location like ``template`` with one field replaced, dropped or added."""
    child = dict(template)
    known = st.sampled_from(sorted(template))
    key = draw(st.one_of(known, known, known, _TEXT))
    if draw(st.booleans()):
        child.pop(key, None)
    else:
        child[key] = draw(JSON)
    return child


@st.composite
def bad_lines(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.binary(max_size=60) | _TEXT.map(str.encode))
    if kind == 1:
        return _dumps(draw(JSON))
    line = dict(VALID)
    for _ in range(draw(st.integers(1, 4))):
        key = draw(_KEYS)
        if draw(st.booleans()):
            line.pop(key, None)
        else:
            line[key] = draw(JSON)
    if kind == 3:
        line["members"] = [draw(_child(VALID["members"][0]))]
        line["locations"] = [draw(_child(VALID["locations"][0]))]
    return _dumps(line)


def _dumps(value: Any) -> bytes:
    # The standard library writes integers of any size, which orjson cannot.
    return json.dumps(value).encode()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sqlalchemy.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('catalog') / 'registry.db'}"
    else:
        url = request.getfixturevalue("module_postgres_database")
    engine = db.connect(url)
    db.create(engine)
    yield engine
    engine.dispose()


def test_the_valid_line_imports(engine: sqlalchemy.Engine) -> None:
    report = catalog.import_(engine, [orjson.dumps(VALID)])
    assert report.added + report.updated + report.unchanged == 1


@seed(20261231)
@settings(database=None, max_examples=300, deadline=None)
@given(lines=st.lists(bad_lines(), min_size=1, max_size=3))
def test_bad_lines_raise_only_the_import_error(
    engine: sqlalchemy.Engine, lines: list[bytes]
) -> None:
    # Some mutations stay valid (a new name, say) and import; the rest must be refused.
    with contextlib.suppress(catalog.MalformedLine):
        catalog.import_(engine, lines)
