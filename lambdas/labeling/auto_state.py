"""Automated labeling on the builtin labeling service: the loop's state document and its human batches
(:mod:`labeling.auto` and :mod:`labeling.auto_round` act on them).

The loop's state is one JSON document in the data bucket (``labeling/auto/<run_id>/state.json``); every
action reads it (:func:`load`), changes it and writes it back (:func:`save`): the state machine runs one
action at a time per run. Each action answers the ``$.auto`` view (:func:`view`); a batch people label next
is written as an input manifest of the objects' own lines (:func:`batch_manifest`), with the labeling
model's predictions as suggestions where there are any.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError
from gtpipe_shared import labeling_suggestions as suggestions
from gtpipe_shared.auto_labeling import ActiveLearningPlan, Prediction
from gtpipe_shared.aws import client, error_code
from gtpipe_shared.s3uri import S3UriError, parse_s3_uri

from labeling import auto_model


class AutoLabelingFailed(Exception):
    """The loop cannot go on; the message is the failure's cause (the run fails at ``labeling``)."""


# --- S3 ---------------------------------------------------------------------------------------------


def get(uri: str, what: str) -> bytes:
    """The object at ``uri``; :class:`AutoLabelingFailed` naming ``what`` when it cannot be read."""
    try:
        bucket, key = parse_s3_uri(uri)
        return bytes(client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    except S3UriError as exc:
        raise AutoLabelingFailed(f"{what}: {exc}") from exc
    except ClientError as exc:
        raise AutoLabelingFailed(f"{what} {uri} cannot be read: {error_code(exc) or exc}") from exc


def put(bucket: str, key: str, body: bytes, content_type: str) -> str:
    """Write ``body`` at ``bucket``/``key``; its ``s3://`` URI."""
    client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    return f"s3://{bucket}/{key}"


def prefix(run_id: str) -> str:
    """Where the loop of ``run_id`` keeps its state, batch manifests and predictions."""
    return f"labeling/auto/{run_id}/"


def save(state: dict[str, Any]) -> str:
    """Write the loop's state; its URI (the view's ``state_uri``)."""
    return put(
        state["bucket"],
        prefix(state["run_id"]) + "state.json",
        json.dumps(state).encode(),
        "application/json",
    )


def load(event: Mapping[str, Any]) -> dict[str, Any]:
    """The loop's state at the payload's ``state_uri``; :class:`AutoLabelingFailed` saying why not."""
    uri = event.get("state_uri")
    if not isinstance(uri, str) or not uri:
        raise AutoLabelingFailed("the payload has no state_uri (the auto_start answer's)")
    try:
        state = json.loads(get(uri, "automated labeling state"))
    except ValueError as exc:
        raise AutoLabelingFailed(f"automated labeling state {uri} is not JSON: {exc}") from exc
    if not isinstance(state, dict) or "queue" not in state:
        raise AutoLabelingFailed(f"automated labeling state {uri} is not the loop's state")
    return state


def label_of(state: Mapping[str, Any], index: int) -> Mapping[str, Any] | None:
    """Object ``index``'s label content (``{<attr>, <attr>-metadata}``): people's, else the machine's; None
    while it has neither."""
    label: Mapping[str, Any] | None = state["human"].get(str(index)) or state["machine"].get(str(index))
    return label


def plan(state: Mapping[str, Any]) -> ActiveLearningPlan:
    """The loop's batch sizes and bounds, as ``auto_start`` recorded them."""
    return ActiveLearningPlan(**state["plan"])


def view(state: Mapping[str, Any], state_uri: str, next_step: str, **extra: Any) -> dict[str, Any]:
    """The ``$.auto`` answer: where the state is, the round, what the state machine does next and the
    counters so far, plus the step's inputs (``extra``)."""
    return {
        "state_uri": state_uri,
        "round": int(state["round"]),
        "next": next_step,
        "human": len(state["human"]),
        "machine": len(state["machine"]),
        "remaining": len(state["queue"]),
        **extra,
    }


def batch_manifest(state: dict[str, Any], predictions: Mapping[int, Prediction] | None = None) -> str:
    """Write the pending batch as an input manifest (the objects' own lines) for ``LabelAutoBatch``; with
    the labeling model's ``predictions``, each line carries its object's as the suggestion people see
    (pre-annotation, :mod:`gtpipe_shared.labeling_suggestions`; adaptive redundancy's model hook)."""
    lines = "".join(
        _suggested(state, index, (predictions or {}).get(index)) + "\n" for index in state["pending"]
    )
    key = f"{prefix(state['run_id'])}round-{state['round']}/batch.manifest"
    return put(state["bucket"], key, lines.encode(), "application/jsonlines")


def _suggested(state: Mapping[str, Any], index: int, prediction: Prediction | None) -> str:
    """The object's manifest line with the model's prediction as its suggestion; unchanged without a usable
    one (no prediction, no box, or one the job would refuse as an answer: a suggestion is optional)."""
    line = state["lines"][index]
    if prediction is None or prediction.value is None:
        return line
    if auto_model.boxes(state):
        size = state.get("sizes", {}).get(str(index))
        if not prediction.value or not size:
            return line
        suggestion = suggestions.from_boxes(prediction.value, size)
    else:
        suggestion = suggestions.from_prediction(int(prediction.value), prediction.confidence)
    try:
        suggestions.parse(state["task_type"], suggestion, state["class_names"])
    except ValueError:
        return line
    return json.dumps({**json.loads(line), suggestions.SUGGESTION_KEY: suggestion})


def to_people(
    state: dict[str, Any],
    batch: Sequence[int],
    last: bool,
    predictions: Mapping[int, Prediction] | None = None,
) -> dict[str, Any]:
    """Send ``batch`` to people next, as round ``round + 1`` (training objects), with the model's
    ``predictions`` as suggestions when there are any; answer ``next: label``."""
    state["round"] += 1
    state["pending"] = list(batch)
    taken = set(batch)
    state["queue"] = [index for index in state["queue"] if index not in taken]
    state["pending_validation"] = []
    state["last"] = bool(last)
    uri = batch_manifest(state, predictions)
    return view(state, save(state), "label", batch_manifest_uri=uri, batch_size=len(batch))
