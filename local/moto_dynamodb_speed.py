"""Two of moto's DynamoDB costs cut to what the request touches: partition queries and item serialization.

A profile of ``make demo LABELING=builtin`` (py-spy on the demo's process while the simulated crowd labels
800 digits) put about 80 % of the local cloud's CPU in moto's DynamoDB handler, nearly all of it in two places
whose cost grows with the table, not with the request:

1. ``Table.query`` on a table's own key sorts *every item of the table* (``Table.all_items``), keeps the
   queried partition, sorts it by the sort key (``DynamoType`` comparisons) and walks it from the first item,
   comparing each sort key with the key condition. The builtin labeling service keeps a job's objects, answers
   and workers in one partition, so each lease's query cost grew with every answer of every job.
   :func:`install` gives moto's own ``Table.query`` (its paging, limits, filters, projections and
   ``LastEvaluatedKey`` unchanged) only the queried partition, sorted once by the sort keys' values, starting
   at the key condition's first possible item and ending one item after its last (so a ``Limit`` reached on the
   last match still yields a ``LastEvaluatedKey``, as moto and DynamoDB give it). Queries of an index, of a
   table without a sort key, with legacy ``KeyConditions``/``QueryFilter`` arguments, or whose key condition
   values are not of the sort key's type run exactly as moto runs them.
   One difference from moto, towards AWS: moto also counts the size of items past the key condition against
   the 1 MB page limit; DynamoDB reads only the items the key condition selects
   (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.Pagination.html).
2. moto's JSON serializer walks every ``AttributeValue`` of a response member by member through its shape
   model (an alias search per member). An ``AttributeValue`` that comes out of moto's tables is already a
   wire-format dict (``{"S": ...}``, ``{"M": {...}}``); :func:`install` serializes such a dict with the same
   conversions the shape walk applies (strings through ``str``, binaries base64 encoded, ``M``/``L``
   recursively, booleans as they are) in one pass. Anything else (an unknown member, a non-dict value, a
   serializer with response transformers) takes moto's walk.

Both change how fast moto answers, never what it answers: ``tests/local_cloud/test_moto_dynamodb_speed.py``
compares each with moto's own on the same requests. They are safe under concurrent requests as moto is (the
query reads the table as moto's does; the local cloud serializes DynamoDB requests anyway,
:func:`local.moto_locks.serialize_dynamodb`).

**Patch points** (installed by :func:`install`, restored by the callable it returns): ``Table.query``
(wrapped) and ``BaseJSONSerializer._serialize_type_structure`` (wrapped); :func:`check_moto_compatibility`
checks that moto still reads the partition through ``self.all_items()`` and sorts it by ``range_key``.
"""

from __future__ import annotations

import bisect
import inspect
import threading
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from moto.core.serialize import BaseJSONSerializer
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

from local.moto_compat import raise_if_changed

_INSTALL_LOCK = threading.Lock()
_INSTALLED: dict[str, Any] = {}

ATTRIBUTE_VALUE_MEMBERS = frozenset({"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"})
"""The members of DynamoDB's ``AttributeValue`` union
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_AttributeValue.html)."""


# --- 1. queries: the partition, from the key condition's first item --------------------------------------


class _Partition:
    """The table as ``Table.query`` sees it, except that ``all_items`` is the query's candidates."""

    def __init__(self, table: Table, candidates: list[Item]) -> None:
        self._table = table
        self._candidates = candidates

    def all_items(self) -> list[Item]:
        return self._candidates

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


def _bounds(keys: Sequence[Any], comparison: str | None, values: list[Any]) -> tuple[int, int] | None:
    """``(start, end)``: ``keys[start:end]`` are the sorted keys the comparison selects (None: not known)."""
    count = len(keys)
    if comparison is None:
        return 0, count
    if comparison in ("EQ", "="):
        return bisect.bisect_left(keys, values[0]), bisect.bisect_right(keys, values[0])
    if comparison == "BETWEEN":
        start = bisect.bisect_left(keys, values[0])
        return start, max(start, bisect.bisect_right(keys, values[1]))
    if comparison in ("GT", ">"):
        return bisect.bisect_right(keys, values[0]), count
    if comparison in ("GE", ">="):
        return bisect.bisect_left(keys, values[0]), count
    if comparison in ("LT", "<"):
        return 0, bisect.bisect_left(keys, values[0])
    if comparison in ("LE", "<="):
        return 0, bisect.bisect_right(keys, values[0])
    if comparison == "BEGINS_WITH" and isinstance(values[0], str):
        start = end = bisect.bisect_left(keys, values[0])
        while end < count and keys[end].startswith(values[0]):
            end += 1
        return start, end
    return None


def _sort_value(value: DynamoType) -> Any:
    """``value.cast_value`` of a string or number key, without its type checks (the hot path)."""
    return value.value if value.type == "S" else Decimal(value.value)


def _start_index(table: Table, keys: Sequence[Any], start: int, exclusive_start_key: Any) -> int | None:
    """Where a forward page after ``exclusive_start_key`` starts (the key's own item included: moto skips
    it), no earlier than ``start``; None when the key's sort value cannot be read."""
    if exclusive_start_key is None:
        return start
    try:
        value = DynamoType(exclusive_start_key[table.range_key_attr])
    except (KeyError, TypeError, IndexError):
        return None
    if value.type != ("S" if isinstance(keys[0], str) else "N"):
        return None
    return max(start, bisect.bisect_left(keys, _sort_value(value)))


def _candidates(
    table: Table,
    hash_key: Any,
    comparison: str | None,
    range_objs: list[Any],
    page: tuple[bool, Any, Any],
) -> list[Item] | None:
    """The partition's items a query with this key condition and ``page`` (forward, limit, exclusive start
    key) can reach, in sort key order, plus the item next to the last one it can reach; None when the query
    must run as moto runs it."""
    if not isinstance(hash_key, DynamoType) or table.range_key_attr is None:
        return None
    partition = table.items.get(hash_key)
    if not partition:
        return []
    items = list(partition.values())
    try:
        types = {item.range_key.type for item in items}
        values = [item.range_key.value for item in items]
    except AttributeError:  # an item without a sort key: moto's own way
        return None
    if len(types) != 1 or not types <= {"S", "N"}:
        return None
    key_type = next(iter(types))
    if any(not isinstance(obj, DynamoType) or obj.type != key_type for obj in range_objs):
        return None
    if key_type == "N":
        values = [Decimal(value) for value in values]
    # DynamoType orders by cast_value (moto's own sort key: the string, or the number as a Decimal), so
    # sorting the values orders the items alike. One pass over the partition's keys, the sort in C.
    order = sorted(range(len(values)), key=values.__getitem__)
    keys = [values[index] for index in order]
    bounds = _bounds(keys, comparison, [_sort_value(obj) for obj in range_objs])
    if bounds is None:
        return None
    start, end = bounds
    forward, limit, exclusive_start_key = page
    if not forward:
        # One item past the matches (below them): moto sets LastEvaluatedKey when it meets an item after
        # reaching Limit, whether or not that item matches.
        return [items[index] for index in order[max(start - 1, 0) : end]]
    first = _start_index(table, keys, start, exclusive_start_key)
    if first is None:
        first = start
    elif isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
        # moto stops at the first item after Limit matches (the start key's own item is skipped, not
        # counted): nothing past it is read.
        end = min(end, first + limit + 1)
    # One item past the last one read, matching or not: the one that makes moto set LastEvaluatedKey.
    return [items[index] for index in order[first : end + 1]]


def _fast_query(original: Callable[..., Any]) -> Callable[..., Any]:
    def query(
        self: Table,
        hash_key: Any,
        range_comparison: str | None,
        range_objs: list[Any],
        limit: int,
        exclusive_start_key: Any,
        scan_index_forward: bool,
        projection_expressions: Any,
        index_name: str | None = None,
        consistent_read: bool = False,
        filter_expression: Any = None,
        hash_key_conditions: Any = None,
        range_key_conditions: Any = None,
        **filter_kwargs: Any,
    ) -> Any:
        arguments = (hash_key, range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward)
        options = {
            "projection_expressions": projection_expressions,
            "index_name": index_name,
            "consistent_read": consistent_read,
            "filter_expression": filter_expression,
            "hash_key_conditions": hash_key_conditions,
            "range_key_conditions": range_key_conditions,
            **filter_kwargs,
        }
        candidates = None
        if index_name is None and not filter_kwargs:
            page = (scan_index_forward is not False, limit, exclusive_start_key)
            candidates = _candidates(self, hash_key, range_comparison, list(range_objs or []), page)
        if candidates is None:
            return original(self, *arguments, **options)
        return original(_Partition(self, candidates), *arguments, **options)

    return query


# --- 2. serialization: AttributeValue dicts in one pass --------------------------------------------------


def _wire_value(serializer: BaseJSONSerializer, value: Any) -> dict[str, Any] | None:
    """The serialized form of one ``AttributeValue`` dict, as moto's shape walk makes it; None when the
    value is not a plain wire-format dict (the walk handles it)."""
    if not isinstance(value, dict) or not value.keys() <= ATTRIBUTE_VALUE_MEMBERS:
        return None
    out: dict[str, Any] = {}
    for member, item in value.items():
        if item is None:
            continue  # the walk skips members without a value
        if member in ("S", "N"):
            out[member] = str(item) if item not in ([], {}) else item
        elif member == "B":
            out[member] = serializer._base64(item)
        elif member in ("SS", "NS"):
            out[member] = [str(entry) if entry not in (None, [], {}) else entry for entry in item]
        elif member == "BS":
            out[member] = [serializer._base64(entry) for entry in item]
        elif member == "M":
            if not isinstance(item, dict):
                return None
            mapped = {}
            for key, entry in item.items():
                converted = _wire_value(serializer, entry)
                if converted is None:
                    return None
                mapped[key] = converted
            out[member] = mapped
        elif member == "L":
            if not isinstance(item, list):
                return None
            listed = []
            for entry in item:
                converted = _wire_value(serializer, entry)
                if converted is None:
                    return None
                listed.append(converted)
            out[member] = listed
        else:  # NULL, BOOL: booleans go out as they are
            out[member] = item
    return out


def _fast_structure(original: Callable[..., Any]) -> Callable[..., Any]:
    def serialize_structure(
        self: BaseJSONSerializer, serialized: Any, value: Any, shape: Any, key: str
    ) -> None:
        if (
            key
            and shape.name == "AttributeValue"
            and self.service_model.service_name in ("dynamodb", "dynamodbstreams")
            and not getattr(self._value_picker, "response_transformers", None)
        ):
            converted = _wire_value(self, value)
            if converted is not None:
                serialized[self.get_serialized_name(shape, key)] = converted
                return
        original(self, serialized, value, shape, key)

    return serialize_structure


# --- install ----------------------------------------------------------------------------------------------


def check_moto_compatibility() -> None:
    """Raise :class:`~local.moto_compat.MotoInternalsChanged` if moto's query or serializer no longer has the
    shape :func:`install` relies on."""
    problems: list[str] = []
    source = inspect.getsource(Table.query)
    for needle in ("for item in self.all_items()", "possible_results.sort(key=lambda item: item.range_key)"):
        if needle not in source:
            problems.append(f"Table.query no longer has {needle!r}")
    parameters = tuple(inspect.signature(Table.query).parameters)
    expected = (
        "self",
        "hash_key",
        "range_comparison",
        "range_objs",
        "limit",
        "exclusive_start_key",
        "scan_index_forward",
        "projection_expressions",
        "index_name",
        "consistent_read",
        "filter_expression",
        "hash_key_conditions",
        "range_key_conditions",
        "filter_kwargs",
    )
    if parameters != expected:
        problems.append(f"Table.query changed its parameters to {parameters}")
    if "items = defaultdict(dict)" not in inspect.getsource(Table.__init__):
        problems.append("Table.items is no longer a defaultdict(dict) of partitions")
    if "__lt__" not in vars(DynamoType) or "self.cast_value < other.cast_value" not in inspect.getsource(
        DynamoType.__lt__
    ):
        problems.append("DynamoType no longer orders by cast_value")
    if "_serialize_type_structure" not in vars(BaseJSONSerializer):
        problems.append("BaseJSONSerializer._serialize_type_structure is missing")
    raise_if_changed("local.moto_dynamodb_speed", problems)


def install() -> Callable[[], None]:
    """Install both speed-ups (see the module docstring); returns the function that undoes them.
    RuntimeError if already installed."""
    with _INSTALL_LOCK:
        if _INSTALLED:
            raise RuntimeError("local.moto_dynamodb_speed is already installed")
        check_moto_compatibility()
        _INSTALLED.update(query=Table.query, structure=BaseJSONSerializer._serialize_type_structure)
        Table.query = _fast_query(_INSTALLED["query"])  # type: ignore[method-assign]
        BaseJSONSerializer._serialize_type_structure = _fast_structure(_INSTALLED["structure"])  # type: ignore[method-assign]

    def restore() -> None:
        with _INSTALL_LOCK:
            if _INSTALLED:
                Table.query = _INSTALLED.pop("query")  # type: ignore[method-assign]
                BaseJSONSerializer._serialize_type_structure = _INSTALLED.pop("structure")  # type: ignore[method-assign]

    return restore
