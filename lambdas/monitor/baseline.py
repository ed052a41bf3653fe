"""The serving model's drift baseline: read it, or build it once from its run's validation split.

Built from ``runs/<run id>/metrics.json`` (evaluate's report names the validation manifest and the batch
transform's output): at most MAX_BASELINE_IMAGES validation images (spread evenly over the manifest's
order, so the same baseline every time), their features (``gtpipe_shared.drift_image``) and their
validation predictions (classification: the predicted class and top confidence of each ``.out``). Written to
``runs/<run id>/drift-baseline.json`` (``gtpipe_shared.drift_monitor.baseline_key``) and read from there
afterwards, so a model's baseline is computed once, on the monitor's first window after it is deployed, well
before its split expires (``splits/`` and ``transform/`` are kept 90 days).
"""

from __future__ import annotations

from typing import Any

from gtpipe_shared.drift import DriftError, Features, build_baseline, check_baseline
from gtpipe_shared.drift_image import image_features
from gtpipe_shared.drift_monitor import baseline_key
from gtpipe_shared.manifest import source_ref_of
from gtpipe_shared.metrics import PredictionError, argmax, output_uri_for, parse_prediction
from gtpipe_shared.naming import metrics_key
from gtpipe_shared.split import SplitError, common_prefix, manifest_prefix
from gtpipe_shared.tasks import task_spec

from monitor.store import evenly, fetch_all, get_bytes, get_json, get_uri, put_json

MAX_BASELINE_IMAGES = 500


def load_baseline(bucket: str, run_id: str, class_names: list[str], task_type: str) -> dict[str, Any]:
    """The baseline of run ``run_id``'s model, built and stored first when there is none yet; DriftError
    when it can be neither read nor built (the message says why)."""
    stored = get_json(bucket, baseline_key(run_id))
    if stored is not None:
        return check_baseline(stored)
    baseline = build(bucket, run_id, class_names, task_type)
    put_json(bucket, baseline_key(run_id), baseline)
    return baseline


def validation_refs(bucket: str, validation_uri: str) -> list[str]:
    """The ``source-ref`` of every line of the validation manifest."""
    data = get_uri(validation_uri)
    if data is None:
        raise DriftError(f"validation manifest {validation_uri} is gone (splits expire after 90 days)")
    lines = data.decode("utf-8", "replace").splitlines()
    return [ref for ref in map(source_ref_of, lines) if ref is not None]


def _prediction(uri: str) -> tuple[int, float] | None:
    body = get_uri(uri)
    if body is None:
        return None
    try:
        probabilities = parse_prediction(body)
    except (PredictionError, ValueError):
        return None
    best = argmax(probabilities)
    return best, float(probabilities[best])


def _features(ref: str) -> Features | None:
    data = get_uri(ref)
    if data is None:
        return None
    try:
        return image_features(data)
    except Exception:  # an undecodable image has no features: it is left out, not fatal
        return None


def build(bucket: str, run_id: str, class_names: list[str], task_type: str) -> dict[str, Any]:
    """The baseline computed from the run's validation images and predictions (module docstring)."""
    report = get_json(bucket, metrics_key(run_id))
    if not isinstance(report, dict) or not isinstance(report.get("validation_uri"), str):
        raise DriftError(f"run {run_id} has no readable {metrics_key(run_id)} naming its validation manifest")
    refs = validation_refs(bucket, report["validation_uri"])
    chosen = evenly(refs, MAX_BASELINE_IMAGES)
    features = [f for f in fetch_all(_features, chosen) if f is not None]
    predictions: list[tuple[int, float]] = []
    output_uri = report.get("transform_output_uri")
    if not task_spec(task_type).boxes and isinstance(output_uri, str) and refs:
        common: str | None = None
        for ref in refs:
            common = common_prefix(common, ref)
        try:
            prefix = manifest_prefix(common or "", len(refs))
            uris = [output_uri_for(ref, prefix, output_uri) for ref in chosen]
        except (SplitError, ValueError) as exc:
            raise DriftError(f"run {run_id}: validation predictions cannot be located ({exc})") from exc
        predictions = [p for p in fetch_all(_prediction, uris) if p is not None]
    return build_baseline(run_id=run_id, class_names=class_names, features=features, predictions=predictions)


__all__ = ["MAX_BASELINE_IMAGES", "build", "get_bytes", "load_baseline"]
