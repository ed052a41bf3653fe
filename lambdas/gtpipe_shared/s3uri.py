"""``s3://bucket/key`` parsing and formatting: the one home of the rule, for the functions and the local cloud.

:func:`parse_s3_uri` is the strict form for user input (a valid bucket name, a key unless allowed empty);
:class:`S3Uri` the lenient form SageMaker requests use (any bucket text, the key may be empty or a prefix).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    bucket, sep, key = _split(uri)
    if not bucket or not _BUCKET.match(bucket):
        raise S3UriError(f"'{_clip(uri)}' has no valid bucket name")
    if not allow_empty_key and (not sep or not key):
        raise S3UriError(f"'{_clip(uri)}' has no object key")
    return bucket, key


@dataclass(frozen=True)
class S3Uri:
    """A parsed ``s3://bucket/key`` (the key may be empty or a prefix)."""

    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        """Parse ``s3://bucket[/key]``; raise ValueError for anything else."""
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            raise ValueError(f"not an S3 URI: {uri!r}")
        bucket, _, key = _split(uri)
        if not bucket:
            raise ValueError(f"S3 URI without a bucket: {uri!r}")
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def join(self, *parts: str) -> S3Uri:
        """This URI treated as a folder, with ``parts`` appended ('/'-separated, no duplicate slashes)."""
        key = self.key.rstrip("/")
        for part in parts:
            part = part.strip("/")
            key = f"{key}/{part}" if key else part
        return S3Uri(self.bucket, key)


def _split(uri: str) -> tuple[str, str, str]:
    """``(bucket, separator, key)`` of a string that starts with ``s3://``."""
    return uri[len("s3://") :].partition("/")


def s3_uri(bucket: str, key: str = "") -> str:
    """Format ``s3://bucket/key``."""
    return f"s3://{bucket}/{key}"


def _clip(text: str, limit: int = 200) -> str:
    # Error messages quote user input; keep them short enough for logs and SNS.
    return text if len(text) <= limit else text[: limit - 3] + "..."
