"""evaluate: score the batch-transform predictions on the validation set and apply the quality gate
(and, with a ``champion`` in the payload, the champion/challenger gate: ``evaluate.compare``).

Reads the validation manifest (labels by source-ref), fetches each ``<transform output><relative
key>.out`` concurrently (threads: each GET is latency-bound), computes metrics, writes the full report to
``runs/<run_id>/metrics.json`` and returns a compact answer (< 8 KB) for the state machine's Choice state.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from gtpipe_shared.aws import client, error_code
from gtpipe_shared.manifest import is_blank, iter_lines
from gtpipe_shared.metrics import (
    PredictionError,
    classification_metrics,
    detection_metrics,
    ground_truth_boxes,
    join_transform_outputs,
    output_uri_for,
    parse_detections,
)
from gtpipe_shared.naming import metrics_key
from gtpipe_shared.payload import log_run, parse_payload, payload_task
from gtpipe_shared.s3uri import S3UriError, parse_s3_uri, s3_uri
from gtpipe_shared.split import SplitError, common_prefix, manifest_prefix
from gtpipe_shared.tasks import task_spec
from pydantic import BaseModel, ConfigDict, Field

logger = Logger()
tracer = Tracer()
metrics = Metrics()

FETCH_THREADS = 32
ANSWER_BUDGET = 6000  # bytes of per-class detail allowed in the answer (Step Functions payloads stay small)


class EvaluationError(Exception):
    """Evaluation cannot produce a score; the message names the problem."""


class EvaluateRequest(BaseModel):
    """The state machine's payload."""

    model_config = ConfigDict(extra="ignore")

    run_id: str = Field(min_length=1)
    validation_uri: str
    transform_output_uri: str
    label_attribute: str = Field(min_length=1)
    class_names: list[str] = Field(min_length=1)
    task_type: str
    quality_threshold: float = Field(ge=0.0, le=1.0)
    data_bucket: str = Field(min_length=1)
    validation_images_uri: str | None = None
    validation_images_prefix: str | None = None


def parse_request(event: Any) -> EvaluateRequest:
    """Validate the payload; EvaluationError names the bad field."""
    request = parse_payload(EvaluateRequest, event, EvaluationError, "evaluate payload")
    payload_task(
        request.task_type, EvaluationError, "evaluate payload", "; evaluation is not supported for it"
    )
    return request


def read_labels(request: EvaluateRequest) -> list[tuple[str, Any]]:
    """``(source_ref, label)`` for every validation line: a class id (classification) or the bounding-box
    label object (detection)."""
    try:
        bucket, key = parse_s3_uri(request.validation_uri)
        body = client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    except (ClientError, S3UriError) as exc:
        code = error_code(exc) or str(exc)
        raise EvaluationError(f"validation manifest {request.validation_uri} is unreadable ({code})") from exc
    labels: list[tuple[str, Any]] = []
    num_classes = len(request.class_names)
    detection = task_spec(request.task_type).boxes
    try:
        for number, line in iter_lines(body, max_line_bytes=1_000_000):
            if line is None:
                raise EvaluationError(f"validation line {number} is too long")
            if is_blank(line):
                continue
            obj = json.loads(line)
            ref, label = obj.get("source-ref"), obj.get(request.label_attribute)
            if detection and isinstance(ref, str) and isinstance(label, dict):
                labels.append((ref, label))
                continue
            if not isinstance(ref, str) or not isinstance(label, int) or not 0 <= label < num_classes:
                raise EvaluationError(
                    f"validation line {number} has no source-ref or class id '{request.label_attribute}'"
                )
            labels.append((ref, label))
    except (ValueError, AttributeError) as exc:
        if isinstance(exc, EvaluationError):
            raise
        raise EvaluationError(f"validation manifest is not valid JSON Lines ({exc})") from exc
    finally:
        body.close()
    if not labels:
        raise EvaluationError("validation manifest is empty")
    return labels


def prefix_from_images_manifest(uri: str) -> str | None:
    """The ``prefix`` of a ManifestFile (its first element), reading only the first 64 KB."""
    try:
        bucket, key = parse_s3_uri(uri)
        response = client("s3").get_object(Bucket=bucket, Key=key, Range="bytes=0-65535")
    except (ClientError, S3UriError) as exc:
        logger.warning("validation images manifest unreadable", extra={"error": error_code(exc) or str(exc)})
        return None
    with response["Body"] as body:
        head = bytes(body.read()).decode("utf-8", "replace").lstrip()
    try:
        first, _end = json.JSONDecoder().raw_decode(head[1:].lstrip()) if head.startswith("[") else (None, 0)
    except ValueError:
        return None
    prefix = first.get("prefix") if isinstance(first, dict) else None
    return prefix if isinstance(prefix, str) and prefix.startswith("s3://") else None


def images_prefix(labels: list[tuple[str, Any]], request: EvaluateRequest) -> str:
    """The ManifestFile prefix the transform used: given, read from the images manifest, or recomputed
    from the validation refs with the split's own rule."""
    if request.validation_images_prefix:
        return request.validation_images_prefix
    if request.validation_images_uri:
        prefix = prefix_from_images_manifest(request.validation_images_uri)
        if prefix:
            return prefix
    common: str | None = None
    for ref, _ in labels:
        common = common_prefix(common, ref)
    try:
        return manifest_prefix(common or "", len(labels))
    except SplitError as exc:
        raise EvaluationError(str(exc)) from exc


def _fetch(uri: str) -> bytes | None:
    bucket, key = parse_s3_uri(uri)
    try:
        response = client("s3").get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        # Without s3:ListBucket, S3 answers a missing key with AccessDenied instead of NoSuchKey: both mean
        # "no output for this image", which the metrics count as a miss rather than failing the run.
        if error_code(exc) in ("NoSuchKey", "404", "AccessDenied", "403"):
            return None
        raise
    with response["Body"] as body:
        return bytes(body.read())


@tracer.capture_method
def fetch_outputs(labels: list[tuple[str, Any]], prefix: str, output_uri: str) -> dict[str, bytes | None]:
    """Transform output bodies keyed by source-ref (None when an output object is missing)."""
    refs = [ref for ref, _ in labels]
    try:
        uris = [output_uri_for(ref, prefix, output_uri) for ref in refs]
    except ValueError as exc:
        raise EvaluationError(f"validation image outside the transform input prefix: {exc}") from exc
    with ThreadPoolExecutor(max_workers=FETCH_THREADS) as pool:
        bodies = list(pool.map(_fetch, uris))
    return dict(zip(refs, bodies, strict=True))


def compact_answer(report: dict[str, Any], request: EvaluateRequest, metrics_uri: str) -> dict[str, Any]:
    """The task result: headline numbers, gate decision and per-class detail if it fits the budget."""
    value = float(report["metric_value"])
    answer: dict[str, Any] = {
        "metrics_uri": metrics_uri,
        "metric_name": report["metric_name"],
        "metric_value": value,
        "quality_threshold": request.quality_threshold,
        "passed": value >= request.quality_threshold,
        "accuracy": report.get("accuracy"),
        "macro_f1": report.get("macro_f1"),
        "map": report.get("map"),
        "count": report["count"],
        "missing": report["missing"],
        "per_class": report["per_class"],
    }
    if len(json.dumps(report["per_class"])) > ANSWER_BUDGET:
        # Hundreds of classes: keep the answer small; the full table is in metrics.json.
        answer["per_class"] = {}
        answer["per_class_truncated"] = True
    return answer


def classification_report(
    labels: list[tuple[str, Any]], outputs: dict[str, bytes | None], request: EvaluateRequest
) -> dict[str, Any]:
    """Accuracy and per-class metrics; metric ``accuracy``."""
    joined = join_transform_outputs(labels, outputs)
    if len(joined.missing) + len(joined.invalid) == len(labels):
        raise EvaluationError(
            f"no usable transform output under {request.transform_output_uri} "
            f"({len(joined.missing)} missing, {len(joined.invalid)} invalid)"
        )
    report = classification_metrics(joined.pairs, request.class_names)
    report.update(
        {
            "metric_name": task_spec(request.task_type).metric_name,
            "metric_value": report["accuracy"],
            "missing_outputs": joined.missing[:100],
            "invalid_outputs": joined.invalid[:100],
        }
    )
    return report


def detection_report(
    labels: list[tuple[str, Any]], outputs: dict[str, bytes | None], request: EvaluateRequest
) -> dict[str, Any]:
    """mAP at IoU 0.5; metric ``map_50``."""
    images: list[tuple[Any, Any]] = []
    missing: list[str] = []
    for ref, label in labels:
        try:
            truth = ground_truth_boxes(label)
        except (ValueError, KeyError, TypeError) as exc:
            raise EvaluationError(f"validation label of {ref} is not a bounding-box label ({exc})") from exc
        body = outputs.get(ref)
        detections = None
        if body is not None:
            try:
                detections = parse_detections(body)
            except (PredictionError, ValueError, TypeError):
                detections = None
        if detections is None:
            missing.append(ref)
        images.append((truth, detections))
    if len(missing) == len(labels):
        raise EvaluationError(f"no usable transform output under {request.transform_output_uri}")
    report = detection_metrics(images, request.class_names)
    report.update(
        {
            "metric_name": task_spec(request.task_type).metric_name,
            "metric_value": report["map"],
            "missing_outputs": missing[:100],
        }
    )
    return report


@tracer.capture_method
def evaluate(request: EvaluateRequest) -> dict[str, Any]:
    """Compute metrics, write metrics.json and return the compact answer."""
    labels = read_labels(request)
    prefix = images_prefix(labels, request)
    outputs = fetch_outputs(labels, prefix, request.transform_output_uri)
    if task_spec(request.task_type).boxes:
        report = detection_report(labels, outputs, request)
    else:
        report = classification_report(labels, outputs, request)
    report.update(
        {
            "run_id": request.run_id,
            "task_type": request.task_type,
            "quality_threshold": request.quality_threshold,
            "passed": report["metric_value"] >= request.quality_threshold,
            "validation_uri": request.validation_uri,
            "transform_output_uri": request.transform_output_uri,
        }
    )
    key = metrics_key(request.run_id)
    client("s3").put_object(
        Bucket=request.data_bucket,
        Key=key,
        Body=json.dumps(report, indent=2).encode(),
        ContentType="application/json",
    )
    metrics.add_metric(
        name="ValidationScore", unit=MetricUnit.Percent, value=100 * float(report["metric_value"])
    )
    if report["missing"]:
        logger.warning("transform outputs missing or unusable", extra={"missing": report["missing"]})
    return compact_answer(report, request, s3_uri(request.data_bucket, key))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """State-machine payload -> metrics and quality-gate decision; a payload with ``champion`` (the
    CompareChampion state) -> the champion/challenger decision, one with ``golden_manifest_uri``
    (PrepareGolden) -> the golden manifest checked and its images manifest (``evaluate.compare``)."""
    if isinstance(event, dict) and ("champion" in event or "golden_manifest_uri" in event):
        # Imported here: compare builds on this module's functions (a top-level import would be circular).
        from evaluate.compare import CompareRequest, GoldenRequest, compare, prepare_golden

        if "golden_manifest_uri" in event:
            golden = parse_payload(GoldenRequest, event, EvaluationError, "golden manifest payload")
            payload_task(golden.task_type, EvaluationError, "golden manifest payload")
            log_run(logger, golden.run_id)
            return prepare_golden(golden)

        compare_request = parse_payload(CompareRequest, event, EvaluationError, "champion/challenger payload")
        payload_task(compare_request.task_type, EvaluationError, "champion/challenger payload")
        log_run(logger, compare_request.run_id)
        return compare(compare_request)
    request = parse_request(event)
    log_run(logger, request.run_id)
    return evaluate(request)
