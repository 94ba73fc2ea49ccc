"""The query string of ``GET /v2/images``, parsed as Glance parses it, and the paging links.

Glance clients build these queries by hand, so what they send must mean here what it
means to Glance: ``op:value`` values (``name=a:b`` is a 400 unless written
``name=eq:a:b``), ``in:`` lists with double-quoted items, two sort syntaxes that may
not be mixed, tie-breakers that take the direction of a lone sort direction, and the
same 400 messages. The result is a ``ListQuery`` whose sort is a total order ending in
``id``, so the registry can page with a keyset cursor.

Glance reads the parameters through a webob MultiDict, and a few of its results are
accidents of that (a repeated ``limit`` turns into a property filter; ``next`` keeps
only the last of repeated ``tag`` values and so changes the result set). Here:
``limit``, ``marker``, ``member_status`` and ``sort`` take their first value, as
Glance's ``pop`` does, and further copies are ignored; every filter key takes its
last value, as Glance's dict of filters does; ``tag``, ``sort_key`` and ``sort_dir``
collect every value; and the links keep every parameter, repeats included.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlencode

from glimpse.attributes import INT32_MAX, INT64_MAX, MAX_STRING
from glimpse.errors import Invalid
from glimpse.model import Filter, ListQuery, Visibility

SORT_KEYS = (
    "name",
    "status",
    "container_format",
    "disk_format",
    "size",
    "id",
    "created_at",
    "updated_at",
)
SORT_DIRS = ("asc", "desc")
DEFAULT_SORT_KEY = "created_at"
DEFAULT_SORT_DIR = "desc"
#: Appended when absent, in this order, so that the order is total.
TIE_BREAKERS = ("created_at", "id")

#: Columns that accept ``eq:`` and ``in:`` (and no other operator).
LIST_COLUMNS = ("name", "id", "status", "container_format", "disk_format")
DATE_COLUMNS = ("created_at", "updated_at")
DATE_OPS = ("gt", "gte", "lt", "lte", "neq", "eq")
#: Other image columns: Glance compares any key naming an image column by plain
#: equality (no ``op:`` parsing), and ``<integer column>_min``/``_max`` as bounds.
TEXT_COLUMNS = ("owner", "checksum", "os_hash_algo", "os_hash_value")
INT_COLUMNS = ("size", "virtual_size", "min_disk", "min_ram")
MEMBER_STATUSES = ("pending", "accepted", "rejected", "all")
#: The largest value each integer column holds: sizes are 64-bit, the rest 32-bit.
_COLUMN_LIMITS = {
    "size": INT64_MAX,
    "virtual_size": INT64_MAX,
    "min_disk": INT32_MAX,
    "min_ram": INT32_MAX,
}
#: Tag and property filters one list may combine; each is a subquery, and databases
#: bound how deep one expression may go.
MAX_MATCHES = 256
VISIBILITIES = (*(v.value for v in Visibility), "all")

_FIRST_VALUE = frozenset({"limit", "marker", "member_status", "sort"})
_ALL_VALUES = frozenset({"sort_key", "sort_dir", "tag"})
#: Glance overwrites ``deleted`` with False before it filters, so a client's is moot.
_IGNORED = frozenset({"deleted"})
_BOUNDS = {
    f"{column}_{end}": (column, op)
    for column in INT_COLUMNS
    for end, op in (("min", "gte"), ("max", "lte"))
}

# The ISO 8601 subset of the ``iso8601`` package, which Glance parses dates with:
# YYYY, YYYY-MM, YYYY-MM-DD or YYYYMMDD, then optionally a "T" or " ", hh, [:]mm,
# [:]ss[.fraction] and Z or +hh[:][mm]. A missing zone means UTC.
_ISO_8601 = re.compile(
    r"""
    (?P<year>[0-9]{4})
    (?:
        (?: -(?P<month_dash>[0-9]{1,2}) | (?P<month>[0-9]{2})(?!$) )
        (?:
            (?: -(?P<day_dash>[0-9]{1,2}) | (?P<day>[0-9]{2}) )
            (?:
                [ T](?P<hour>[0-9]{2})
                (?: :?(?P<minute>[0-9]{2}) )?
                (?: :?(?P<second>[0-9]{1,2}) (?: [.,](?P<fraction>[0-9]+) )? )?
                (?P<zone> Z | (?P<sign>[-+])(?P<zone_hour>[0-9]{2}):?(?P<zone_minute>[0-9]{2})? )?
            )?
        )?
    )?
    $
    """,
    re.VERBOSE,
)
# One item of an ``in:`` list: a double-quoted run (backslash escapes kept as
# written), an unquoted run, or a bare comma (an empty item).
_LIST_ITEM = re.compile(r'"((?:[^"\\]|\\.)*)",?|([^,]+),?|,')


def parse_list_query(
    params: Sequence[tuple[str, str]], *, limit_default: int = 25, limit_max: int = 1000
) -> ListQuery:
    """Turn the decoded query pairs of ``GET /v2/images`` into a ``ListQuery``.

    Args:
        params: the query pairs in request order; keys may repeat.
        limit_default: the page size when ``limit`` is absent (still capped).
        limit_max: the cap on any page size.

    Raises:
        Invalid: with Glance's message, for any value Glance answers 400 to. Checks
            run in Glance's order, so a request with several faults gets the same
            message. The marker is not looked up here.

    Example: ``[("sort", "name:asc"), ("tag", "a"), ("tag", "b")]`` gives the sort
    ``(("name", "asc"), ("created_at", "asc"), ("id", "asc"))`` and the tags
    ``("a", "b")``, which must all be present.
    """
    first: dict[str, str] = {}
    every: dict[str, list[str]] = {key: [] for key in _ALL_VALUES}
    filters: dict[str, str] = {}
    for key, value in params:
        if "\x00" in key or "\x00" in value:
            # PostgreSQL text cannot hold U+0000: refused here, not failed in the registry.
            raise Invalid("Query parameters must not contain the NUL character (%00).")
        if key in _ALL_VALUES:
            every[key].append(value)
        elif key in _FIRST_VALUE:
            first.setdefault(key, value)
        else:
            filters[key] = value

    visibility = filters.get("visibility")
    if visibility and visibility not in VISIBILITIES:
        raise Invalid(f"Invalid visibility value: {visibility}")
    if "changes-since" in filters:
        raise Invalid('The "changes-since" filter is no longer available on v2.')
    member_status = first.get("member_status", "accepted")
    if member_status not in MEMBER_STATUSES:
        raise Invalid(f"Invalid status: {member_status}")
    limit = _limit(first.get("limit"), limit_default, limit_max)
    sort = _sort(first.get("sort"), every["sort_key"], every["sort_dir"])
    os_hidden = _true_or_false("os_hidden", filters.get("os_hidden", "false").lower())
    if "protected" in filters:
        _true_or_false("protected", filters["protected"])

    conditions: list[Filter] = []
    properties: list[tuple[str, str]] = []
    size_min = size_max = None
    for key, value in filters.items():
        if key in ("os_hidden", "changes-since") or key in _IGNORED:
            continue
        if key == "visibility":
            # An empty value is not checked by Glance and matches no image.
            if value != "all":
                conditions.append(Filter("visibility", "eq", value))
        elif key == "protected":
            conditions.append(Filter("protected", "eq", value == "true"))
        elif key in _BOUNDS:
            column, op = _BOUNDS[key]
            bound = _integer(value, "Unable to filter on a range with a non-numeric value.")
            _check_range(key, column, bound)
            if key == "size_min":
                size_min = bound
            elif key == "size_max":
                size_max = bound
            else:
                conditions.append(Filter(column, op, bound))
        elif key in DATE_COLUMNS:
            conditions.append(_date_filter(key, value))
        elif key in LIST_COLUMNS:
            conditions.append(_list_filter(key, value))
        elif key in TEXT_COLUMNS:
            conditions.append(Filter(key, "eq", value))
        elif key in INT_COLUMNS:
            message = f"Unable to filter on {key} with a non-numeric value."
            number = _integer(value, message)
            _check_range(key, key, number)
            conditions.append(Filter(key, "eq", number))
        else:
            properties.append((key, value))

    tags = tuple(tag.strip() for tag in every["tag"])
    for tag in tags:
        if len(tag) > MAX_STRING:
            raise Invalid(f"Invalid tag filter: tags have at most {MAX_STRING} characters")
    if len(tags) + len(properties) > MAX_MATCHES:
        raise Invalid(f"Too many tag and property filters: at most {MAX_MATCHES} may be combined")

    return ListQuery(
        filters=tuple(conditions),
        properties=tuple(properties),
        tags=tags,
        size_min=size_min,
        size_max=size_max,
        os_hidden=os_hidden,
        sort=sort,
        limit=limit,
        marker=first.get("marker"),
        member_status=member_status,
    )


def first_link(params: Sequence[tuple[str, str]]) -> str:
    """The ``first`` link: ``/v2/images``, plus the request's parameters minus ``marker``.

    Parameters keep their order and repeats and are form-encoded as Glance encodes
    them (``urlencode``: a space is ``+``, ``:`` is ``%3A``).
    """
    kept = [(key, value) for key, value in params if key != "marker"]
    return f"/v2/images?{urlencode(kept)}" if kept else "/v2/images"


def next_link(params: Sequence[tuple[str, str]], marker: str) -> str:
    """The ``next`` link: every parameter of the request but ``marker``, then ``marker``.

    Example: ``next_link([("tag", "a"), ("tag", "b"), ("marker", "x")], "y")`` is
    ``/v2/images?tag=a&tag=b&marker=y``.
    """
    kept = [(key, value) for key, value in params if key != "marker"]
    return f"/v2/images?{urlencode([*kept, ('marker', marker)])}"


def parse_iso8601(text: str) -> datetime:
    """Parse a date as Glance's list filters do; the result is aware and in UTC.

    Raises:
        ValueError: if ``text`` is not in the accepted form or names no real instant.
    """
    match = _ISO_8601.match(text)
    if match is None:
        raise ValueError(f"Unable to parse date string {text!r}")
    part = match.groupdict()
    zone: timezone = UTC
    if part["sign"] is not None:
        sign = -1 if part["sign"] == "-" else 1
        offset = timedelta(hours=int(part["zone_hour"]), minutes=int(part["zone_minute"] or 0))
        zone = timezone(sign * offset)  # ValueError past 24 hours
    try:
        moment = datetime(
            int(part["year"]),
            int(part["month"] or part["month_dash"] or 1),
            int(part["day"] or part["day_dash"] or 1),
            int(part["hour"] or 0),
            int(part["minute"] or 0),
            int(part["second"] or 0),
            int((part["fraction"] or "")[:6].ljust(6, "0")),
            tzinfo=zone,
        )
        return moment.astimezone(UTC)
    except OverflowError:  # an offset that moves the instant out of years 1-9999
        raise ValueError(f"Date out of range: {text!r}") from None


def _limit(raw: str | None, default: int, maximum: int) -> int:
    if raw is None:
        return min(default, maximum)
    limit = _integer(raw, "limit param must be an integer")
    if limit < 0:
        raise Invalid("limit param must be positive")
    return min(limit, maximum)


def _check_range(key: str, column: str, value: int) -> None:
    """A bound beyond what the column can hold is a client error, not a database one."""
    limit = _COLUMN_LIMITS[column]
    if not -limit <= value <= limit:
        shown = str(value) if len(str(value)) <= 40 else str(value)[:40] + "..."
        raise Invalid(f"Unable to filter on {key}: {shown} is beyond the range of {column}")


def _integer(raw: str, message: str) -> int:
    # int() on purpose: Glance uses it, so " 7", "+7" and "1_000" are numbers too.
    try:
        return int(raw)
    except ValueError:
        raise Invalid(message) from None


def _true_or_false(name: str, value: str) -> bool:
    if value not in ("true", "false"):
        raise Invalid(
            f"Invalid value '{value}' for '{name}' filter. Valid values are 'true' or 'false'."
        )
    return value == "true"


def _sort(
    new: str | None, sort_keys: list[str], sort_dirs: list[str]
) -> tuple[tuple[str, str], ...]:
    """The requested order, completed with the tie-breakers and cut after ``id``."""
    keys: list[str] = []
    dirs: list[str] = []
    if new is not None:
        if sort_keys or sort_dirs:
            raise Invalid("Old and new sorting syntax cannot be combined")
        for part in new.strip().split(","):
            key, _, direction = part.partition(":")
            keys.append(_sort_key(key.strip()))
            dirs.append(_sort_dir((direction or DEFAULT_SORT_DIR).strip()))
    else:
        keys = [_sort_key(key.strip()) for key in sort_keys]
        dirs = [_sort_dir(direction.strip()) for direction in sort_dirs]
        # One sort_dir applies to every key; otherwise there must be one per key.
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise Invalid("Number of sort dirs does not match the number of sort keys")
    keys = keys or [DEFAULT_SORT_KEY]
    dirs = dirs or [DEFAULT_SORT_DIR]
    # Glance gives the tie-breakers the direction only when exactly one direction
    # was given (one sort_dir, or a single sort=key[:dir]); otherwise desc. So
    # sort=name:asc adds created_at asc, id asc; sort=name:asc,size:asc adds desc.
    tie_dir = dirs[0] if len(dirs) == 1 else DEFAULT_SORT_DIR
    if len(dirs) == 1:
        dirs = dirs * len(keys)
    order = list(zip(keys, dirs, strict=True))
    order += [(key, tie_dir) for key in TIE_BREAKERS if key not in keys]
    # A repeated key and anything after the unique id cannot change the order;
    # dropping them gives the registry a short order that ends in id.
    total: list[tuple[str, str]] = []
    for key, direction in order:
        if all(key != seen for seen, _ in total):
            total.append((key, direction))
        if key == "id":
            break
    return tuple(total)


def _sort_key(key: str) -> str:
    if key not in SORT_KEYS:
        raise Invalid(
            f"Invalid sort key: {key}. It must be one of the following: {', '.join(SORT_KEYS)}."
        )
    return key


def _sort_dir(direction: str) -> str:
    if direction not in SORT_DIRS:
        raise Invalid(f"Invalid sort direction: {direction}")
    return direction


def _split_op(value: str) -> tuple[str, str]:
    """``op:operand`` -> (op, operand); no ``:``, or a whole ISO 8601 date, is ``eq``."""
    op, colon, operand = value.partition(":")
    if not colon:
        return "eq", value
    try:
        parse_iso8601(value)
    except ValueError:
        return op, operand
    return "eq", value


def _date_filter(column: str, value: str) -> Filter:
    op, operand = _split_op(value)
    try:
        moment = parse_iso8601(operand)
    except ValueError:
        raise Invalid(
            f'Bad "{column}" query filter format. Use ISO 8601 DateTime notation.'
        ) from None
    if op not in DATE_OPS:
        raise Invalid("Unable to filter on a unknown operator.")
    return Filter(column, op, moment)


def _list_filter(column: str, value: str) -> Filter:
    op, operand = _split_op(value)
    if op == "in":
        return Filter(column, "in", _split_list(operand))
    if op == "eq":
        return Filter(column, "eq", operand)
    raise Invalid(f"Unable to filter by unknown operator '{op}'.")


def _split_list(value: str) -> list[str]:
    """Split an ``in:`` operand on commas; ``"a,b",c`` is ``["a,b", "c"]``.

    A double quote preceded by a backslash does not open or close a quoted item. An
    opening quote must follow a comma or start the value, a closing quote must end
    it or precede a comma, and every quote must close.
    """
    inside = False
    for i, char in enumerate(value):
        if char != '"' or (i and value[i - 1] == "\\"):
            continue
        if not inside and i and value[i - 1] != ",":
            raise Invalid(
                f"Invalid filter value {value}. There is no comma before opening quotation mark."
            )
        if inside and i + 1 < len(value) and value[i + 1] != ",":
            raise Invalid(
                f"Invalid filter value {value}. There is no comma after closing quotation mark."
            )
        inside = not inside
    if inside:
        raise Invalid(f"Invalid filter value {value}. The quote is not closed.")
    return [match[1] or match[2] or "" for match in _LIST_ITEM.finditer(value)]
