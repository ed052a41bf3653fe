"""split: stratified train/validation split of the augmented manifest (state machine task).

The manifest is streamed from S3 twice (pinned to the first read's ETag, so both passes see the same
object) through ``gtpipe_shared.split``; the outputs are written under /tmp and uploaded with the managed
transfer (multipart for large files). Bucket files are deleted as they are merged, so peak /tmp use is
about 1.1x the manifest size (a 1M-line, 315 MB manifest needs ~350 MB): give the function ephemeral
storage of at least 2x the largest expected manifest (the 512 MB default is too tight for 1M lines).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from gtpipe_shared.aws import client, error_code
from gtpipe_shared.naming import splits_prefix, transform_prefix
from gtpipe_shared.payload import log_run, parse_payload, payload_task
from gtpipe_shared.s3uri import S3UriError, parse_s3_uri, s3_uri
from gtpipe_shared.split import (
    SplitError,
    SplitOptions,
    SplitOutputs,
    SplitResult,
    split_manifest,
    training_hyperparameters,
)
from pydantic import BaseModel, ConfigDict, Field

from split.cumulative import add_to_dataset, cumulative_candidate, labeled_to_train, record_dataset
from split.warm_start import decide_and_record

logger = Logger()
tracer = Tracer()
metrics = Metrics()

NO_OBJECTS = "(no objects)"


class SplitRequest(BaseModel):
    """The state machine's payload."""

    model_config = ConfigDict(extra="ignore")

    run_id: str = Field(min_length=1)
    manifest_uri: str
    label_attribute: str = Field(min_length=1)
    task_type: str
    class_names: list[str] = Field(min_length=1)
    validation_ratio: float = 0.2
    seed: int = 0
    data_bucket: str = Field(min_length=1)
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    # The dropped manifest (the execution's input): a harvest's (incoming/feedback-*) makes the run
    # cumulative (split.cumulative, gtpipe_shared.dataset).
    source_manifest_uri: str | None = None
    # config.training.image: a warm start needs the serving model to be of the same algorithm.
    training_image: str | None = None


def parse_request(event: Any) -> SplitRequest:
    """Validate the payload; SplitError names the bad field."""
    request = parse_payload(SplitRequest, event, SplitError, "split payload")
    payload_task(request.task_type, SplitError, "split payload")
    return request


def hyperparameters(request: SplitRequest, result: SplitResult) -> dict[str, str]:
    """Computed hyperparameters with the payload's overrides merged over them (all values strings)."""
    return training_hyperparameters(
        request.task_type,
        len(request.class_names),
        result.train_count,
        result.max_boxes,
        request.hyperparameters,
    )


def per_class_names(result: SplitResult, class_names: list[str]) -> dict[str, dict[str, int]]:
    """Per-class counts keyed by class name (detection images without boxes under "(no objects)")."""
    named: dict[str, dict[str, int]] = {}
    for stratum, counts in sorted(result.per_class.items()):
        name = class_names[stratum] if stratum < len(class_names) else NO_OBJECTS
        named[name] = dict(counts)
    return named


def split_to_files(
    request: SplitRequest, options: SplitOptions, open_source: Any, paths: list[str], out_dir: str
) -> SplitResult:
    """Split the manifest into the three local files ``paths``. A feedback run whose new labels cannot be
    split on their own (a small harvest, a few corrections of one class) puts them all in train when its
    label set has a dataset to add them to: that dataset's validation images validate it."""
    with open(paths[0], "wb") as train, open(paths[1], "wb") as validation, open(paths[2], "wb") as images:
        try:
            return split_manifest(
                open_source, SplitOutputs(train, validation, images), options, tmp_dir=out_dir
            )
        except SplitError as exc:
            if not cumulative_candidate(
                request.data_bucket, request.source_manifest_uri, request.task_type, request.class_names
            ):
                raise
            logger.info("new labels go to train whole", extra={"reason": str(exc)})
            for handle in (train, validation, images):
                handle.seek(0)
                handle.truncate()
            return labeled_to_train(open_source, train, options)


def _task_result(
    request: SplitRequest, prefix: str, names: tuple[str, ...], result: SplitResult, dataset: dict[str, Any]
) -> dict[str, Any]:
    """The task result: the uploaded outputs' URIs (``prefix`` + ``names``), counts and training inputs."""
    return {
        "train_uri": s3_uri(request.data_bucket, prefix + names[0]),
        "validation_uri": s3_uri(request.data_bucket, prefix + names[1]),
        "validation_images_uri": s3_uri(request.data_bucket, prefix + names[2]),
        "validation_images_prefix": result.images_prefix,
        "transform_output_uri": s3_uri(request.data_bucket, transform_prefix(request.run_id)),
        "counts": {
            "train": result.train_count,
            "validation": result.validation_count,
            "skipped": result.skipped,
            "per_class": per_class_names(result, request.class_names),
        },
        "label_attribute": request.label_attribute,
        "num_classes": len(request.class_names),
        "class_names": list(request.class_names),
        "seed": request.seed,
        "hyperparameters": hyperparameters(request, result),
        "dataset": dataset,
    }


@tracer.capture_method
def run_split(request: SplitRequest) -> dict[str, Any]:
    """Split the manifest and upload the three outputs; return the task result."""
    try:
        bucket, key = parse_s3_uri(request.manifest_uri)
    except S3UriError as exc:
        raise SplitError(f"manifest_uri {exc}") from exc
    s3 = client("s3")
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        raise SplitError(f"manifest {request.manifest_uri} is unreadable ({error_code(exc) or exc})") from exc
    etag = head.get("ETag")

    def open_source() -> Any:
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if etag:
            params["IfMatch"] = etag
        try:
            return s3.get_object(**params)["Body"]
        except ClientError as exc:
            raise SplitError(
                f"manifest {request.manifest_uri} is unreadable ({error_code(exc) or exc})"
            ) from exc

    options = SplitOptions(
        label_attribute=request.label_attribute,
        task_type=request.task_type,
        num_classes=len(request.class_names),
        validation_ratio=request.validation_ratio,
        seed=request.seed,
    )
    prefix = splits_prefix(request.run_id)
    names = ("train.manifest", "validation.manifest", "validation-images.manifest")
    with tempfile.TemporaryDirectory(prefix="gtpipe-out-") as out_dir:
        paths = [os.path.join(out_dir, name) for name in names]
        result = split_to_files(request, options, open_source, paths, out_dir)
        dataset = add_to_dataset(
            bucket=request.data_bucket,
            source_manifest_uri=request.source_manifest_uri,
            task_type=request.task_type,
            class_names=request.class_names,
            paths=paths,
            result=result,
            options=options,
            work=out_dir,
        )
        for path, name in zip(paths, names, strict=True):
            content_type = (
                "application/json" if name == "validation-images.manifest" else "application/jsonlines"
            )
            s3.upload_file(path, request.data_bucket, prefix + name, ExtraArgs={"ContentType": content_type})
        dataset["version"] = record_dataset(
            bucket=request.data_bucket,
            task_type=request.task_type,
            class_names=request.class_names,
            train_path=paths[0],
            validation_path=paths[1],
        )
    metrics.add_metric(
        name="SplitLines", unit=MetricUnit.Count, value=result.train_count + result.validation_count
    )
    logger.info(
        "split done",
        extra={"train": result.train_count, "validation": result.validation_count, "skipped": result.skipped},
    )
    answer = _task_result(request, prefix, names, result, dataset)
    answer["warm_start"] = decide_and_record(
        run_id=request.run_id,
        dataset=dataset,
        task_type=request.task_type,
        class_names=request.class_names,
        training_image=request.training_image,
        hyperparameters=answer["hyperparameters"],
    )
    return answer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """State-machine payload -> split result (see README of the function in the final report)."""
    request = parse_request(event)
    log_run(logger, request.run_id)
    try:
        return run_split(request)
    except SplitError as exc:
        logger.warning("split failed", extra={"reason": str(exc)})
        raise
