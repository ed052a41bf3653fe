"""The reviewed labels into the label set's cumulative dataset (``correct``'s last step; README "Label-error
finding" and "The cumulative, versioned dataset").

The split wrote the run's training manifest as the dataset's current ``train.manifest``; the served model
then trains on the corrected one. Without this step the dataset would keep the labels the reviewers fixed,
and the next cumulative run (a feedback run, warm-started and so without label-error finding) would train on
them again. The corrected lines replace the exact lines the run read (:func:`gtpipe_shared.dataset.with_corrections`)
in the dataset's *current* version, written as its next version with a conditional write: ``If-Match`` the
ETag read, so a version another run wrote meanwhile is never overwritten; S3 answers 412
PreconditionFailed (or 409 ConditionalRequestConflict for a concurrent write) and the read-modify-write
starts over (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html: "If the ETag
values don't match, the operation fails"; on a 409 "fetch the object's ETag and retry").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError
from gtpipe_shared.aws import client, error_code
from gtpipe_shared.dataset import with_corrections
from gtpipe_shared.label_errors import LabelErrorsInputError
from gtpipe_shared.s3uri import S3UriError, parse_s3_uri

ATTEMPTS = 5
RETRY_CODES = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")


def record_corrections(uri: str, given: Sequence[bytes], corrected: Sequence[bytes]) -> dict[str, Any]:
    """Write the dataset training manifest at ``uri`` with each line of ``given`` (the run's training lines)
    that ``corrected`` changed replaced (module docstring): every reviewed line, fixed or kept, since it
    records its review. Answers ``{"train_uri", "train_version_id" (None: nothing replaced, no version
    written), "replaced"}``; LabelErrorsInputError names what failed."""
    corrections = {old: new for old, new in zip(given, corrected, strict=True) if old != new}
    try:
        bucket, key = parse_s3_uri(uri)
    except S3UriError as exc:
        raise LabelErrorsInputError(f"dataset training manifest {exc}") from None
    s3 = client("s3")
    for _ in range(ATTEMPTS):
        try:
            response = s3.get_object(Bucket=bucket, Key=key)
            with response["Body"] as body:
                lines = [line.rstrip(b"\r") for line in body.read().split(b"\n")]
            updated, replaced = with_corrections(lines, corrections)
            if not replaced:
                return {"train_uri": uri, "train_version_id": None, "replaced": 0}
            put = s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=b"".join(line + b"\n" for line in updated),
                ContentType="application/jsonlines",
                IfMatch=response["ETag"],
            )
        except ClientError as exc:
            if error_code(exc) in RETRY_CODES:
                continue  # another run wrote a version meanwhile: correct that one
            raise LabelErrorsInputError(
                f"dataset training manifest {uri} cannot be corrected: {error_code(exc)}"
            ) from None
        return {"train_uri": uri, "train_version_id": put.get("VersionId"), "replaced": replaced}
    raise LabelErrorsInputError(
        f"dataset training manifest {uri} changed on each of {ATTEMPTS} attempts to write the reviewed labels"
    )
