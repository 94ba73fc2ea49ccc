"""Small renditions sent from a worker's memory answer exactly as those sent from files."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from picture_support import PREFIX, jpeg, noise, solid, start, uploaded

from glimpse.service.picture_memory import PictureMemory
from glimpse.store.base import Source
from glimpse.testing import ServerProcess

#: Headers that differ between two servers for the same bytes.
_OWN = {"date", "x-openstack-request-id", "last-modified", "x-picture-version", "server"}


@pytest.fixture(scope="module")
def from_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    started = start(tmp_path_factory, {"GLIMPSE_PICTURES__MEMORY_CACHE": "0"})
    yield started
    started.stop()


def _answer(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in response.headers.items() if k.lower() not in _OWN}
    return response.status_code, headers, response.content


def test_memory_and_file_answers_are_the_same(
    client: httpx.Client, from_files: ServerProcess
) -> None:
    data = jpeg(noise(640, 480))
    with httpx.Client(base_url=from_files.url, timeout=60) as files:
        ours, theirs = uploaded(client, data), uploaded(files, data)
        for query, headers in [
            ("", {}),
            ("", {"Range": "bytes=100-199"}),
            ("", {"Range": "bytes=-50"}),
            ("?fit=pad&bg=102030", {}),
            ("?ext=auto", {"Accept": "image/webp"}),
        ]:
            for method in ("GET", "HEAD", "GET"):  # the second GET: from memory if kept
                path = "{}/derived/{}-120x90.jpg" + query
                mine = client.request(method, path.format(PREFIX, ours), headers=headers)
                other = files.request(method, path.format(PREFIX, theirs), headers=headers)
                assert mine.status_code in (200, 206), mine.text
                assert _answer(mine) == _answer(other), (method, query, headers)
        tag = client.get(f"{PREFIX}/derived/{ours}-120x90.jpg").headers["etag"]
        again = client.get(f"{PREFIX}/derived/{ours}-120x90.jpg", headers={"If-None-Match": tag})
        assert again.status_code == 304
        assert again.content == b""


def test_a_replaced_picture_is_never_sent_from_memory(client: httpx.Client) -> None:
    picture_id = uploaded(client, jpeg(solid(300, 200, (250, 10, 10))))
    first = client.get(f"{PREFIX}/derived/{picture_id}-60x40.png")
    assert first.status_code == 200
    replaced = client.put(
        f"{PREFIX}/original/{picture_id}",
        files={"file": ("p", jpeg(solid(300, 200, (10, 10, 250))), "image/jpeg")},
    )
    assert replaced.status_code == 303
    second = client.get(f"{PREFIX}/derived/{picture_id}-60x40.png")
    assert second.status_code == 200
    assert second.content != first.content
    assert second.headers["etag"] != first.headers["etag"]


class _Bytes:
    """A Source of bytes in memory."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.reads = 0

    @property
    def size(self) -> int | None:
        return len(self.data)

    @property
    def local_path(self) -> str | None:
        return None

    def chunks(self, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        self.reads += 1
        yield self.data[start : None if length is None else start + length]


def test_memory_is_bounded_and_keeps_only_whole_renditions() -> None:
    memory = PictureMemory(capacity=1000, largest=400)
    assert not memory.keeps(0)
    assert memory.keeps(400)
    assert not memory.keeps(401)
    source: Source = _Bytes(b"x" * 300)
    assert memory.keep("a", source, 300) == b"x" * 300
    assert memory.keep("short", _Bytes(b"y" * 10), 300) is None  # the store disagrees
    assert memory.get("short") is None
    for name in "bcd":
        memory.keep(name, _Bytes(b"z" * 300), 300)
    kept = [name for name in "abcd" if memory.get(name) is not None]
    assert kept == ["b", "c", "d"]  # at most 1000 bytes: the least recently used went
    assert PictureMemory(capacity=0, largest=400).keeps(1) is False
