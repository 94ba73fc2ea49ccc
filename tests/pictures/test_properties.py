"""Random bad input to every Pictures route over real HTTP: every answer is below 500,
and every refusal is the JSON error body. Seeded, so a failure reproduces; on SQLite and
PostgreSQL."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from picture_support import PREFIX, jpeg, noise, uploaded

from glimpse.derive import spec
from glimpse.errors import GlimpseError

ROUTE_SETTINGS = settings(
    database=None,
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
_TEXT = st.text(max_size=30) | st.sampled_from(["", "0", "-1", "9" * 30, "auto", "a\x00b", "é"])
_NAMES = st.sampled_from([*spec.OPTIONS, "info", "x", ""])
_PARAMS = st.lists(
    st.tuples(_NAMES, _TEXT | st.sampled_from(["fill", "pad", "webp", "ff00ff"])), max_size=4
)
_SEGMENTS = st.builds(
    lambda name, w, h, ext: f"{name}-{w}x{h}{ext}",
    st.sampled_from(["ID", "x", "a-b", "", "é", "a b"]),
    st.sampled_from(["0", "1", "32", "4097", "9" * 12, "-1", "x"]),
    st.sampled_from(["0", "1", "24", "99999", "x"]),
    st.sampled_from(
        ["", ".jpg", ".png", ".webp", ".avif", ".gif", ".pixar", ".", ".JPG", ".jpg.x"]
    ),
) | st.text(max_size=40)
_HEADERS = st.dictionaries(
    st.sampled_from(
        ["Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since",
         "If-Range", "Accept"]
    ),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.strip)
    | st.sampled_from(["bytes=0-", "bytes=-0", "bytes=5-2", "bytes=99999999999999999999-", "*",
                       '"x", W/"y"', "Thu, 01 Jan 1970 00:00:00 GMT", "image/avif;q=x"]),
    max_size=3,
)  # fmt: skip


@pytest.fixture
def picture_id(client: httpx.Client) -> str:
    return uploaded(client, jpeg(noise(64, 48)))


def _clean(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400 and response.request.method != "HEAD":
        assert response.json()["error"]["code"] == response.status_code


@seed(20261221)
@ROUTE_SETTINGS
@given(segment=_SEGMENTS, params=_PARAMS, headers=_HEADERS)
def test_derived(
    client: httpx.Client,
    picture_id: str,
    segment: str,
    params: list[tuple[str, str]],
    headers: dict[str, str],
) -> None:
    segment = segment.replace("ID", picture_id)
    path = f"{PREFIX}/derived/{quote(segment, safe='') or 'x'}"
    _clean(client.get(path, params=params, headers=headers))
    _clean(client.head(path, params=params, headers=headers))


@seed(20261222)
@ROUTE_SETTINGS
@given(
    name=st.text(max_size=140) | st.sampled_from(["ID", "ID/info"]),
    params=_PARAMS,
    headers=_HEADERS,
    body=st.binary(max_size=300),
    media=st.sampled_from(
        ["multipart/form-data; boundary=b", "multipart/form-data", "image/jpeg", "",
         "multipart/form-data; boundary="]
    ),
)  # fmt: skip
def test_originals(
    client: httpx.Client,
    picture_id: str,
    name: str,
    params: list[tuple[str, str]],
    headers: dict[str, str],
    body: bytes,
    media: str,
) -> None:
    path = f"{PREFIX}/original/{quote(name.replace('ID', picture_id), safe='/') or 'x'}"
    _clean(client.get(path, params=params, headers=headers))
    for method in ("POST", "PUT"):
        sent = {**headers, "Content-Type": media} if media else headers
        _clean(client.request(method, path, params=params, headers=sent, content=body))
    framed = b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\n' + body + b"\r\n--b--\r\n"
    _clean(
        client.post(
            f"{PREFIX}/original/fuzz{len(body)}",
            content=framed,
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
    )
    _clean(client.delete(f"{PREFIX}/original/fuzz{len(body)}"))


@seed(20261223)
@settings(database=None, max_examples=400, deadline=None)
@given(segment=_SEGMENTS, params=_PARAMS)
def test_parser_refuses_only_with_glimpse_errors(
    segment: str, params: list[tuple[str, str]]
) -> None:
    try:
        parsed = spec.parse(segment, params)
    except GlimpseError:
        return
    for fmt in ("jpeg", "png", "webp", "avif", "gif"):
        key = parsed.spec(fmt).key
        assert len(key) <= 255
        assert spec.parse(segment, params).spec(fmt).key == key
