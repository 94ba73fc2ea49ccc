"""One builder for every frozen options dataclass: settings, driver options, quota limits.

Each field declares its default and help text with ``option()`` (or ``tables()``
for a table of tables); ``build`` turns a raw TOML table into the dataclass,
checking keys and types from the real type hints, and ``sample`` prints the
commented sample of a table from the same fields, so the two cannot drift.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any, TypeVar

from glimpse.errors import ConfigError

T = TypeVar("T")


def option(default: T, help: str, *, minimum: int | None = None) -> T:
    """A field with its default and help text; ``minimum`` bounds an integer."""
    return field(default=default, metadata={"help": help, "minimum": minimum})


def tables(help: str) -> Mapping[str, Mapping[str, Any]]:
    """A field holding a table of raw tables, such as per-driver or per-project options."""
    return field(default_factory=dict, metadata={"help": help, "minimum": None})


def build(cls: type[T], raw: Any, where: str) -> T:
    """Build dataclass ``cls`` from the raw table ``raw`` found at ``where``.

    Unknown keys, wrong types and values below a field's minimum raise
    ConfigError naming the key as ``where.key``.
    """
    prefix = f"{where}." if where else ""
    if not isinstance(raw, dict | types.MappingProxyType):
        raise ConfigError(f"setting {where} must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in raw:
        if key not in known:
            raise ConfigError(f"unknown setting {prefix}{key}")
    values = {
        name: _convert(hints[name], value, f"{prefix}{name}", known[name].metadata)
        for name, value in raw.items()
    }
    try:
        return cls(**values)
    except TypeError as exc:  # a field without a default was left out
        raise ConfigError(f"settings {where}: {exc}") from None


def _convert(hint: Any, value: Any, key: str, metadata: Mapping[str, Any]) -> Any:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return build(hint, value, key)
    origin = typing.get_origin(hint)
    if origin is tuple and typing.get_args(hint)[0] is int:
        if not isinstance(value, list | tuple) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise ConfigError(f"setting {key} must be a list of integers")
        return tuple(value)
    if origin is tuple:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"setting {key} must be a list of strings")
        return tuple(value)
    if origin is not None and issubclass(origin, Mapping):
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise ConfigError(f"setting {key} must be a table of tables")
        return types.MappingProxyType({k: dict(v) for k, v in value.items()})
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"setting {key} must be a number, not {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"setting {key} must be an integer, not {value!r}")
        minimum = metadata.get("minimum")
        if minimum is not None and value < minimum:
            raise ConfigError(f"setting {key} must be at least {minimum}, not {value}")
        return value
    expected = {str: str, bool: bool}[hint]
    if not isinstance(value, expected):
        raise ConfigError(f"setting {key} must be a {expected.__name__}, not {value!r}")
    return value


def sample(
    cls: type[Any],
    table: str,
    *,
    commented: bool = False,
    extra: Callable[[str], list[str]] | None = None,
) -> list[str]:
    """The sample of table ``table``: a header, then each field's help and default.

    ``extra(table)`` adds lines after a table's own keys (the tables of
    drivers it chooses); nested dataclasses follow as tables of their own. A
    ``commented`` table has its header commented out too, for tables that must
    stay absent unless an operator writes them (a driver that is not chosen).
    """
    lines: list[str] = []
    if table:
        lines.append(f"# [{table}]" if commented else f"[{table}]")
    nested: list[tuple[str, type[Any]]] = []
    hints = typing.get_type_hints(cls)
    if not dataclasses.fields(cls):
        lines += ["# (no options)", ""]
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            nested.append((f.name, hint))
            continue
        lines.append(f"# {f.metadata['help']}")
        if f.default is not dataclasses.MISSING:
            lines.append(f"# {f.name} = {_toml_value(f.default)}")
        lines.append("")
    if extra is not None:
        lines += extra(table)
    for name, sub in nested:
        lines += sample(sub, f"{table}.{name}" if table else name, commented=commented, extra=extra)
    return lines


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
