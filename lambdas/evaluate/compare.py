"""evaluate, champion/challenger mode: score the serving model (champion) and the new one (challenger) on
the same validation images and decide whether the challenger may replace it.

The images are those of the golden manifest (``gtpipe:championChallenger.goldenManifest``, labels that
never enter training) when one is configured, else the new run's validation images; either way without
those that either model trained on (the runs' ``splits/<run_id>/train.manifest``), so a champion that
memorized some of them gets no advantage. The golden manifest also protects against corrupted labels: a
challenger trained on them is scored against the same corrupted labels in its own validation split. Each
model's predictions come from its own batch transform of the validation images; the metric is the gate's
(accuracy or mAP at IoU 0.5). The answer is the challenger's evaluation with ``passed`` replaced by the
combined decision and a ``champion`` block (the report's side-by-side card and the ledger's reason).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError
from gtpipe_shared.aws import client, error_code
from gtpipe_shared.champion import decide
from gtpipe_shared.manifest import is_blank, iter_lines, source_ref_of
from gtpipe_shared.naming import splits_prefix
from gtpipe_shared.s3uri import s3_uri
from gtpipe_shared.split import SplitError, common_prefix, manifest_prefix, relative_to
from gtpipe_shared.tasks import task_spec
from pydantic import BaseModel, ConfigDict, Field

from evaluate.handler import (
    EvaluateRequest,
    EvaluationError,
    classification_report,
    detection_report,
    fetch_outputs,
    images_prefix,
    read_labels,
)

TRAIN_MANIFEST = "train.manifest"
GOLDEN_IMAGES_MANIFEST = "golden-images.manifest"


class Champion(BaseModel):
    """The serving model (notify's ``champion`` answer) and where its transform wrote its predictions."""

    model_config = ConfigDict(extra="ignore")

    model_name: str = Field(min_length=1)
    source_run_id: str = Field(min_length=1)
    transform_output_uri: str = Field(min_length=1)


class CompareRequest(EvaluateRequest):
    """The Evaluate payload plus the champion, the challenger's evaluation and the gate's settings."""

    champion: Champion
    challenger: dict[str, Any]
    golden: bool = False
    margin_points: float = Field(ge=0.0, le=100.0)
    min_images: int = Field(ge=1)


def champion_training_refs(bucket: str, champion_run_id: str) -> set[str] | None:
    """The source-refs the champion trained on, or None when its train manifest is gone (the splits/
    lifecycle rule expires it) or unreadable: then nobody can tell which images it has seen."""
    key = splits_prefix(champion_run_id) + TRAIN_MANIFEST
    try:
        body = client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404", "AccessDenied", "403"):
            return None
        raise
    refs: set[str] = set()
    try:
        for _number, line in iter_lines(body, max_line_bytes=1_000_000):
            ref = None if line is None or is_blank(line) else source_ref_of(line)
            if ref is not None:
                refs.add(ref)
    finally:
        body.close()
    return refs


def _score(labels: list[tuple[str, Any]], prefix: str, output_uri: str, request: CompareRequest) -> float:
    outputs = fetch_outputs(labels, prefix, output_uri)
    scored = request.model_copy(update={"transform_output_uri": output_uri})
    if task_spec(request.task_type).boxes:
        return float(detection_report(labels, outputs, scored)["metric_value"])
    return float(classification_report(labels, outputs, scored)["metric_value"])


def compare(request: CompareRequest) -> dict[str, Any]:
    """The challenger's evaluation with ``passed`` from the champion/challenger decision and the
    ``champion`` block: both scores, the images they were scored on, the margin and the reason."""
    labels = read_labels(request)
    prefix = images_prefix(labels, request)
    seen = champion_training_refs(request.data_bucket, request.champion.source_run_id)
    # The challenger never trains on its validation images, but a golden image may also sit in its
    # training manifest (dropped with the rest): such images are left out too.
    # A golden manifest never enters training by rule, so an expired champion manifest does not stop it.
    if request.golden:
        seen = (seen or set()) | (champion_training_refs(request.data_bucket, request.run_id) or set())
    held_out = [pair for pair in labels if seen is not None and pair[0] not in seen]
    metric_name = str(request.challenger.get("metric_name") or task_spec(request.task_type).metric_name)
    challenger_value = champion_value = None
    if len(held_out) >= request.min_images:
        challenger_value = _score(held_out, prefix, request.transform_output_uri, request)
        try:
            champion_value = _score(held_out, prefix, request.champion.transform_output_uri, request)
        except EvaluationError as exc:
            raise EvaluationError(f"serving model {request.champion.model_name}: {exc}") from exc
    decision = decide(
        metric_name=metric_name,
        challenger=challenger_value,
        champion=champion_value,
        images=len(held_out),
        margin_points=request.margin_points,
        min_images=request.min_images,
        what="golden images" if request.golden else "validation images",
    )
    reason = decision.reason
    if seen is None:
        reason = (
            f"not compared with the serving model: the training manifest of its run "
            f"{request.champion.source_run_id} is gone ({s3_uri(request.data_bucket, splits_prefix(request.champion.source_run_id) + TRAIN_MANIFEST)})"
        )
    return {
        **request.challenger,
        "passed": bool(request.challenger.get("passed")) and decision.passed,
        "champion": {
            "model_name": request.champion.model_name,
            "source_run_id": request.champion.source_run_id,
            "compared": decision.compared,
            "passed": decision.passed,
            "images": len(held_out),
            "on": "golden manifest" if request.golden else "validation images",
            "metric_name": metric_name,
            "challenger_value": challenger_value,
            "champion_value": champion_value,
            "margin_points": request.margin_points,
            "reason": reason,
        },
    }


class GoldenRequest(BaseModel):
    """PrepareGolden's payload: the frozen golden manifest (labels that never enter training)."""

    model_config = ConfigDict(extra="ignore")

    run_id: str = Field(min_length=1)
    golden_manifest_uri: str = Field(min_length=1)
    label_attribute: str = Field(min_length=1)
    class_names: list[str] = Field(min_length=1)
    task_type: str
    data_bucket: str = Field(min_length=1)
    transform_output_uri: str = Field(min_length=1)


def prepare_golden(request: GoldenRequest) -> dict[str, Any]:
    """Check that every golden line carries a label of the run's label set and write its images as a
    ManifestFile (``splits/<run_id>/golden-images.manifest``) for the two transforms. The answer has the
    shape of the comparison's inputs: images, labels, where the challenger's predictions go, ``golden``."""
    probe = EvaluateRequest(
        run_id=request.run_id,
        validation_uri=request.golden_manifest_uri,
        transform_output_uri=request.transform_output_uri,
        label_attribute=request.label_attribute,
        class_names=request.class_names,
        task_type=request.task_type,
        quality_threshold=0.0,
        data_bucket=request.data_bucket,
    )
    try:
        labels = read_labels(probe)
        common: str | None = None
        for ref, _ in labels:
            common = common_prefix(common, ref)
        prefix = manifest_prefix(common or "", len(labels))
        entries = [{"prefix": prefix}, *(relative_to(prefix, ref) for ref, _ in labels)]
    except (EvaluationError, SplitError) as exc:
        raise EvaluationError(f"golden manifest {request.golden_manifest_uri}: {exc}") from exc
    key = splits_prefix(request.run_id) + GOLDEN_IMAGES_MANIFEST
    client("s3").put_object(
        Bucket=request.data_bucket, Key=key, Body=json.dumps(entries).encode(), ContentType="application/json"
    )
    return {
        "images_uri": s3_uri(request.data_bucket, key),
        "labels_uri": request.golden_manifest_uri,
        "challenger_output_uri": request.transform_output_uri,
        "golden": True,
        "images": len(labels),
    }
