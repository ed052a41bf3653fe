"""moto's in-process S3 under concurrent requests (``local.moto_locks.serialize_s3_url_reload``).

moto re-imports ``moto.s3.urls`` with ``importlib.reload`` on every in-process S3 request; two threads
reloading at once fail with ``ImportError: module moto.s3.urls not in sys.modules``. S3 itself is safe
under concurrency, and the evaluate function fetches transform outputs in parallel, so this must hold.
"""

from __future__ import annotations

import importlib
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import boto3
import moto.s3.models
import pytest
from moto import mock_aws
from moto.s3.models import S3Backend


def test_the_url_reload_is_serialized_once_installed() -> None:
    # given the test session's setup (tests/conftest.py installs the lock, as the local cloud does)
    fget = S3Backend.__dict__["_url_module"].fget
    # then moto's property is the serialized one
    assert getattr(fget, "serialized_by_gtpipe", False) is True


def reload_with_a_wide_window(module: ModuleType) -> ModuleType:
    """importlib.reload, with the moment it has the module out of sys.modules held open for 20 ms (the
    window importlib's ``_exec`` has while it re-executes the module), so a race shows every time."""
    name = module.__name__
    if sys.modules.get(name) is not module:
        raise ImportError(f"module {name} not in sys.modules", name=name)
    sys.modules.pop(name)
    time.sleep(0.02)
    sys.modules[name] = module
    return importlib.reload(module)


def test_concurrent_s3_requests_all_succeed(monkeypatch: pytest.MonkeyPatch) -> None:
    # given moto's reload of moto.s3.urls with its thread-unsafe window held open
    monkeypatch.setattr(moto.s3.models, "reload", reload_with_a_wide_window)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="concurrency-test")
        for i in range(8):
            s3.put_object(Bucket="concurrency-test", Key=f"k{i}", Body=b"x")

        # when 8 threads read at once, many times
        def read(i: int) -> bytes:
            return bytes(s3.get_object(Bucket="concurrency-test", Key=f"k{i % 8}")["Body"].read())

        with ThreadPoolExecutor(max_workers=8) as pool:
            bodies = list(pool.map(read, range(160)))
    # then every request succeeded
    assert bodies == [b"x"] * 160
