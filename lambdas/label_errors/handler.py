"""label_errors: label-error finding after training (state machine tasks; README "Label-error finding").

Four actions, in pipeline order; the pure steps are :mod:`gtpipe_shared.label_errors_manifest`'s:

* ``prepare``: the split's training manifest dealt into ``folds`` stratified folds (seeded). Per fold, its
  training manifest (the other folds' lines, byte for byte) and its held-out images as a batch transform
  ``ManifestFile``, under ``splits/<run>/label-errors/fold-<n>/``; the answer lists per fold the URIs the
  fold's training job reads and its transform job reads and writes (``transform/<run>/label-errors/fold-<n>/``)
  and the fold job's hyperparameters: Train's with ``num_training_samples`` the fold's own count (the
  built-in algorithm requires it, and sizes its learning-rate schedule by it). It also answers back
  ``train_job_name`` (Train's job, whose model the fix is measured against: ``Retrain`` replaces
  ``$.training``).
* ``flag``: the folds' transform outputs joined with the given labels and flagged (at most ``max_share`` of
  the objects). The flagged objects, each carrying the model's suggestion in ``<attr>-metadata.label-error``,
  and its class as the line's ``gtpipe-suggestion``, become the review job's input manifest
  (``labeling/<run>/label-errors-review.manifest``, where the
  labeling function reads its inputs); the issues are kept as JSON next to the folds. ``flagged`` 0: nothing
  to review (the state machine skips review and retrain).
* ``correct``: the review job's output manifest merged back into the training manifest (a fixed label
  replaces the given one, every other line is kept), written as ``.../label-errors/train.manifest``, and
  the fixed lines into the label set's dataset (:mod:`label_errors.dataset`); the answer carries its URI,
  the review summary for the ledger and the report, and the dataset version written (``dataset``).
* ``accuracy``: what the fix changed: the built-in algorithm's ``validation:accuracy``
  (DescribeTrainingJob's ``FinalMetricDataList``) of Train's job (``before``) and of the served model's
  job (``after``: the retrain on the corrected labels; None when it is Train's own, nothing having been
  flagged), and ``change`` (after - before, None unless both are known). The validation channel is never
  corrected, so the two are measured on the same objects. A job that reported no such metric reads None
  (the answer's ``FinalMetricDataList`` is optional, which is why a function reads it rather than a
  ResultSelector path on the training states, whose absence would fail the run).

Bad input (a missing or unreadable manifest, a line that is no labeled image, no usable prediction) raises
:class:`LabelErrorsError` naming the problem, which the state machine's Catch records as the run's failure
reason. Manifests are read whole: an image-classification line is ~300 bytes, so give the function memory
for the largest training manifest expected (1M lines: ~300 MB).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from gtpipe_shared.aws import client, error_code
from gtpipe_shared.label_errors import LabelErrorsInputError, LabelIssue
from gtpipe_shared.label_errors_manifest import corrected_manifest, flag_objects, fold_manifests
from gtpipe_shared.labeling_suggestions import SUGGESTION_KEY, from_prediction
from gtpipe_shared.metric_definitions import VALIDATION_ACCURACY, final_metric
from gtpipe_shared.metrics import output_uri_for
from gtpipe_shared.naming import label_errors_prefix, label_errors_transform_prefix, labeling_key
from gtpipe_shared.payload import parse_payload, payload_action
from gtpipe_shared.s3uri import S3UriError, parse_s3_uri, s3_uri
from pydantic import BaseModel, ConfigDict, Field

from label_errors.dataset import record_corrections

logger = Logger()
tracer = Tracer()

FETCH_THREADS = 32
REVIEW_MANIFEST = "label-errors-review.manifest"


class LabelErrorsError(Exception):
    """The step cannot run on its input; the message names the problem (the run's failure reason)."""


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")

    run_id: str = Field(min_length=1)
    data_bucket: str = Field(min_length=1)
    train_uri: str = Field(min_length=1)
    label_attribute: str = Field(min_length=1)


class PrepareRequest(_Request):
    """``prepare``: the split's training manifest, the fold count, the split's seed, Train's hyperparameters
    (string values, as CreateTrainingJob takes them) and Train's job name."""

    folds: int = Field(ge=2, le=5)
    seed: int = Field(ge=0)
    hyperparameters: dict[str, str]
    train_job_name: str = Field(min_length=1)


class FoldUris(BaseModel):
    """One fold as ``prepare`` answers it (and ``flag`` takes it back)."""

    model_config = ConfigDict(extra="ignore")

    fold: int = Field(ge=0)
    train_uri: str
    images_uri: str
    output_uri: str


class FlagRequest(_Request):
    """``flag``: ``prepare``'s folds, the class names and the most of the objects to flag."""

    class_names: list[str] = Field(min_length=2)
    max_share: float = Field(gt=0, le=1)
    folds: list[FoldUris] = Field(min_length=2)


class CorrectRequest(_Request):
    """``correct``: ``flag``'s issues, the review job's output manifest and the label set's dataset training
    manifest (the split's ``dataset.version.train_uri``; None: the dataset is left alone)."""

    issues_uri: str
    reviewed_uri: str
    dataset_train_uri: str | None = None


class AccuracyRequest(BaseModel):
    """``accuracy``: Train's job and the served model's job (Train's own when nothing was retrained)."""

    model_config = ConfigDict(extra="ignore")

    train_job_name: str = Field(min_length=1)
    served_job_name: str = Field(min_length=1)


def _read(uri: str, what: str) -> bytes:
    try:
        bucket, key = parse_s3_uri(uri)
        response = client("s3").get_object(Bucket=bucket, Key=key)
    except S3UriError as exc:
        raise LabelErrorsError(f"{what} {exc}") from None
    except ClientError as exc:
        raise LabelErrorsError(f"{what} {uri} cannot be read: {error_code(exc)}") from None
    with response["Body"] as body:
        return bytes(body.read())


def _write(bucket: str, key: str, body: bytes) -> str:
    client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    return s3_uri(bucket, key)


def _lines(data: bytes) -> list[bytes]:
    return [line.rstrip(b"\r") for line in data.split(b"\n") if line.strip()]


def _jsonl(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


NUM_TRAINING_SAMPLES = "num_training_samples"
"""Required by the built-in image-classification algorithm: the number of training examples; with a
mismatch the ``lr_scheduler_step`` schedule is undefined (https://docs.aws.amazon.com/sagemaker/latest/dg/
IC-Hyperparameter.html). AWS does not refuse a mismatch, so neither does the local cloud (it warns)."""


def prepare(request: PrepareRequest) -> dict[str, Any]:
    """Write the folds' manifests; answer ``{"folds": [FoldUris + hyperparameters...], "objects": n,
    "train_job_name": Train's job}``."""
    lines = _lines(_read(request.train_uri, "training manifest"))
    folds = fold_manifests(lines, request.label_attribute, request.folds, request.seed)
    prefix = label_errors_prefix(request.run_id)
    answer = []
    for fold in folds:
        base = f"{prefix}fold-{fold.number}/"
        answer.append(
            {
                "fold": fold.number,
                "train_uri": _write(request.data_bucket, base + "train.manifest", _jsonl(fold.train_lines)),
                "images_uri": _write(
                    request.data_bucket, base + "images.manifest", json.dumps(fold.images_manifest()).encode()
                ),
                "output_uri": s3_uri(
                    request.data_bucket, label_errors_transform_prefix(request.run_id, fold.number)
                ),
                # The fold job trains on the other folds' lines only: (k-1)/k of the training set.
                "hyperparameters": {
                    **request.hyperparameters,
                    NUM_TRAINING_SAMPLES: str(len(fold.train_lines)),
                },
            }
        )
    return {"folds": answer, "objects": len(lines), "train_job_name": request.train_job_name}


def _fold_outputs(fold: FoldUris) -> dict[str, bytes | None]:
    """The fold's transform output bodies by source-ref (None: no output for that image)."""
    manifest = json.loads(_read(fold.images_uri, f"fold {fold.fold}'s images manifest"))
    prefix = str(manifest[0]["prefix"])
    refs = [prefix + str(key) for key in manifest[1:]]
    s3 = client("s3")

    def fetch(ref: str) -> bytes | None:
        bucket, key = parse_s3_uri(output_uri_for(ref, prefix, fold.output_uri))
        try:
            return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except ClientError as exc:
            # Without s3:ListBucket S3 answers a missing key with AccessDenied: both mean "no output".
            if error_code(exc) in ("NoSuchKey", "404", "AccessDenied", "403"):
                return None
            raise

    with ThreadPoolExecutor(max_workers=FETCH_THREADS) as pool:
        return dict(zip(refs, pool.map(fetch, refs), strict=True))


def flag(request: FlagRequest) -> dict[str, Any]:
    """Flag the likely label errors; write the review manifest and the issues. Answers the counts, the
    review manifest's URI (None when nothing is flagged) and the issues' URI."""
    lines = _lines(_read(request.train_uri, "training manifest"))
    outputs: dict[str, bytes | None] = {}
    for fold in request.folds:
        outputs.update(_fold_outputs(fold))
    flagged = flag_objects(lines, request.label_attribute, request.class_names, outputs, request.max_share)
    issues = [issue.as_dict() for issue in flagged.issues]
    issues_uri = _write(
        request.data_bucket,
        label_errors_prefix(request.run_id) + "issues.json",
        json.dumps({"issues": issues, "unassessed": flagged.unassessed}).encode(),
    )
    review_uri = None
    if flagged.review_lines:
        # The model's class as the object's suggestion (gtpipe_shared.labeling_suggestions): the reviewer
        # sees it beside the given label.
        lines_out = [
            {**line, SUGGESTION_KEY: from_prediction(issue.suggested, issue.suggested_probability)}
            for line, issue in zip(flagged.review_lines, flagged.issues, strict=True)
        ]
        body = _jsonl([json.dumps(line, separators=(",", ":")).encode() for line in lines_out])
        review_uri = _write(request.data_bucket, labeling_key(request.run_id, REVIEW_MANIFEST), body)
    return {
        "objects": len(lines),
        "assessed": len(lines) - len(flagged.unassessed),
        "flagged": len(issues),
        "issues_uri": issues_uri,
        "review_manifest_uri": review_uri,
    }


def correct(request: CorrectRequest) -> dict[str, Any]:
    """Write the corrected training manifest; answer its URI and the review summary."""
    lines = _lines(_read(request.train_uri, "training manifest"))
    try:
        raw = json.loads(_read(request.issues_uri, "flagged objects"))
        issues = [
            LabelIssue(
                int(item["index"]),
                int(item["given"]),
                int(item["suggested"]),
                float(item["given-probability"]),
                float(item["suggested-probability"]),
            )
            for item in raw["issues"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise LabelErrorsError(f"flagged objects {request.issues_uri} are not flag's JSON: {exc}") from None
    reviewed = _lines(_read(request.reviewed_uri, "review output manifest"))
    try:
        corrected, summary = corrected_manifest(lines, request.label_attribute, issues, reviewed)
    except ValueError as exc:
        raise LabelErrorsError(f"review output manifest {request.reviewed_uri}: {exc}") from None
    train_uri = _write(
        request.data_bucket, label_errors_prefix(request.run_id) + "train.manifest", _jsonl(corrected)
    )
    dataset = (
        record_corrections(request.dataset_train_uri, lines, corrected) if request.dataset_train_uri else None
    )
    return {"train_uri": train_uri, "summary": summary, "dataset": dataset}


def _validation_accuracy(job_name: str) -> float | None:
    try:
        describe = client("sagemaker").describe_training_job(TrainingJobName=job_name)
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", "")
        raise LabelErrorsError(
            f"training job {job_name} cannot be described ({error_code(exc)}): {message}"
        ) from None
    return final_metric(describe, VALIDATION_ACCURACY)


def accuracy(request: AccuracyRequest) -> dict[str, Any]:
    """Train's and the served model's validation accuracy and the change (module docstring)."""
    before = _validation_accuracy(request.train_job_name)
    retrained = request.served_job_name != request.train_job_name
    after = _validation_accuracy(request.served_job_name) if retrained else None
    change = after - before if after is not None and before is not None else None
    return {"metric": VALIDATION_ACCURACY, "before": before, "after": after, "change": change}


ACTIONS = ("prepare", "flag", "correct", "accuracy")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """``{"action": "prepare" | "flag" | "correct" | "accuracy", ...}`` -> that action's answer (module
    docstring)."""
    action = payload_action(event, logger, LabelErrorsError, "label_errors payload")
    what = f"label_errors {action} payload"
    try:
        if action == "prepare":
            return prepare(parse_payload(PrepareRequest, event, LabelErrorsError, what))
        if action == "flag":
            return flag(parse_payload(FlagRequest, event, LabelErrorsError, what))
        if action == "correct":
            return correct(parse_payload(CorrectRequest, event, LabelErrorsError, what))
        if action == "accuracy":
            return accuracy(parse_payload(AccuracyRequest, event, LabelErrorsError, what))
    except LabelErrorsInputError as exc:
        raise LabelErrorsError(str(exc)) from None
    raise LabelErrorsError(
        f"label_errors payload: action must be one of {', '.join(ACTIONS)}; got {action!r}"
    )
