"""Deterministic names: run ids, SageMaker job names and their inverse.

A run id doubles as the Step Functions execution name, so the same S3 object version always maps to the
same execution (duplicate EventBridge deliveries cannot start a second run).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePosixPath
from urllib.parse import quote

STEPS = ("label", "train", "model", "xform", "epc")
"""Job-producing pipeline steps, the middle part of a SageMaker job name."""

SLUG_MAX = 20
HASH_HEX = 16
# SageMaker's name pattern for jobs, models, endpoint configs and endpoints (max 63 characters).
SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_RUN_ID = r"[a-z0-9](?:-?[a-z0-9])*-[0-9a-f]{16}"
_JOB_NAME = re.compile(rf"^(?P<run_id>{_RUN_ID})-(?P<step>{'|'.join(STEPS)})-(?P<retry>[0-9]{{1,4}})$")
RUN_ID_PATTERN = re.compile(rf"^{_RUN_ID}$")


def slugify(text: str, max_length: int = SLUG_MAX) -> str:
    """Lowercase ``[a-z0-9-]`` slug without leading, trailing or doubled dashes (``run`` if empty)."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    slug = slug[:max_length].strip("-")
    return slug or "run"


def run_id_for(bucket: str, key: str, version_id: str | None) -> str:
    """Run id of one manifest object version: ``<slug of file stem>-<16 hex of sha256>``.

    An unversioned object (no version id) hashes with the literal ``null``, the version id S3 itself
    reports for such objects.
    """
    stem = PurePosixPath(key).stem if key else ""
    digest = hashlib.sha256(f"{bucket}/{key}/{version_id or 'null'}".encode()).hexdigest()
    return f"{slugify(stem)}-{digest[:HASH_HEX]}"


def job_name(run_id: str, step: str, retry: int = 0) -> str:
    """SageMaker job name ``<run_id>-<step>-<retry>``; raise ValueError if it breaks SageMaker's rules."""
    if step not in STEPS:
        raise ValueError(f"unknown step '{step}' (expected one of {', '.join(STEPS)})")
    if not isinstance(retry, int) or isinstance(retry, bool) or not 0 <= retry <= 9999:
        raise ValueError(f"retry must be an integer in [0, 9999], got {retry!r}")
    if not RUN_ID_PATTERN.match(run_id):
        raise ValueError(f"'{run_id}' is not a gtpipe run id")
    name = f"{run_id}-{step}-{retry}"
    if not SAGEMAKER_NAME.match(name):
        raise ValueError(f"job name '{name}' does not match SageMaker's name pattern (max 63 characters)")
    return name


def parse_job_name(name: str) -> tuple[str, str] | None:
    """``(run_id, step)`` of a gtpipe job name, or None for names gtpipe did not create."""
    if not isinstance(name, str):
        return None
    match = _JOB_NAME.match(name)
    if not match:
        return None
    return match.group("run_id"), match.group("step")


def seed_for(run_id: str) -> int:
    """Deterministic 31-bit split seed derived from a run id (recorded in the execution input)."""
    return int(hashlib.sha256(f"split-seed/{run_id}".encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


# Data-bucket key layout (docs/design.md, "Data bucket prefixes"). Kept in one place so the layout and
# the infrastructure's IAM grants and lifecycle rules can be matched by changing these functions only.


def labeling_key(run_id: str, name: str) -> str:
    """Per-run labeling input: ``labeling/<run_id>/<name>``."""
    return f"labeling/{run_id}/{name}"


def splits_prefix(run_id: str) -> str:
    """Where the split writes its three manifests: ``splits/<run_id>/`` (a lifecycle rule expires it)."""
    return f"splits/{run_id}/"


def transform_prefix(run_id: str) -> str:
    """Batch-transform output of the validation images: ``transform/<run_id>/`` (expired by lifecycle)."""
    return f"transform/{run_id}/"


def label_errors_prefix(run_id: str) -> str:
    """Label-error finding's manifests (folds, flagged objects, corrected training manifest):
    ``splits/<run_id>/label-errors/`` (expired with the split's)."""
    return f"{splits_prefix(run_id)}label-errors/"


def label_errors_transform_prefix(run_id: str, fold: int) -> str:
    """Fold ``fold``'s held-out predictions: ``transform/<run_id>/label-errors/fold-<fold>/``."""
    return f"{transform_prefix(run_id)}label-errors/fold-{fold}/"


def metrics_key(run_id: str) -> str:
    """Evaluation report: ``runs/<run_id>/metrics.json``."""
    return f"runs/{run_id}/metrics.json"


def report_key(run_id: str) -> str:
    """The run report's page: ``reports/<run_id>/index.html`` (figures next to it)."""
    return f"reports/{run_id}/index.html"


def s3_console_url(bucket: str, key: str, region: str | None) -> str:
    """The S3 console page of one object (sign-in required; no presigned URL travels in e-mail)."""
    query = f"prefix={quote(key, safe='/')}"
    if region:
        query = f"region={quote(region)}&bucketType=general&{query}"
    return f"https://s3.console.aws.amazon.com/s3/object/{quote(bucket)}?{query}"
