"""boto3 sessions of the local cloud that share one botocore data loader.

Every :class:`boto3.session.Session` normally gets its own loader, so each new session parses botocore's
``endpoints.json``, partitions and the service's model again (a second or more of JSON decoding per client
on 2 loaded cores). The local cloud makes a new session for each of its clients, role clients and drivers
(boto3 sessions are not thread-safe, clients are:
https://boto3.amazonaws.com/v1/documentation/api/latest/guide/session.html#multithreading-or-multiprocessing-with-sessions),
so :func:`new_session` keeps a session per caller but lets them all read the same cached, never-mutated
model data.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3.session
import botocore.loaders
import botocore.session


class _UniquePaths(list[str]):
    """A search path list where appending a path already in it does nothing: boto3 appends its own data
    folder to the loader of every session it makes, which would grow a shared loader's list forever."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


class _SharedLoader(botocore.loaders.Loader):
    """A loader whose search paths stay unique (:class:`_UniquePaths`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        paths: list[str] = self.search_paths
        self._search_paths = _UniquePaths(paths)


_LOADER = _SharedLoader()
_LOCK = threading.Lock()


def new_session() -> boto3.session.Session:
    """A new boto3 session (one per caller or thread, as boto3 asks) reading the shared data loader."""
    with _LOCK:
        core = botocore.session.get_session()
        core.register_component("data_loader", _LOADER)
        return boto3.session.Session(botocore_session=core)
