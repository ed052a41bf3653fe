"""The I/O base of gathering: the AWS clients, the run being gathered, and bounded reads from S3.

:class:`RunSource` holds what every part of the report reads (the execution state, the runs-ledger item,
the settings and clients) and the :class:`RunData` being filled; the parts (``report.gather_*``) extend
it, and :class:`report.gather.Gatherer` combines them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from gtpipe_shared.aws import error_code
from gtpipe_shared.images import MAX_IMAGE_BYTES
from gtpipe_shared.manifest import is_blank, iter_lines
from gtpipe_shared.pricing import LabelingPrices
from gtpipe_shared.s3uri import S3UriError, parse_s3_uri
from gtpipe_shared.tasks import TaskType
from PIL import Image

from report.examples import thumbnail
from report.fields import error_text
from report.labels import IterationRecord
from report.model import RunData

FETCH_THREADS = 16

T = TypeVar("T")


@dataclass(frozen=True)
class Clients:
    """AWS access for gathering: an S3 client, a SageMaker client, a CloudWatch Logs client and the
    runs-ledger ``Table`` (None when no table is configured)."""

    s3: Any
    sagemaker: Any
    logs: Any
    runs_table: Any | None


@dataclass(frozen=True)
class Settings:
    """Where the report goes and the labeling prices in force."""

    data_bucket: str
    prices: LabelingPrices
    # gtpipe:monitoring is on: the report shows the latest drift-monitoring windows (report.monitoring).
    monitoring: bool = False


FALLBACK_TASK_TYPE = TaskType.IMAGE_CLASSIFICATION.value
"""The task type a report is drawn for when neither the execution state nor the runs ledger names a
registered one. The state machine passes the whole state, whose ``config`` always carries
``task_type`` (start_run writes it), so only a hand-built event gets here; a report is best effort and
never fails, so it warns (``warnings``) and draws the classification layout instead of refusing."""


class RunSource:
    """One run's sources and the :class:`RunData` gathered from them so far (see :mod:`report.gather`)."""

    def __init__(
        self, run_id: str, outcome: str, state: Mapping[str, Any], settings: Settings, clients: Clients
    ):
        self.state = state
        self.settings = settings
        self.clients = clients
        self.ledger: dict[str, Any] = {}
        self.data = RunData(run_id=run_id, outcome=outcome, task_type=FALLBACK_TASK_TYPE, class_names=[])
        self.iterations: list[IterationRecord] = []
        self.machine_rounds: dict[int, int] = {}

    def _guard(self, part: str, what: str, action: Callable[[], None]) -> None:
        try:
            action()
        except (ClientError, BotoCoreError) as exc:
            self.data.missing(part, f"{what} could not be read ({error_text(exc)})")
            self.data.warn(f"{what} could not be read: {error_text(exc)}")
        except Exception as exc:  # a report shows what it can; the reason goes on the page
            self.data.missing(part, f"{what} could not be prepared ({type(exc).__name__}: {exc})"[:400])
            self.data.warn(f"internal error while reading {what}: {type(exc).__name__}: {exc}"[:400])

    # -- S3 helpers -------------------------------------------------------------------------------

    def _open(self, uri: str) -> Any:
        bucket, key = parse_s3_uri(uri)
        return self.clients.s3.get_object(Bucket=bucket, Key=key)["Body"]

    def _read(self, uri: str, limit: int = 50 * 1024 * 1024) -> bytes:
        bucket, key = parse_s3_uri(uri)
        response = self.clients.s3.get_object(Bucket=bucket, Key=key)
        with response["Body"] as body:
            data = bytes(body.read(limit + 1))
        if len(data) > limit:
            raise ValueError(f"{uri} is larger than {limit} bytes")
        return data

    def _maybe_read(self, uri: str, limit: int = 50 * 1024 * 1024) -> bytes | None:
        """The object, or None when it does not exist (AccessDenied without ListBucket means the same)."""
        try:
            return self._read(uri, limit)
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404", "AccessDenied", "403", "NoSuchBucket"):
                return None
            raise

    def _lines(self, uri: str, limit: int) -> Iterator[bytes | None]:
        body = self._open(uri)
        try:
            count = 0
            for _number, line in iter_lines(body, max_line_bytes=1_000_000):
                if line is not None and is_blank(line):
                    continue
                count += 1
                if count > limit:
                    self.data.warn(f"{uri}: only the first {limit} lines were read")
                    return
                yield line
        finally:
            body.close()

    def _list(self, bucket: str, prefix: str, limit: int) -> list[str]:
        keys: list[str] = []
        paginator = self.clients.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                keys.append(item["Key"])
                if len(keys) >= limit:
                    self.data.warn(
                        f"more than {limit} objects under s3://{bucket}/{prefix}; the rest were not read"
                    )
                    return keys
        return keys

    def _parallel(self, action: Callable[[str], T], items: list[str]) -> list[T]:
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(FETCH_THREADS, len(items))) as pool:
            return list(pool.map(action, items))

    def _thumbnail(self, ref: str, size: int) -> Image.Image | None:
        try:
            bucket, key = parse_s3_uri(ref)
            response = self.clients.s3.get_object(Bucket=bucket, Key=key)
            if int(response.get("ContentLength") or 0) > MAX_IMAGE_BYTES:
                response["Body"].close()
                return None
            with response["Body"] as body:
                data = bytes(body.read(MAX_IMAGE_BYTES + 1))
            return thumbnail(data, size)
        except (ClientError, BotoCoreError, S3UriError, OSError, ValueError):
            return None
