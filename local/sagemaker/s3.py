"""Small S3 helpers over a boto3 client (the local cloud's moto S3): URIs, downloads, uploads, manifests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from gtpipe_shared.s3uri import S3Uri

__all__ = ["S3Uri"]  # the shared URI type, imported from here by the local SageMaker's modules

# Parallel GETs for channel downloads: each is latency-bound when S3 is a server.
DOWNLOAD_THREADS = 8


def is_not_found(error: ClientError) -> bool:
    """Whether a ClientError means the bucket or key does not exist."""
    code = str(error.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound")


def object_exists(client: Any, uri: S3Uri) -> bool:
    """HEAD the object: True if it exists, False if not (other errors propagate)."""
    try:
        client.head_object(Bucket=uri.bucket, Key=uri.key)
    except ClientError as error:
        if is_not_found(error):
            return False
        raise
    return True


def read_bytes(client: Any, uri: S3Uri) -> bytes:
    """The object's content."""
    body = client.get_object(Bucket=uri.bucket, Key=uri.key)["Body"]
    try:
        return bytes(body.read())
    finally:
        body.close()


def read_json_lines(client: Any, uri: S3Uri) -> list[dict[str, Any]]:
    """A JSON Lines object as a list of objects (blank lines skipped); ValueError names a bad line."""
    lines = []
    for number, line in enumerate(read_bytes(client, uri).decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{uri} line {number} is not valid JSON ({error.msg})") from None
        if not isinstance(value, dict):
            raise ValueError(f"{uri} line {number} is not a JSON object")
        lines.append(value)
    return lines


def write_bytes(client: Any, uri: S3Uri, data: bytes, content_type: str | None = None) -> None:
    """PUT an object."""
    extra = {"ContentType": content_type} if content_type else {}
    client.put_object(Bucket=uri.bucket, Key=uri.key, Body=data, **extra)


def upload_file(client: Any, path: Path, uri: S3Uri, content_type: str | None = None) -> None:
    """Upload a local file (multipart for large files, as the SDKs do)."""
    extra = {"ExtraArgs": {"ContentType": content_type}} if content_type else {}
    client.upload_file(str(path), uri.bucket, uri.key, **extra)


def download_file(client: Any, uri: S3Uri, path: Path) -> Path:
    """Download one object to ``path`` (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    client.download_file(uri.bucket, uri.key, str(path))
    return path


def download_many(client: Any, items: list[tuple[S3Uri, Path]]) -> None:
    """Download many objects concurrently; the first failure propagates (naming its URI)."""

    def fetch(item: tuple[S3Uri, Path]) -> None:
        uri, path = item
        try:
            download_file(client, uri, path)
        except ClientError as error:
            raise FileNotFoundError(f"could not download {uri}: {error}") from error

    if len(items) <= 1:
        for item in items:
            fetch(item)
        return
    with ThreadPoolExecutor(max_workers=DOWNLOAD_THREADS, thread_name_prefix="s3-get") as pool:
        for _ in pool.map(fetch, items):
            pass


def list_keys(client: Any, uri: S3Uri) -> Iterator[str]:
    """Keys under a prefix (folder markers ending in '/' excluded), in S3's order."""
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=uri.bucket, Prefix=uri.key):
        for item in page.get("Contents", []):
            key = item["Key"]
            if not key.endswith("/"):
                yield key


def prefix_folder(key_prefix: str) -> str:
    """The folder part of an S3 key prefix: SageMaker keeps object paths relative to it
    (``images/ab`` -> ``images/``; ``images/`` -> ``images/``)."""
    return key_prefix[: key_prefix.rfind("/") + 1]


@dataclass(frozen=True)
class DataObject:
    """One input object of an S3 data source: its URI and its path relative to the source's prefix."""

    uri: S3Uri
    relative: str


def read_manifest_file(client: Any, uri: S3Uri) -> list[DataObject]:
    """A ``ManifestFile`` data source: a JSON array whose first element is ``{"prefix": "s3://..."}``
    followed by keys relative to that prefix."""
    try:
        document = json.loads(read_bytes(client, uri).decode("utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"manifest {uri} is not valid JSON ({error.msg})") from None
    if not isinstance(document, list) or not document or not isinstance(document[0], dict):
        raise ValueError(f'manifest {uri} must be a JSON array starting with {{"prefix": "s3://..."}}')
    prefix = S3Uri.parse(str(document[0].get("prefix", "")))
    objects = []
    for position, entry in enumerate(document[1:], start=1):
        if not isinstance(entry, str) or not entry:
            raise ValueError(f"manifest {uri} element {position} is not a relative key")
        objects.append(DataObject(S3Uri(prefix.bucket, prefix.key + entry), entry))
    return objects


def list_data_source(client: Any, data_type: str, uri_text: str) -> list[DataObject]:
    """The objects of an ``S3DataSource`` with ``S3DataType`` ``S3Prefix`` or ``ManifestFile``."""
    uri = S3Uri.parse(uri_text)
    if data_type == "ManifestFile":
        return read_manifest_file(client, uri)
    if data_type == "S3Prefix":
        folder = prefix_folder(uri.key)
        return [DataObject(S3Uri(uri.bucket, key), key[len(folder) :]) for key in list_keys(client, uri)]
    raise ValueError(f"S3DataType {data_type!r} is not supported here")
