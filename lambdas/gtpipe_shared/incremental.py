"""Warm start of a feedback run's training from the serving model: SageMaker incremental training (README
"Model lifecycle: harvest, relabel, retrain", ``gtpipe:harvest.warmStart``).

A training job of a built-in image-classification or object-detection algorithm may take an extra input
channel ``model`` (ContentType ``application/x-sagemaker-model``) holding an earlier model's
``model.tar.gz``; training then starts from that model's weights. SageMaker requires the earlier model to have
been trained by the same algorithm with the same network: for image classification ``num_layers``,
``image_shape`` and ``num_classes`` (https://docs.aws.amazon.com/sagemaker/latest/dg/incremental-training.html,
https://docs.aws.amazon.com/sagemaker/latest/dg/image-classification.html "Incremental training"); otherwise
the job fails. For object detection (https://docs.aws.amazon.com/sagemaker/latest/dg/object-detection.html
supports incremental training without listing them) ``base_network``, ``image_shape`` and ``num_classes``, the
ones the local algorithm sizes its network by (training/README.md): the conservative reading. This project also requires the same class list in the same order (the label set's fingerprint):
the same count in another order would silently swap classes.

What the serving model was trained with is recorded where it is deployed: Publish writes
:func:`serving_model` into the ``@serving`` ledger item (from the run's ``$.training``: the artifact, the
training image and the training job's hyperparameters), and a rollback (``gtpipe deploy --package``) from the
package's container and its ``gtpipe:architecture`` metadata (:data:`ARCHITECTURE_METADATA`, written at
registration). The split of a cumulative run decides with :func:`warm_start_decision` and records the
decision and the dataset version it trained on in the run's ledger item (:func:`training_data_update`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from gtpipe_shared import ledger
from gtpipe_shared.tasks import TaskType

MODEL_CHANNEL = "model"
MODEL_CONTENT_TYPE = "application/x-sagemaker-model"
# The model package's CustomerMetadataProperties key of the architecture fingerprint (model_registry).
ARCHITECTURE_METADATA = "gtpipe:architecture"
ARCHITECTURE_HYPERPARAMETERS: dict[str, tuple[str, ...]] = {
    TaskType.IMAGE_CLASSIFICATION.value: ("num_layers", "image_shape", "num_classes"),
    TaskType.OBJECT_DETECTION.value: ("base_network", "image_shape", "num_classes"),
}


def architecture(task_type: str, hyperparameters: Mapping[str, Any] | None) -> dict[str, str]:
    """The hyperparameters of ``task_type``'s algorithm that incremental training requires to match (the
    ones set; an unset one is the algorithm's default on both sides), as strings without spaces."""
    names = ARCHITECTURE_HYPERPARAMETERS.get(task_type, ())
    raw = hyperparameters or {}
    return {name: str(raw[name]).replace(" ", "") for name in names if raw.get(name) is not None}


def architecture_fingerprint(task_type: str, hyperparameters: Mapping[str, Any] | None) -> str:
    """``ar1-`` and 32 hex digits of the task type and :func:`architecture`: equal exactly when both are."""
    canonical = json.dumps(
        {"task_type": task_type, "architecture": architecture(task_type, hyperparameters)},
        sort_keys=True,
        separators=(",", ":"),
    )
    return "ar1-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def serving_model(training: Any, task_type: str) -> dict[str, Any]:
    """What ``@serving`` records of the model it serves, from a run's ``$.training`` (``model_artifacts``,
    ``image``, ``hyperparameters``) or a rollback's (``architecture``: the package's fingerprint instead of
    hyperparameters). Empty when ``training`` names no artifact."""
    if not isinstance(training, Mapping) or not training.get("model_artifacts"):
        return {}
    record: dict[str, Any] = {
        "model_artifacts": str(training["model_artifacts"]),
        "training_image": str(training.get("image") or ""),
    }
    hyperparameters = training.get("hyperparameters")
    if isinstance(hyperparameters, Mapping):
        record["architecture"] = architecture_fingerprint(task_type, hyperparameters)
        record["hyperparameters"] = architecture(task_type, hyperparameters)
    elif training.get("architecture"):
        record["architecture"] = str(training["architecture"])
    return record


def _architecture_reason(
    model: Mapping[str, Any], task_type: str, hyperparameters: Mapping[str, Any]
) -> str | None:
    """Why the serving model's network differs from this run's, or None when it is the same."""
    recorded = model.get("architecture")
    if not recorded:
        return "the serving model's training hyperparameters are not recorded"
    if recorded == architecture_fingerprint(task_type, hyperparameters):
        return None
    before = model.get("hyperparameters")
    now = architecture(task_type, hyperparameters)
    if isinstance(before, Mapping):
        changed = [
            f"{name} {before.get(name, '(default)')} -> {now.get(name, '(default)')}"
            for name in ARCHITECTURE_HYPERPARAMETERS.get(task_type, ())
            if before.get(name) != now.get(name)
        ]
        if changed:
            return "the network differs from the serving model's: " + ", ".join(changed)
    names = "/".join(ARCHITECTURE_HYPERPARAMETERS.get(task_type, ()))
    return f"the network ({names}) differs from the serving model's"


def warm_start_decision(
    serving: Mapping[str, Any] | None,
    *,
    enabled: bool,
    cumulative: bool,
    task_type: str,
    class_names: Sequence[str],
    training_image: str,
    hyperparameters: Mapping[str, Any],
) -> dict[str, Any]:
    """``{"model_uri", "source_run_id", "model_name"}`` when this run trains from the serving model, else
    ``{"reason"}`` saying why it trains from scratch: warm start off, not a cumulative (feedback) run,
    nothing serves, another label set (task type or class list), another algorithm (training image), another
    network (:data:`ARCHITECTURE_HYPERPARAMETERS`) or nothing recorded to compare with."""
    if not enabled:
        return {"reason": "warm start is off (gtpipe:harvest.warmStart)"}
    if not cumulative:
        return {
            "reason": "not a cumulative run (only a feedback run adds to the dataset a model served from)"
        }
    if not serving or not serving.get("source_run_id"):
        return {"reason": "no model serves"}
    served_classes = [str(name) for name in serving.get("class_names") or []]
    if not served_classes or ledger.labeling_fingerprint(
        str(serving.get("task_type") or ""), served_classes
    ) != ledger.labeling_fingerprint(task_type, list(class_names)):
        return {"reason": "the serving model predicts another label set (task type or class list changed)"}
    model = serving.get("serving_model")
    if not isinstance(model, Mapping) or not model.get("model_artifacts"):
        return {"reason": "the serving model's artifact is not recorded (it was deployed before warm start)"}
    if model.get("training_image") != training_image:
        return {
            "reason": f"the serving model was trained with image {model.get('training_image') or '(unknown)'}, "
            f"this run trains with {training_image}"
        }
    reason = _architecture_reason(model, task_type, hyperparameters)
    if reason:
        return {"reason": reason}
    return {
        "model_uri": str(model["model_artifacts"]),
        "source_run_id": str(serving["source_run_id"]),
        "model_name": str(serving.get("model_name") or ""),
    }


def training_data_update(
    dataset: Mapping[str, Any], warm_start: Mapping[str, Any], now: str
) -> ledger.Update:
    """Record on a run's item the dataset version it trains on (``dataset``: the split's answer, version ids
    included) and ``warm_start`` (:func:`warm_start_decision`); only on an existing run item."""
    return ledger.Update(
        update_expression="SET #dataset = :dataset, #warm = :warm, #updated = :now",
        condition_expression="attribute_exists(run_id)",
        names={"#dataset": "dataset", "#warm": "warm_start", "#updated": "updated_at"},
        values={":dataset": dict(dataset), ":warm": dict(warm_start), ":now": now},
    )
