"""A rollback for moto's ``TransactWriteItems`` that costs the items a transaction touches, not its tables.

moto's ``DynamoDBBackend.transact_write_items`` ``copy.deepcopy``s every table a transaction names before
it writes, so that it can put the copies back if an operation fails: a transaction costs time with the
size of its tables. The builtin labeling service answers with a 4-item transaction on a table that grows
with every answer, so the simulated crowd of ``make demo LABELING=builtin`` slowed to about 3 answers/s.

A transaction can only change the items its operations name (``Put`` by the key attributes of its
``Item``, ``Update``/``Delete``/``ConditionCheck`` by its ``Key``), and the stream records of their
tables. So :func:`install` makes moto's own ``transact_write_items`` (its checks, writes, cancellation
reasons and exceptions unchanged) keep its tables instead of copying them, and rolls a failed transaction
back from a snapshot of those items taken before it ran: each touched item as it was (a deep copy), or
absent again; each partition of a range-keyed table that did not exist before, gone again (moto's
reads create empty ones); each table's stream records as they were. A transaction whose touched keys
cannot be read from the request (a ``Put`` without its key attributes, a ``Key`` without them, an
unknown operation) runs exactly as moto runs it, table copies and all: such an operation fails before it
writes, and the copy keeps that certain.

This is only safe while nothing else changes the tables during a transaction: the local cloud serializes
moto's DynamoDB requests (:func:`local.moto_locks.serialize_dynamodb`), and the copy is skipped only in
the thread that runs the transaction.

**Patch points** (installed by :func:`install`, restored by the callable it returns):
``moto.dynamodb.models.DynamoDBBackend.transact_write_items`` (wrapped), and the ``copy`` module that
``moto.dynamodb.models`` imported (a stand-in whose ``deepcopy`` returns a ``Table`` itself while the
wrapper runs in this thread, and is ``copy.deepcopy`` otherwise). :func:`check_moto_compatibility` checks
that moto's transaction still copies its tables with ``copy.deepcopy`` into ``original_table_state``.
"""

from __future__ import annotations

import copy
import inspect
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

from local.moto_compat import raise_if_changed

_STATE = threading.local()
_INSTALL_LOCK = threading.Lock()
_INSTALLED: dict[str, Any] = {}


def _deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """``copy.deepcopy``, except for a ``Table`` while this thread runs a snapshotted transaction."""
    if isinstance(value, Table) and getattr(_STATE, "keep_tables", False):
        return value
    return copy.deepcopy(value, memo)


_COPY_STANDIN = SimpleNamespace(**{name: getattr(copy, name) for name in copy.__all__})
_COPY_STANDIN.deepcopy = _deepcopy


@dataclass
class _TableSnapshot:
    """What a transaction may change in one table, as it was before the transaction."""

    table: Table
    # (hash, range or None) -> deep copy of the item, or None where there was no item
    items: dict[tuple[DynamoType, DynamoType | None], Item | None] = field(default_factory=dict)
    partitions: set[DynamoType] = field(default_factory=set)  # range-keyed tables: partitions that existed
    stream_records: list[Any] | None = None

    def take(self, hash_value: DynamoType, range_value: DynamoType | None) -> None:
        """Remember the item under this key (once: the first snapshot is the state before)."""
        if (hash_value, range_value) in self.items:
            return
        items: Any = self.table.items  # moto annotates it loosely: hash -> Item, or hash -> range -> Item
        if range_value is None:
            current = items.get(hash_value)
        else:
            partition = items.get(hash_value)
            if partition is not None:
                self.partitions.add(hash_value)
            current = partition.get(range_value) if partition is not None else None
        self.items[(hash_value, range_value)] = copy.deepcopy(current) if current is not None else None

    def restore(self) -> None:
        """Put every remembered item back as it was (absent where it was absent)."""
        items: Any = self.table.items  # moto annotates it loosely: hash -> Item, or hash -> range -> Item
        for (hash_value, range_value), before in self.items.items():
            if range_value is None:
                if before is None:
                    items.pop(hash_value, None)
                else:
                    items[hash_value] = before
                continue
            if before is not None:
                items[hash_value][range_value] = before
                continue
            partition = items.get(hash_value)
            if partition is not None:
                partition.pop(range_value, None)
                if not partition and hash_value not in self.partitions:
                    del items[hash_value]
        shard = self.table.stream_shard
        if shard is not None and self.stream_records is not None:
            shard.items = self.stream_records


def _key_values(table: Table, key: Mapping[str, Any]) -> tuple[DynamoType, DynamoType | None]:
    """The table's key of ``key`` (KeyError when it lacks a key attribute)."""
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr is not None else None
    return hash_value, range_value


def snapshot(backend: DynamoDBBackend, transact_items: Sequence[Any]) -> list[_TableSnapshot] | None:
    """The items ``transact_items`` may change, as they are; None when a touched key cannot be read
    from the request (the transaction then runs with moto's own table copies)."""
    tables: dict[str, _TableSnapshot] = {}
    try:
        for entry in transact_items:
            if not isinstance(entry, Mapping) or len(entry) != 1:
                return None
            op_type, op = next(iter(entry.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"} or not isinstance(op, Mapping):
                return None
            name = op.get("TableName")
            if not isinstance(name, str) or name not in backend.tables:
                continue  # moto answers ResourceNotFound for this operation: it writes nothing
            table = backend.tables[name]
            key = op["Item"] if op_type == "Put" else op["Key"]
            hash_value, range_value = _key_values(table, key)
            if name not in tables:
                shard = table.stream_shard
                tables[name] = _TableSnapshot(
                    table, stream_records=list(shard.items) if shard is not None else None
                )
            tables[name].take(hash_value, range_value)
    except (KeyError, TypeError, AttributeError):
        return None
    return list(tables.values())


def check_moto_compatibility() -> None:
    """Raise :class:`~local.moto_compat.MotoInternalsChanged` if moto's transaction no longer copies
    its tables the way :func:`install` relies on."""
    problems: list[str] = []
    method = getattr(DynamoDBBackend, "transact_write_items", None)
    if method is None:
        problems.append("DynamoDBBackend.transact_write_items is missing")
    else:
        source = inspect.getsource(method)
        for needle in ("original_table_state[table_name] = copy.deepcopy(", "self.tables[table_name]"):
            if needle not in source:
                problems.append(f"DynamoDBBackend.transact_write_items no longer has {needle!r}")
        if tuple(inspect.signature(method).parameters) != ("self", "transact_items"):
            problems.append("DynamoDBBackend.transact_write_items changed its parameters")
    if getattr(dynamodb_models, "copy", None) is not copy:
        problems.append("moto.dynamodb.models no longer imports the copy module as `copy`")
    for attribute in ("items", "stream_shard", "hash_key_attr", "range_key_attr"):
        if attribute not in inspect.getsource(Table.__init__):
            problems.append(f"Table.{attribute} is no longer set in Table.__init__")
    raise_if_changed("local.moto_transactions", problems)


def install() -> Callable[[], None]:
    """Roll moto's failed transactions back from snapshots of their items (see the module docstring);
    returns the function that undoes it. RuntimeError if already installed."""
    with _INSTALL_LOCK:
        if _INSTALLED:
            raise RuntimeError("local.moto_transactions is already installed")
        check_moto_compatibility()
        original = DynamoDBBackend.transact_write_items

        def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
            before = snapshot(self, transact_items) if isinstance(transact_items, list) else None
            if before is None or getattr(_STATE, "keep_tables", False):
                return original(self, transact_items)
            _STATE.keep_tables = True
            try:
                return original(self, transact_items)
            except BaseException:
                for table in before:
                    table.restore()
                raise
            finally:
                _STATE.keep_tables = False

        _INSTALLED.update(method=original)
        DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
        dynamodb_models.copy = _COPY_STANDIN  # type: ignore[assignment]

    def restore() -> None:
        with _INSTALL_LOCK:
            if _INSTALLED:
                DynamoDBBackend.transact_write_items = _INSTALLED.pop("method")  # type: ignore[method-assign]
                dynamodb_models.copy = copy

    return restore
