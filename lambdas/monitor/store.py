"""The monitor's S3 reads and writes: JSON objects, listings by prefix, concurrent fetches.

A missing object and one the role may not read both answer None: without ``s3:ListBucket`` on a prefix S3
answers a missing key with 403 AccessDenied instead of 404
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from botocore.exceptions import ClientError
from gtpipe_shared.aws import client, error_code
from gtpipe_shared.s3uri import S3UriError, parse_s3_uri

FETCH_THREADS = 16
MISSING = ("NoSuchKey", "404", "AccessDenied", "403")
T = TypeVar("T")
R = TypeVar("R")


def get_bytes(bucket: str, key: str) -> bytes | None:
    """The object's bytes; None when it is missing (or unreadable to this role, which S3 answers alike)."""
    try:
        response = client("s3").get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in MISSING:
            return None
        raise
    with response["Body"] as body:
        return bytes(body.read())


def get_uri(uri: str) -> bytes | None:
    """:func:`get_bytes` of an ``s3://`` URI (None for one that is not)."""
    try:
        bucket, key = parse_s3_uri(uri)
    except S3UriError:
        return None
    return get_bytes(bucket, key)


def get_json(bucket: str, key: str) -> Any | None:
    """The object parsed as JSON; None when missing or not JSON."""
    data = get_bytes(bucket, key)
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def put_json(bucket: str, key: str, value: Any) -> None:
    """Write ``value`` as a JSON object."""
    client("s3").put_object(
        Bucket=bucket, Key=key, Body=json.dumps(value).encode(), ContentType="application/json"
    )


def list_keys(bucket: str, prefixes: Iterable[str]) -> list[str]:
    """Every key under each prefix, in key order."""
    paginator = client("s3").get_paginator("list_objects_v2")
    keys: list[str] = []
    for prefix in prefixes:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def fetch_all(function: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``function`` over ``items`` on FETCH_THREADS threads (each GET is latency-bound), in order."""
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(FETCH_THREADS, len(items))) as pool:
        return list(pool.map(function, items))


def evenly(items: Sequence[T], limit: int) -> list[T]:
    """At most ``limit`` of ``items``, spread evenly over them (so a cap keeps the whole window's span)."""
    if len(items) <= limit:
        return list(items)
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]
