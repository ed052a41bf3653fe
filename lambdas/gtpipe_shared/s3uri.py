"""``s3://bucket/key`` parsing and formatting."""

from __future__ import annotations

import re

# S3 bucket names: 3-63 characters of lowercase letters, digits, dots and hyphens. Legacy buckets may
# contain uppercase letters or underscores; accept them so old data is not rejected by a stricter rule.
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$")


class S3UriError(ValueError):
    """A string is not a usable ``s3://bucket/key`` URI."""


def parse_s3_uri(uri: str, *, allow_empty_key: bool = False) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into ``(bucket, key)``; raise S3UriError naming the problem."""
    if not isinstance(uri, str):
        raise S3UriError(f"expected an s3:// URI string, got {type(uri).__name__}")
    if not uri.startswith("s3://"):
        raise S3UriError(f"'{_clip(uri)}' is not an s3:// URI")
    bucket, sep, key = uri[5:].partition("/")
    if not bucket or not _BUCKET.match(bucket):
        raise S3UriError(f"'{_clip(uri)}' has no valid bucket name")
    if not allow_empty_key and (not sep or not key):
        raise S3UriError(f"'{_clip(uri)}' has no object key")
    return bucket, key


def s3_uri(bucket: str, key: str = "") -> str:
    """Format ``s3://bucket/key``."""
    return f"s3://{bucket}/{key}"


def _clip(text: str, limit: int = 200) -> str:
    # Error messages quote user input; keep them short enough for logs and SNS.
    return text if len(text) <= limit else text[: limit - 3] + "..."
