"""The oslo.policy rule language, parsed once and evaluated per request.

Operators of Glance keep their policy overrides in oslo.policy's syntax, so
Glimpse reads the same language::

    role:admin or (role:member and project_id:%(project_id)s)
    "shared":%(visibility)s        rule:context_is_admin        not role:reader
    @ (always)    ! (never)        "" (always)

A check ``kind:match`` is one of ``rule:NAME`` (another rule), ``role:NAME``
(the caller holds the role, case-insensitive) or a generic check: ``match`` is
formatted with the target (``%(key)s``; a missing key, or one whose value is
null, makes the check false) and compared, as a string, with either the
literal ``kind`` (a quoted string, number or ``True``/``False``) or the
caller's credential named by ``kind``
(dotted paths reach into nested values; a list matches if any element does; a
null credential matches nothing). A missing value never matches: oslo.policy
formats both sides, so a caller without a project would otherwise pass
``project_id:%(project_id)s`` on an image without an owner ("None" == "None").
``not`` binds tighter than ``and``, which binds tighter than ``or``.

Glimpse does not import oslo.policy itself: it costs 160 ms and 20 MiB per
worker at start-up, a third of the start-up budget, for a language this small.
Remote ``http:``/``https:`` checks are refused when the rules load.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from glimpse.errors import ConfigError

Target = Mapping[str, Any]
Credentials = Mapping[str, Any]
#: Evaluates another rule by name: the ``rule:`` check.
RuleLookup = Callable[[str, Target, Credentials], bool]


class Check:
    """A node of a parsed rule."""

    def __call__(self, target: Target, creds: Credentials, rules: RuleLookup) -> bool:
        raise NotImplementedError

    def references(self) -> list[str]:
        """Names of the rules this check refers to with ``rule:``."""
        return []


@dataclass(frozen=True)
class Constant(Check):
    value: bool

    def __call__(self, target: Target, creds: Credentials, rules: RuleLookup) -> bool:
        return self.value


@dataclass(frozen=True)
class Not(Check):
    inner: Check

    def __call__(self, target: Target, creds: Credentials, rules: RuleLookup) -> bool:
        return not self.inner(target, creds, rules)

    def references(self) -> list[str]:
        return self.inner.references()


@dataclass(frozen=True)
class All(Check):
    parts: tuple[Check, ...]

    def __call__(self, target: Target, creds: Credentials, rules: RuleLookup) -> bool:
        return all(part(target, creds, rules) for part in self.parts)

    def references(self) -> list[str]:
        return [name for part in self.parts for name in part.references()]


@dataclass(frozen=True)
class Any_(Check):
    parts: tuple[Check, ...]

    def __call__(self, target: Target, creds: Credentials, rules: RuleLookup) -> bool:
        return any(part(target, creds, rules) for part in self.parts)

    def references(self) -> list[str]:
        return [name for part in self.parts for name in part.references()]


@dataclass(frozen=True)
class RuleCheck(Check):
    name: str

    def __call__(self, target: Target, creds: Credentials, rules: RuleLookup) -> bool:
        return rules(self.name, target, creds)

    def references(self) -> list[str]:
        return [self.name]


@dataclass(frozen=True)
class RoleCheck(Check):
    match: str

    def __call__(self, target: Target, creds: Credentials, rules: RuleLookup) -> bool:
        wanted = _format(self.match, target)
        if wanted is None:
            return False
        return wanted.lower() in {str(role).lower() for role in creds.get("roles", ())}


@dataclass(frozen=True)
class GenericCheck(Check):
    kind: str
    match: str

    def __call__(self, target: Target, creds: Credentials, rules: RuleLookup) -> bool:
        wanted = _format(self.match, target)
        if wanted is None:
            return False
        literal = _literal(self.kind)
        if literal is not None:
            return wanted == literal
        return _found(creds, self.kind.split("."), wanted)


def parse(text: str) -> Check:
    """Parse one check string; ConfigError says what is wrong with it."""
    tokens = list(_tokens(text))
    if not tokens:
        return Constant(True)
    parser = _Parser(tokens, text)
    check = parser.expression()
    if parser.position != len(tokens):
        raise ConfigError(f"{text!r}: unexpected {tokens[parser.position][1]!r}")
    return check


def _format(match: str, target: Target) -> str | None:
    if "%(" not in match:
        return match
    try:
        return match % _MissingIsError(target)
    except (KeyError, TypeError, ValueError):
        return None


class _MissingIsError(dict[str, Any]):
    """Target lookups for ``%`` formatting; a missing key fails the check."""

    def __init__(self, target: Target) -> None:
        super().__init__()
        self._target = target

    def __getitem__(self, key: str) -> Any:
        value = self._target
        for part in key.split(".") if key not in self._target else [key]:
            if not isinstance(value, Mapping) or part not in value:
                raise KeyError(key)
            value = value[part]
        if value is None:
            raise KeyError(key)
        return value


def _literal(kind: str) -> str | None:
    """The string form of ``kind`` if it is a Python literal (``'public'``, ``True``)."""
    if not kind or not (kind[0] in "'\"" or kind in ("True", "False") or kind[0].isdigit()):
        return None
    try:
        return str(ast.literal_eval(kind))
    except (ValueError, SyntaxError):
        return None


def _found(value: Any, path: Sequence[str], wanted: str) -> bool:
    if value is None:
        return False
    if not path:
        if isinstance(value, list | tuple | set | frozenset):
            return any(str(item) == wanted for item in value)
        return str(value) == wanted
    if isinstance(value, Mapping) and path[0] in value:
        return _found(value[path[0]], path[1:], wanted)
    if isinstance(value, list | tuple):
        return any(_found(item, path, wanted) for item in value)
    return False


def _tokens(text: str) -> list[tuple[str, str]]:
    """Split on white space, then peel parentheses off each word, as oslo.policy does."""
    found: list[tuple[str, str]] = []
    for word in text.split():
        bare = word.lstrip("(")
        found += [("(", "(")] * (len(word) - len(bare))
        if not bare:
            continue
        core = bare.rstrip(")")
        closing = len(bare) - len(core)
        if core:
            lowered = core.lower()
            if lowered in ("and", "or", "not"):
                found.append((lowered, core))
            else:
                found.append(("check", core))
        found += [(")", ")")] * closing
    return found


class _Parser:
    """Recursive descent over the tokens: or > and > not > atom."""

    def __init__(self, tokens: list[tuple[str, str]], text: str) -> None:
        self.tokens = tokens
        self.text = text
        self.position = 0

    def _peek(self) -> str | None:
        return self.tokens[self.position][0] if self.position < len(self.tokens) else None

    def _fail(self, what: str) -> ConfigError:
        return ConfigError(f"{self.text!r}: {what}")

    def expression(self) -> Check:
        parts = [self._conjunction()]
        while self._peek() == "or":
            self.position += 1
            parts.append(self._conjunction())
        return parts[0] if len(parts) == 1 else Any_(tuple(parts))

    def _conjunction(self) -> Check:
        parts = [self._negation()]
        while self._peek() == "and":
            self.position += 1
            parts.append(self._negation())
        return parts[0] if len(parts) == 1 else All(tuple(parts))

    def _negation(self) -> Check:
        if self._peek() == "not":
            self.position += 1
            return Not(self._negation())
        return self._atom()

    def _atom(self) -> Check:
        kind = self._peek()
        if kind is None:
            raise self._fail("ends too early")
        token = self.tokens[self.position][1]
        self.position += 1
        if kind == "(":
            inner = self.expression()
            if self._peek() != ")":
                raise self._fail("a parenthesis is not closed")
            self.position += 1
            return inner
        if kind != "check":
            raise self._fail(f"unexpected {token!r}")
        return _check(token, self._fail)


def _check(word: str, fail: Callable[[str], ConfigError]) -> Check:
    if word in ("@", "!"):
        return Constant(word == "@")
    kind, colon, match = word.partition(":")
    if not colon:
        raise fail(f"{word!r} is not a check of the form kind:match")
    if kind == "rule":
        return RuleCheck(match)
    if kind == "role":
        return RoleCheck(match)
    if kind in ("http", "https"):
        raise fail("remote http(s) checks are not supported")
    return GenericCheck(kind, match)
