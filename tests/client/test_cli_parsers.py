"""Random command-line input: a usage error (2) or a clean answer, never a traceback."""

from __future__ import annotations

import argparse
import contextlib
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glimpse.cli import arguments
from glimpse.cli.main import main
from glimpse.testing import ServerProcess

#: Text as argv can carry it: any code point but NUL, lone surrogates included
#: (undecodable bytes reach Python as surrogate escapes).
ARGUMENT = st.text(st.characters(blacklist_characters="\x00"), max_size=60)
SEEDED = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def _clean(code: int, err: str) -> None:
    assert "Traceback" not in err
    assert code in (0, 1, 2), (code, err)
    if code == 1:
        # Only the server may say no, and only with a client error, never a 5xx.
        line = err.strip().splitlines()[-1]
        assert line.startswith(("glimpse: 400 ", "glimpse: 404 ", "glimpse: 409 ")), err
    if code == 2:
        assert err.strip(), "a usage error says what is wrong"


@SEEDED
@given(
    option=st.sampled_from(["--property", "--sort", "--name", "--status", "--owner", "--tag"]),
    value=ARGUMENT,
)
def test_image_list_options(sqlite_server: ServerProcess, option: str, value: str) -> None:
    code, _, err = _run(["image", "list", "--os-image-url", sqlite_server.url, option, value])
    _clean(code, err)
    if option == "--sort" and code == 0:
        assert all(item.partition(":")[0].strip().isidentifier() for item in value.split(",")), (
            value
        )


@SEEDED
@given(key=ARGUMENT, value=ARGUMENT)
def test_image_update_properties(sqlite_server: ServerProcess, key: str, value: str) -> None:
    code, _, err = _run(
        ["image", "update", "00000000-0000-0000-0000-000000000000",
         "--os-image-url", sqlite_server.url, "--property", f"{key}={value}"]
    )  # fmt: skip
    _clean(code, err)


@SEEDED
@given(size=ARGUMENT, expires=st.one_of(st.none(), ARGUMENT))
def test_picture_url_sizes_and_expiry(size: str, expires: str | None) -> None:
    argv = ["picture", "url", "cat", "--pictures-url", "http://p", "--size", size, "--key", "k"]
    if expires is not None:
        argv += ["--expires", expires]
    code, out, err = _run(argv)
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err
    if code == 0:
        width, _, height = size.strip().lower().partition("x")
        assert out.startswith(f"http://p/derived/cat-{int(width)}x{int(height)}?")


@pytest.mark.parametrize(
    "parse",
    [
        arguments.key_value,
        arguments.sort_keys,
        arguments.size,
        arguments.expiry,
        arguments.positive,
        arguments.natural,
        arguments.text,
    ],
)
@settings(max_examples=200, deadline=None, derandomize=True)
@given(value=st.text(max_size=80))
def test_argument_types_refuse_cleanly(parse: object, value: str) -> None:
    assert callable(parse)
    with contextlib.suppress(argparse.ArgumentTypeError):
        parse(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a=b", ("a", "b")),
        ("a==b", ("a", "=b")),
        ("k=", ("k", "")),
        ("name:asc,size", ["name:asc", "size"]),
        ("200x100", (200, 100)),
    ],
)
def test_argument_types_accept(value: str, expected: object) -> None:
    parse = {
        "a=b": arguments.key_value,
        "a==b": arguments.key_value,
        "k=": arguments.key_value,
        "name:asc,size": arguments.sort_keys,
        "200x100": arguments.size,
    }[value]
    assert parse(value) == expected


def test_expiry_forms() -> None:
    now = 1_800_000_000.0
    assert arguments.expiry("90m", now) == 1_800_000_000 + 5400
    assert arguments.expiry("1900000000", now) == 1_900_000_000
    assert arguments.expiry("2030-01-01T00:00:00Z", now) == 1_893_456_000
    for bad in ("1700000000", "soon", "-5m", "2020-01-01"):
        with pytest.raises(argparse.ArgumentTypeError):
            arguments.expiry(bad, now)
