"""The catalog file parser of `glimpse metadefs load`, with random documents: each is a
namespace or an Invalid naming what is wrong, and every namespace it accepts is stored
whole and exported back as it was, on SQLite and PostgreSQL. Seeded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from glimpse.cli.metadefs import contents_of, document_of
from glimpse.errors import Invalid
from glimpse.model.metadefs import LoadMode
from glimpse.registry import db
from glimpse.registry.metadefs import MetadefRegistry

_TEXT = st.text(max_size=10) | st.text(min_size=78, max_size=90) | st.sampled_from(["\x00", ""])
_SCALARS = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | _TEXT
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=6,
)
_NAMED = st.fixed_dictionaries(
    {"name": _TEXT}, optional={"prefix": _TEXT | _JSON, "properties_target": _TEXT}
)
_DOCUMENT = st.fixed_dictionaries(
    {"namespace": _TEXT | _JSON},
    optional={
        "display_name": _TEXT | _JSON,
        "description": _TEXT,
        "visibility": st.sampled_from(["public", "private", "shared", None]),
        "protected": st.booleans() | _JSON,
        "owner": _TEXT,
        "resource_type_associations": st.lists(_NAMED | _JSON, max_size=3),
        "properties": st.dictionaries(_TEXT, st.dictionaries(_TEXT, _JSON, max_size=3) | _JSON),
        "objects": st.lists(
            st.fixed_dictionaries(
                {"name": _TEXT},
                optional={
                    "description": _TEXT,
                    "required": st.lists(_TEXT, max_size=2) | _JSON,
                    "properties": st.dictionaries(_TEXT, st.dictionaries(_TEXT, _JSON)) | _JSON,
                },
            )
            | _JSON,
            max_size=2,
        ),
        "tags": st.lists(_NAMED | _JSON, max_size=3),
    },
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MetadefRegistry]:
    if request.param == "sqlite":
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('files')) / 'registry.db'}"
    else:
        url = request.getfixturevalue("module_postgres_database")
    engine = db.connect(url)
    db.upgrade(engine)
    yield MetadefRegistry(engine)
    engine.dispose()


def _stored_as_given(registry: MetadefRegistry, doc: dict[str, Any]) -> None:
    contents = contents_of(doc)
    name = contents.namespace.namespace
    with registry.engine.begin() as conn:
        conn.execute(
            sqlalchemy.text("DELETE FROM metadef_namespaces WHERE namespace = :n"), {"n": name}
        )
    assert registry.load(contents, LoadMode.SKIP) == "added"
    assert _sorted(document_of(registry.contents(name))) == _sorted(document_of(contents))
    registry.delete(name)


def _sorted(doc: dict[str, Any]) -> dict[str, Any]:
    """Associations come back in the order of their types' ids, not the file's."""
    return {
        **doc,
        "resource_type_associations": sorted(
            doc["resource_type_associations"], key=lambda a: a["name"]
        ),
    }


@seed(20261311)
@settings(
    database=None,
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(doc=_DOCUMENT | _JSON)
def test_a_file_is_a_namespace_or_invalid(registry: MetadefRegistry, doc: Any) -> None:
    try:
        contents_of(doc)
    except Invalid:
        return
    _stored_as_given(registry, doc)


_CHARS = st.characters(codec="utf-8", exclude_characters="\x00")
_NAME = st.text(_CHARS, min_size=1, max_size=80)
_SCHEMA = st.dictionaries(st.text(_CHARS, max_size=12), _JSON, max_size=4)
_GOOD = st.fixed_dictionaries(
    {"namespace": _NAME.filter(lambda n: "/" not in n and n not in (".", ".."))},
    optional={
        "display_name": st.text(_CHARS, max_size=80),
        "description": st.text(_CHARS, max_size=200),
        "visibility": st.sampled_from(["public", "private"]),
        "protected": st.booleans(),
        "owner": st.text(_CHARS, min_size=1, max_size=255),
        "resource_type_associations": st.lists(
            st.fixed_dictionaries(
                {"name": _NAME}, optional={"prefix": st.text(_CHARS, max_size=80)}
            ),
            max_size=3,
            unique_by=lambda a: a["name"],
        ),
        "properties": st.dictionaries(_NAME, _SCHEMA, max_size=3),
        "objects": st.lists(
            st.fixed_dictionaries(
                {"name": _NAME},
                optional={
                    "required": st.lists(st.text(_CHARS, max_size=10), max_size=2),
                    "properties": st.dictionaries(
                        st.text(_CHARS, max_size=90), _SCHEMA, max_size=2
                    ),
                },
            ),
            max_size=2,
            unique_by=lambda o: o["name"],
        ),
        "tags": st.lists(
            st.fixed_dictionaries({"name": _NAME}), max_size=3, unique_by=lambda t: t["name"]
        ),
    },
)


@seed(20261312)
@settings(
    database=None,
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(doc=_GOOD)
def test_a_good_file_is_stored_whole(registry: MetadefRegistry, doc: dict[str, Any]) -> None:
    _stored_as_given(registry, doc)


def test_a_file_in_glance_format(registry: MetadefRegistry) -> None:
    """A small catalog file written here in the format of Glance's etc/metadefs."""
    doc = {
        "namespace": "Glimpse::Test::Files",
        "display_name": "Files",
        "description": "A file as glance-manage reads them",
        "visibility": "public",
        "protected": True,
        "resource_type_associations": [
            {"name": "OS::Glance::Image", "prefix": "f_"},
            {"name": "OS::Cinder::Volume", "prefix": "f_", "properties_target": "image"},
        ],
        "properties": {
            "mode": {"title": "Mode", "type": "string", "enum": ["a", "b"], "default": "a"}
        },
        "objects": [
            {
                "name": "Pair",
                "description": "Two values",
                "properties": {"left": {"title": "Left", "type": "integer", "minimum": 0}},
            }
        ],
        "tags": [{"name": "files"}],
    }
    contents = contents_of(doc)
    assert contents.namespace.owner == "admin"  # glance-manage's default
    assert contents.objects[0].required is None
    _stored_as_given(registry, doc)
