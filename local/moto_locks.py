"""Locks around moto internals that are not thread-safe: DynamoDB requests, and S3's URL-module reload.

moto's ``TransactWriteItems`` deep-copies every table it touches to roll back on failure; a concurrent
``PutItem``/``UpdateItem`` from another server thread (the labeling API serves several simulated labelers at
once) changes the table during the copy and moto fails with ``RuntimeError: dictionary changed size
during iteration`` (HTTP 500). DynamoDB itself is safe under concurrency, so the local cloud serializes
moto's DynamoDB request handling.

**Patch point** (installed by :func:`serialize_dynamodb`, restored by the returned callable):
``moto.dynamodb.responses.DynamoHandler.call_action``, wrapped in a process-wide lock.

moto's S3 backend answers its ``_url_module`` property with ``importlib.reload(moto.s3.urls)`` on every
access, and in-process mocking (``mock_aws``) reads it on every request. ``importlib.reload`` is not
thread-safe: while one thread re-executes the module, the module is briefly out of ``sys.modules`` and a
second thread's reload fails with ``ImportError: module moto.s3.urls not in sys.modules``. So concurrent S3
calls (the evaluate function's parallel fetches, a local training job beside its caller) fail at random,
where S3 itself is safe under concurrency. **Patch point** (installed once per process by
:func:`serialize_s3_url_reload`): ``moto.s3.models.S3Backend._url_module``, wrapped in a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.responses import DynamoHandler
from moto.s3.models import S3Backend

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


_S3_URLS_LOCK = threading.Lock()


def serialize_s3_url_reload() -> None:
    """Make moto reload ``moto.s3.urls`` one thread at a time (see the module docstring); idempotent."""
    current = S3Backend.__dict__.get("_url_module")
    if not isinstance(current, property) or current.fget is None:
        raise MotoInternalsChanged("local.moto_locks: moto's S3Backend._url_module property is missing")
    if getattr(current.fget, "serialized_by_gtpipe", False):
        return
    original = current.fget

    def url_module(self: S3Backend) -> Any:
        with _S3_URLS_LOCK:
            return original(self)

    url_module.serialized_by_gtpipe = True  # type: ignore[attr-defined]
    S3Backend._url_module = property(url_module)  # type: ignore[method-assign,assignment]
