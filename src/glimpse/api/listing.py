"""The query string of ``GET /v2/images``, parsed the way Glance parses it.

Clients depend on the details: ``op:value`` values (so ``name=a:b`` is an
error unless written ``name=eq:a:b``), ``in:`` lists with quoting, two sort
syntaxes that may not be mixed, and ``created_at``/``id`` tie-breakers that
take the direction of a single given ``sort_dir``. The result is a
``ListQuery`` whose sort is a total order ending in ``id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlencode

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
#: Columns that take ``in:`` lists (and ``eq:``) as Glance allows.
LIST_COLUMNS = ("name", "id", "status", "container_format", "disk_format")
#: Columns compared by plain equality.
EQUAL_COLUMNS = ("owner", "checksum", "os_hash_value")
DATE_COLUMNS = ("created_at", "updated_at")
DATE_OPS = ("gt", "gte", "lt", "lte", "eq", "neq")
MEMBER_STATUSES = ("pending", "accepted", "rejected", "all")
VISIBILITIES = (*(v.value for v in Visibility), "all")
#: Parameters that steer the listing rather than filter by a property.
_CONTROL = ("limit", "marker", "sort", "sort_key", "sort_dir", "tag", "member_status")


def parse_list_query(
    params: Sequence[tuple[str, str]], *, limit_default: int = 25, limit_max: int = 1000
) -> ListQuery:
    """Parse decoded query pairs (repeats allowed); Invalid (400) on any bad value."""
    single = _single_values(params)
    filters: list[Filter] = []
    properties: list[tuple[str, str]] = []
    size_min = size_max = None
    os_hidden = False
    for key, value in single.items():
        if key in _CONTROL:
            continue
        if key == "changes-since":
            raise Invalid("The 'changes-since' filter is no longer available on v2.")
        if key in LIST_COLUMNS:
            filters.append(_list_filter(key, value))
        elif key in DATE_COLUMNS:
            filters.append(_date_filter(key, value))
        elif key in EQUAL_COLUMNS:
            filters.append(Filter(key, "eq", value))
        elif key == "visibility":
            if value not in VISIBILITIES:
                raise Invalid(f"Invalid visibility value: {value}")
            if value != "all":
                filters.append(Filter("visibility", "eq", value))
        elif key == "protected":
            if value not in ("true", "false"):
                raise Invalid(
                    f"Invalid value '{value}' for 'protected' filter. Valid values "
                    "are 'true' or 'false'."
                )
            filters.append(Filter("protected", "eq", value == "true"))
        elif key == "os_hidden":
            os_hidden = _boolean("os_hidden", value)
        elif key in ("size_min", "size_max"):
            number = _integer(key, value)
            if key == "size_min":
                size_min = number
            else:
                size_max = number
        else:
            properties.append((key, value))
    member_status = single.get("member_status", "accepted")
    if member_status not in MEMBER_STATUSES:
        raise Invalid(f"Invalid status value: {member_status}")
    return ListQuery(
        filters=tuple(filters),
        properties=tuple(properties),
        tags=tuple(value for key, value in params if key == "tag"),
        size_min=size_min,
        size_max=size_max,
        os_hidden=os_hidden,
        sort=_sort(params),
        limit=_limit(single.get("limit"), limit_default, limit_max),
        marker=single.get("marker"),
    )


def first_link(params: Sequence[tuple[str, str]]) -> str:
    """``/v2/images`` with the request's parameters, minus the marker."""
    kept = [(k, v) for k, v in params if k != "marker"]
    return f"/v2/images?{urlencode(kept)}" if kept else "/v2/images"


def next_link(params: Sequence[tuple[str, str]], marker: str) -> str:
    """The next page: every original parameter, then ``marker``."""
    kept = [(k, v) for k, v in params if k != "marker"]
    return f"/v2/images?{urlencode([*kept, ('marker', marker)])}"


def _single_values(params: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The last value of each parameter, as a multi-dict's ``[]`` gives it."""
    found: dict[str, str] = {}
    for key, value in params:
        found[key] = value
    return found


def _limit(raw: str | None, default: int, maximum: int) -> int:
    if raw is None:
        return min(default, maximum)
    try:
        limit = int(raw)
    except ValueError:
        raise Invalid("limit param must be an integer") from None
    if limit < 0:
        raise Invalid("limit param must be positive")
    return min(limit, maximum)


def _integer(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise Invalid(f"{name} filter must be an integer, not {raw!r}") from None


def _boolean(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "t", "true", "on", "y", "yes"):
        return True
    if lowered in ("0", "f", "false", "off", "n", "no"):
        return False
    raise Invalid(f"Invalid value '{raw}' for '{name}' filter: expected a boolean")


def _split_op(value: str) -> tuple[str, str]:
    """``op:rest`` -> (op, rest); a value without ``:`` is an equality."""
    op, sep, rest = value.partition(":")
    return (op, rest) if sep else ("eq", value)


def _list_filter(column: str, raw: str) -> Filter:
    op, value = _split_op(raw)
    if op == "in":
        return Filter(column, "in", _split_quoted(value))
    if op == "eq":
        return Filter(column, "eq", value)
    raise Invalid(
        f"Unable to filter on a {column} with operator '{op}': use 'eq' or 'in', "
        f"e.g. {column}=eq:{raw}"
    )


def _split_quoted(value: str) -> list[str]:
    """Split ``a,"b,c",d`` on commas outside double quotes."""
    items: list[str] = []
    current: list[str] = []
    quoted = False
    closed = False
    for char in value:
        if char == '"':
            if quoted:
                quoted, closed = False, True
            elif not current:
                quoted = True
            else:
                raise Invalid(f"Invalid quoting in filter value {value!r}")
        elif char == "," and not quoted:
            items.append("".join(current))
            current, closed = [], False
        elif closed:
            raise Invalid(f"Invalid quoting in filter value {value!r}")
        else:
            current.append(char)
    if quoted:
        raise Invalid(f"Invalid quoting in filter value {value!r}: unclosed quote")
    items.append("".join(current))
    return items


def _date_filter(column: str, raw: str) -> Filter:
    op, value = _split_op(raw)
    if op not in DATE_OPS:
        raise Invalid(f"Invalid operator '{op}' for {column}: use one of {', '.join(DATE_OPS)}")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"Invalid time format for {column}: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return Filter(column, op, moment.astimezone(UTC))


def _sort(params: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    new = [v for k, v in params if k == "sort"]
    keys = [v for k, v in params if k == "sort_key"]
    dirs = [v for k, v in params if k == "sort_dir"]
    if new and (keys or dirs):
        raise Invalid("Old and new sorting syntax cannot be combined")
    if new:
        keys, dirs = [], []
        for part in ",".join(new).split(","):
            key, sep, direction = part.strip().partition(":")
            keys.append(key.strip())
            dirs.append(direction.strip() if sep else "desc")
    for key in keys:
        if key not in SORT_KEYS:
            raise Invalid(f"Invalid sort key: {key}. It should be one of: {', '.join(SORT_KEYS)}")
    for direction in dirs:
        if direction not in SORT_DIRS:
            raise Invalid(f"Invalid sort direction: {direction}")
    if not keys:
        keys = ["created_at"]
    default_dir = "desc"
    if not dirs:
        dirs = [default_dir] * len(keys)
    elif len(dirs) == 1 and len(keys) > 1 and not new:
        default_dir = dirs[0]
        dirs = dirs * len(keys)
    elif len(dirs) != len(keys):
        raise Invalid("Number of sort dirs does not match the number of sort keys")
    if len(dirs) == 1:
        default_dir = dirs[0]
    order = list(zip(keys, dirs, strict=True))
    for tie_breaker in ("created_at", "id"):
        if tie_breaker not in keys:
            order.append((tie_breaker, default_dir))
    return tuple(order)
