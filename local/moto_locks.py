"""One DynamoDB request at a time in moto's server, which is not thread-safe.

moto's ``TransactWriteItems`` deep-copies every table it touches to roll back on failure; a concurrent
``PutItem``/``UpdateItem`` from another server thread (the labeling API serves several simulated labelers at
once) changes the table during the copy and moto fails with ``RuntimeError: dictionary changed size
during iteration`` (HTTP 500). DynamoDB itself is safe under concurrency, so the local cloud serializes
moto's DynamoDB request handling.

**Patch point** (installed by :func:`serialize_dynamodb`, restored by the returned callable):
``moto.dynamodb.responses.DynamoHandler.call_action``, wrapped in a process-wide lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.responses import DynamoHandler

from local.moto_compat import MotoInternalsChanged

_LOCK = threading.RLock()
_ORIGINAL: dict[str, Callable[..., Any]] = {}


def serialize_dynamodb() -> Callable[[], None]:
    """Make moto handle one DynamoDB request at a time; returns the function that undoes it."""
    original = getattr(DynamoHandler, "call_action", None)
    if not callable(original):
        raise MotoInternalsChanged("local.moto_locks: moto's DynamoHandler.call_action is missing")
    with _LOCK:
        if "call_action" in _ORIGINAL:
            raise RuntimeError("local.moto_locks is already installed")
        _ORIGINAL["call_action"] = original

        def call_action(self: DynamoHandler) -> Any:
            with _LOCK:
                return original(self)

        DynamoHandler.call_action = call_action  # type: ignore[method-assign]

    def restore() -> None:
        with _LOCK:
            if "call_action" in _ORIGINAL:
                DynamoHandler.call_action = _ORIGINAL.pop("call_action")  # type: ignore[method-assign]

    return restore
