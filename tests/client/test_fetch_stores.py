"""The ``swift`` and ``s3`` fetch handlers against a real Swift (and its S3 API) behind a real
server whose swift and s3 stores wrote the objects.

The server has three stores: ``local`` (files, the default), ``swift`` (Static Large Objects
of 1 MiB segments above 1 MiB) and ``s3`` (5 MiB parts); an upload picks one with
``X-Image-Meta-Store``. The handlers read with this host's own settings: the ``[fetch.swift]``
and ``[fetch.s3]`` tables, or the ``ST_*`` variables of the ``swift`` command.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from client_support import fetchers

from cluster.support import Placement, s3_options, store_env, swift_options, unique
from glimpse.fetch import Fetcher
from glimpse.testing import ServerProcess
from helpers import make_image, upload
from swift.harness import Swift

MiB = 1 << 20


@pytest.fixture(scope="module")
def places(swift: Swift) -> Iterator[dict[str, str]]:
    names = {"swift": unique("glimpse-fetch"), "s3": unique("glimpse-fetch")}
    yield names
    Placement(swift, "swift", names["swift"]).remove()
    Placement(swift, "s3", names["s3"]).remove()


@pytest.fixture(scope="module")
def server(
    swift: Swift, places: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    env = {
        "GLIMPSE_IMAGES__SHOW_MULTIPLE_LOCATIONS": "true",
        **store_env("local", {"driver": "file"}, default=True),
        **store_env("swift", swift_options(swift, places["swift"])),
        **store_env("s3", s3_options(swift, places["s3"])),
    }
    srv = ServerProcess(data_dir=tmp_path_factory.mktemp("fetch-stores"), env=env)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


@pytest.fixture
def fetcher(server: ServerProcess, tmp_path: Path) -> Iterator[Callable[..., Fetcher]]:
    """Makes in-process fetchers over this module's server; all closed afterwards."""
    with fetchers(tmp_path) as make:
        yield functools.partial(make, server.url)


def stored(api: httpx.Client, store: str, size: int) -> tuple[str, bytes, str]:
    """An image of ``size`` random bytes in ``store``: its id, data and first location."""
    data = os.urandom(size)
    image = make_image(api)
    answer = upload(api, image["id"], data, **{"X-Image-Meta-Store": store})
    assert answer.status_code == 204, answer.text
    shown = api.get(f"/v2/images/{image['id']}").json()
    return image["id"], data, shown["locations"][0]["url"]


def swift_table(swift: Swift, **changes: str) -> dict[str, str]:
    return {"auth_url": swift.auth_url, "user": swift.user, "key": swift.key, **changes}


def s3_table(swift: Swift, **changes: str) -> dict[str, str]:
    return {
        "endpoint_url": swift.s3_endpoint,
        "region": swift.s3_region,
        "access_key": swift.access_key,
        "secret_key": swift.secret_key,
        **changes,
    }


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.mark.parametrize("parallel", [1, 4])
def test_the_swift_handler_reads_a_large_object_by_ranges(
    api: httpx.Client,
    swift: Swift,
    fetcher: Callable[..., Fetcher],
    tmp_path: Path,
    parallel: int,
) -> None:
    image_id, data, location = stored(api, "swift", 17 * MiB + 11)
    assert location.startswith("swift://")
    chosen = fetcher(
        handlers=("swift",),
        parallel=parallel,
        parallel_min_size=MiB,
        handler_options={"swift": swift_table(swift)},
    )
    done = chosen.fetch(image_id, tmp_path / "disk.raw")
    assert (done.handler, done.location) == ("swift", location)
    assert md5((tmp_path / "disk.raw").read_bytes()) == md5(data)


@pytest.mark.parametrize("parallel", [1, 4])
def test_the_s3_handler_reads_an_s3_location(
    api: httpx.Client,
    swift: Swift,
    fetcher: Callable[..., Fetcher],
    tmp_path: Path,
    parallel: int,
) -> None:
    image_id, data, location = stored(api, "s3", 12 * MiB + 5)
    assert location.startswith("s3://")
    chosen = fetcher(
        handlers=("s3",),
        parallel=parallel,
        parallel_min_size=MiB,
        handler_options={"s3": s3_table(swift)},
    )
    done = chosen.fetch(image_id, tmp_path / "disk.raw")
    assert (done.handler, done.location) == ("s3", location)
    assert md5((tmp_path / "disk.raw").read_bytes()) == md5(data)


def test_a_swift_account_that_is_refused_falls_back_to_the_api(
    api: httpx.Client,
    swift: Swift,
    fetcher: Callable[..., Fetcher],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    image_id, data, location = stored(api, "swift", 2 * MiB)
    caplog.set_level(logging.WARNING, logger="glimpse.fetch")
    chosen = fetcher(
        handlers=("swift", "api"), handler_options={"swift": swift_table(swift, key="wrong")}
    )
    done = chosen.fetch(image_id, tmp_path / "disk.raw")
    assert done.handler == "api"
    assert (tmp_path / "disk.raw").read_bytes() == data
    failed = [r.getMessage() for r in caplog.records if "failed:" in r.getMessage()]
    assert failed == [f"fetch handler swift ({location}) failed: {failed[0].split(': ', 1)[1]}"]
    assert "refused" in failed[0] or "Unauthorized" in failed[0]
    assert "wrong" not in failed[0]  # the key is never shown


def test_an_s3_object_that_is_missing_falls_back_to_the_api(
    api: httpx.Client,
    swift: Swift,
    places: dict[str, str],
    fetcher: Callable[..., Fetcher],
    tmp_path: Path,
) -> None:
    image_id, data, _ = stored(api, "s3", 2 * MiB)
    # This host's S3 endpoint is another account's: the bucket is not there for it.
    other = s3_table(swift, access_key=swift.other_user, secret_key=swift.other_key)
    chosen = fetcher(handlers=("s3", "api"), handler_options={"s3": other})
    done = chosen.fetch(image_id, tmp_path / "disk.raw")
    assert done.handler == "api"
    assert (tmp_path / "disk.raw").read_bytes() == data


def test_the_cli_reads_swift_with_the_swift_commands_variables_and_s3_with_a_settings_file(
    api: httpx.Client, server: ServerProcess, swift: Swift, tmp_path: Path
) -> None:
    swift_id, swift_data, _ = stored(api, "swift", 3 * MiB)
    s3_id, s3_data, _ = stored(api, "s3", 3 * MiB)
    base = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "GLIMPSE_FETCH_STATE_FILE": str(tmp_path / "state.json"),
    }
    st = {"ST_AUTH": swift.auth_url, "ST_USER": swift.user, "ST_KEY": swift.key}
    command = [sys.executable, "-m", "glimpse", "fetch", "--endpoint", server.url]
    done = subprocess.run(
        [*command, "--handlers", "swift", swift_id, str(tmp_path / "a.raw")],
        capture_output=True,
        text=True,
        env={**base, **st},
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "fetched by swift" in done.stdout
    assert (tmp_path / "a.raw").read_bytes() == swift_data
    config = tmp_path / "config" / "glimpse" / "fetch.toml"
    config.parent.mkdir(parents=True)
    table = "".join(f'{k} = "{v}"\n' for k, v in s3_table(swift).items())
    config.write_text(f'[fetch]\nhandlers = ["s3"]\n\n[fetch.s3]\n{table}')
    done = subprocess.run(
        [*command, s3_id, str(tmp_path / "b.raw")],
        capture_output=True,
        text=True,
        env=base,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "fetched by s3" in done.stdout
    assert (tmp_path / "b.raw").read_bytes() == s3_data
