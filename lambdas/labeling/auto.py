"""Automated labeling on the builtin labeling service: the labeling function's part of the state machine's loop.

Ground Truth's automated data labeling (:mod:`gtpipe_shared.auto_labeling`), run by the pipeline with AWS
services only: people label batches as ordinary builtin jobs (``LabelAutoBatch``, the ``open`` action on a
batch manifest), a SageMaker training job trains the run's algorithm on their labels, a batch transform
predicts the validation sample and the unlabeled remainder, and this module decides each round. The loop's
state is one JSON document in the data bucket (:mod:`labeling.auto_state`); every action reads it,
changes it and writes it back (the state machine runs one action at a time per run). A model round's
decision, with its verification and widening batches, is :mod:`labeling.auto_round`'s.

Actions (payload ``action``; each answers the ``$.auto`` view, :func:`labeling.auto_state.view`):

* ``auto_start``: shuffle the manifest (seeded by the run id), the first human batch: ``batch_size``
  training objects and ``validation_size`` validation objects, or only the validation objects when the run
  starts from an earlier run's model (``reuseModel``: that model predicts first, as Ground Truth's
  ``InitialActiveLearningModelArn`` does, no training).
* ``auto_add``: record a batch job's human labels; then ``next`` is ``train`` (training and validation
  manifests, hyperparameters), ``transform`` (the earlier model, not yet tried), ``label`` (no model can be
  made: the queue's next batch) or ``finish``; when nothing is left to label, first ``train`` once more when
  it is due: the final labeling model, on every label outside the validation sample
  (:mod:`labeling.auto_training`). A verification batch's answers (below) are recorded per
  validation object instead, a widening batch's join the validation sample; then another verification or
  widening batch or the round's decision follows.
* ``auto_round``: read the transform's predictions; first, while validation objects the model disputes
  need another answer (:func:`gtpipe_shared.auto_labeling.needs_verification`), send them to people again
  (``next: label``, no suggestions; the round resumes in ``auto_add``); while the verified sample reaches
  no threshold, people label more queued objects, drawn at random, as validation (widening:
  :func:`gtpipe_shared.auto_labeling.widening`, the same predictions decide again); then calibrate the
  threshold on the validation sample (95 % accuracy at :data:`CREDIBILITY`), machine-label the confident
  objects, price the round's training and transform, and put the least confident objects first (the
  next human batch: ``batch_size`` of them, or half when between one and two batches are left,
  :func:`gtpipe_shared.auto_labeling.decide_round`);
  ``next`` is ``label`` (the batch's lines carry the model's predictions as suggestions: pre-annotation),
  ``train`` (the final labeling model, when the round machine-labeled the rest) or ``finish``.
  Bounding boxes: each image's size is read from its header
  (:func:`gtpipe_shared.image_header.stored_displayed_size`: the size people draw on), the boxes' score
  cut-off is calibrated on the validation sample first (:func:`gtpipe_shared.model_labels.choose_box_cutoff`)
  and a machine label agrees with people's when every box matches
  (:func:`gtpipe_shared.model_labels.boxes_agree`); disputed validation labels are verified as classes'
  are, two labels being the same when their boxes agree (:func:`labeling.auto_model.same_label`).
* ``auto_finish``: write Ground Truth's output manifest (machine labels ``human-annotated: "no"`` with their
  confidence) and answer the Label state's result shape: counters, the final model, the team statistics of
  every batch merged, the rounds and their cost.

Bad input raises :class:`AutoLabelingFailed` (the state machine's ``FailedLabeling`` records it).
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Mapping
from typing import Any

from gtpipe_shared import labeling_output as output
from gtpipe_shared import labeling_paths
from gtpipe_shared import labeling_store as store
from gtpipe_shared import labeling_suggestions as suggestions
from gtpipe_shared.auto_labeling import ActiveLearningPlan, decide_round
from gtpipe_shared.config import require_env
from gtpipe_shared.labeling_stats import merge_team_statistics
from gtpipe_shared.tasks import TaskType, task_spec

from labeling import auto_round
from labeling.auto_state import (
    AutoLabelingFailed,
    batch_manifest,
    get,
    label_of,
    load,
    plan,
    put,
    save,
    to_people,
    view,
)
from labeling.auto_training import final_model_due, round_labels, train, train_final_model, transform_input

__all__ = ["ACTIONS", "AutoLabelingFailed", "handle", "plan_of"]

ACTIONS = ("auto_start", "auto_add", "auto_round", "auto_finish")
# The task types the loop labels (README, "Automated labeling on the builtin service").
TASK_TYPES = (TaskType.IMAGE_CLASSIFICATION.value, TaskType.OBJECT_DETECTION.value)
DEFAULT_MAX_ROUNDS = 5
# The threshold's posterior probability of 95% accurate machine labels (auto_labeling.credibility_of): 20 of
# 20 agreeing reach 0.65, so a smaller validation sample never could; Laplace's mean (18 of 18) fell short of
# 95% too often once validation labels were verified (BENCHMARKS.md, builtin-auto).
MIN_VALIDATION = 20
CREDIBILITY = 0.65
# Boxes need more: an image's confidence (its least sure box) separates right images from wrong ones less well
# than a class's (AUC 0.82 for a detector at validation mAP 0.93), and the score cut-off is chosen on the same
# sample, so at 0.65 the images just above the lowest credible threshold were right far less often than 95%:
# on two measured detectors' answers (the local cloud, 600 scenes) the runs that machine-labeled got 78-88%
# right (BENCHMARKS.md, builtin-auto-boxes). 0.9 needs 44 of 44 agreeing images (widening gives the loop up to
# three times its sample); simulated on those detectors, no run machine-labeled below 95%.
BOX_CREDIBILITY = 0.9
DEFAULT_BATCH_SHARE = 0.1
# The run's state holds the result; Step Functions' state limit is 256 KiB (the job's answer trims alike).
MAX_TEAM_BYTES = 150_000


# --- the plan ------------------------------------------------------------------------------------


def plan_of(settings: Mapping[str, Any], objects: int, *, boxes: bool = False) -> ActiveLearningPlan:
    """The loop's batch sizes and bound from ``settings`` (``auto_batch_size``, ``auto_validation_size``,
    ``auto_max_rounds``; unset: a tenth of the manifest per batch, at least :data:`MIN_VALIDATION`, and
    :data:`DEFAULT_MAX_ROUNDS` rounds); the threshold's credibility: :data:`CREDIBILITY`, or
    :data:`BOX_CREDIBILITY` for ``boxes``; for classes, the threshold is also never below the model's own
    expectation (``own_confidence``, :func:`gtpipe_shared.auto_labeling.own_threshold`)."""
    default = max(MIN_VALIDATION, round(objects * DEFAULT_BATCH_SHARE))
    batch = int(settings.get("auto_batch_size") or default)
    validation = int(settings.get("auto_validation_size") or max(batch, MIN_VALIDATION))
    rounds = int(settings.get("auto_max_rounds") or DEFAULT_MAX_ROUNDS)
    try:
        return ActiveLearningPlan(
            batch_size=batch,
            validation_size=validation,
            max_rounds=rounds,
            credibility=BOX_CREDIBILITY if boxes else CREDIBILITY,
            own_confidence=not boxes,
            split_last_batches=True,
        )
    except ValueError as exc:
        raise AutoLabelingFailed(f"automated labeling settings: {exc}") from exc


# --- auto_start -------------------------------------------------------------------------------------


def start(event: Mapping[str, Any]) -> dict[str, Any]:
    """``auto_start``: the loop's state and its first human batch (module docstring)."""
    missing = [k for k in ("run_id", "task_type", "manifest_uri", "label_attribute") if not event.get(k)]
    if missing:
        raise AutoLabelingFailed(f"auto_start payload lacks {', '.join(missing)}")
    if event["task_type"] not in TASK_TYPES:
        raise AutoLabelingFailed(
            f"automated labeling on the builtin service labels {' and '.join(TASK_TYPES)} runs; "
            f"got {event['task_type']}"
        )
    settings = event.get("settings") or {}
    class_names = event.get("class_names")
    if not isinstance(class_names, list) or not class_names:
        raise AutoLabelingFailed("auto_start payload needs class_names (the run's label categories)")
    uri = str(event["manifest_uri"])
    try:
        objects = store.objects_from_manifest(get(uri, "input manifest"))
    except store.InvalidManifest as exc:
        raise AutoLabelingFailed(f"input manifest {uri}: {exc}") from exc
    plan = plan_of(settings, len(objects), boxes=bool(task_spec(event["task_type"]).boxes))
    order = list(range(len(objects)))
    random.Random(f"auto-labeling:{event['run_id']}").shuffle(order)  # the random first batch
    initial = settings.get("initial_active_learning_model_arn")
    initial_name = str(initial).rsplit("/", 1)[-1] if isinstance(initial, str) and initial else None
    training = [] if initial_name else order[: plan.batch_size]
    validation = order[len(training) : len(training) + plan.validation_size]
    state: dict[str, Any] = {
        "run_id": str(event["run_id"]),
        "bucket": require_env("DATA_BUCKET"),
        "task_type": str(event["task_type"]),
        "label_attribute": str(event["label_attribute"]),
        "class_names": [str(name) for name in class_names],
        "output_path": str(settings.get("output_path") or f"s3://{require_env('DATA_BUCKET')}/labeling/"),
        "plan": dataclasses.asdict(plan),  # every field: auto_state.plan rebuilds it as recorded
        "epochs": settings.get("auto_epochs"),
        "hyperparameters": settings.get("auto_hyperparameters") or {},
        "lines": [obj.line for obj in objects],
        "refs": [obj.source_ref for obj in objects],
        "queue": [i for i in order if i not in set(training) | set(validation)],
        "pending": [*training, *validation],
        "pending_validation": validation,
        "training": [],
        "validation": [],
        "trained_on": 0,
        "human": {},
        "machine": {},
        "sizes": {},
        "failed": [],
        "validation_drawn": len(validation),
        "teams": [],
        "round": 1,
        "model_rounds": 0,
        "rounds": [],
        "last": False,
        "initial_model": {"name": initial_name, "arn": initial} if initial_name else None,
        "model": None,
    }
    batch_uri = batch_manifest(state)
    return view(state, save(state), "label", batch_manifest_uri=batch_uri, batch_size=len(state["pending"]))


# --- auto_add ---------------------------------------------------------------------------------------


def _human_labels(state: Mapping[str, Any], output_uri: str) -> dict[str, dict[str, Any]]:
    """source-ref -> ``{<attr>, <attr>-metadata}`` of the batch output's labeled lines."""
    attribute = state["label_attribute"]
    labels: dict[str, dict[str, Any]] = {}
    for number, raw in enumerate(get(output_uri, "batch output manifest").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError as exc:
            raise AutoLabelingFailed(f"batch output {output_uri} line {number} is not JSON") from exc
        if isinstance(line, dict) and attribute in line and f"{attribute}-metadata" in line:
            labels[str(line.get("source-ref"))] = {
                attribute: line[attribute],
                f"{attribute}-metadata": line[f"{attribute}-metadata"],
            }
    return labels


def _batch_team(output_uri: str, given: Any) -> dict[str, Any] | None:
    """The batch job's full team statistics: its ``team/stats.json`` next to the output manifest (the
    state machine keeps only the output's URI, to stay far below its 256 KiB state), else ``given``."""
    suffix = "manifests/output/output.manifest"
    if output_uri.endswith(suffix):
        try:
            team = json.loads(get(output_uri[: -len(suffix)] + output.TEAM_STATS_KEY, "team statistics"))
            if isinstance(team, dict):
                return team
        except (AutoLabelingFailed, ValueError):
            pass  # statistics are reporting, not labels: the batch's labels still count
    return dict(given) if isinstance(given, Mapping) else None


def add_batch(event: Mapping[str, Any]) -> dict[str, Any]:
    """``auto_add``: the batch job's labels into the state; the next step (module docstring)."""
    state = load(event)
    batch = event.get("batch") or {}
    output_uri = batch.get("output_uri") if isinstance(batch, Mapping) else None
    if not isinstance(output_uri, str):
        raise AutoLabelingFailed("auto_add payload needs batch.output_uri (the batch job's output manifest)")
    labels = _human_labels(state, output_uri)
    team = _batch_team(output_uri, batch.get("team"))
    if team is not None:
        state["teams"].append(team)
    if state.get("pending_verification"):
        return auto_round.add_verification(state, labels, event)
    if state.get("pending_widening"):
        return auto_round.add_widening(state, labels, event)
    validation = set(state["pending_validation"])
    for index in state["pending"]:
        label = labels.get(state["refs"][index])
        if label is None:
            state["failed"].append(index)
            continue
        state["human"][str(index)] = label
        (state["validation"] if index in validation else state["training"]).append(index)
    state["pending"], state["pending_validation"] = [], []
    if not state["queue"] or state["last"]:
        if final_model_due(state):  # auto_round records it and finishes (labeling.auto_round)
            return train_final_model(state, event)
        return view(state, save(state), "finish")
    to_train = round_labels(state)
    if state["training"] and state["validation"] and len(to_train) > state["trained_on"]:
        return train(state, event, to_train)
    initial = state.get("initial_model")
    if initial and state["validation"] and state["model"] is None:
        state["model"] = dict(initial)
        transform = transform_input(state)
        return view(state, save(state), "transform", model_name=initial["name"], **transform)
    # No model can be made (every training object failed): people take the queue's head.
    decision = decide_round([], state["queue"], {}, state["model_rounds"] + 1, plan(state))
    return to_people(state, decision.next_batch, decision.last)


# --- auto_finish ------------------------------------------------------------------------------------


def finish(event: Mapping[str, Any]) -> dict[str, Any]:
    """``auto_finish``: the output manifest and the Label state's result shape (module docstring)."""
    state = load(event)
    job_name = f"{state['run_id']}-auto"
    bucket, job_prefix = labeling_paths.job_prefix(state["output_path"], job_name)
    lines = []
    for index, raw in enumerate(state["lines"]):
        label = label_of(state, index)
        if label is not None:
            lines.append({**json.loads(raw), **label})
    output_uri = put(
        bucket,
        f"{job_prefix}manifests/output/output.manifest",
        output.manifest_bytes(lines),
        "application/jsonlines",
    )
    costs = [r["usd"] for r in state["rounds"]]
    model = state.get("model") or {}
    rounds = {
        "rounds": state["rounds"],
        "model_usd": None if None in costs else round(sum(costs), 4),
        "batch_size": state["plan"]["batch_size"],
        "validation_size": state["plan"]["validation_size"],
        "max_rounds": state["plan"]["max_rounds"],
        "initial_model_arn": (state.get("initial_model") or {}).get("arn"),
    }
    counters = {
        "TotalLabeled": len(lines),
        "HumanLabeled": len(state["human"]),
        "MachineLabeled": len(state["machine"]),
        "FailedNonRetryableError": len(state["failed"]),
        "Unlabeled": 0,
    }
    job_output: dict[str, Any] = {"OutputDatasetS3Uri": output_uri}
    if model.get("arn"):
        job_output["FinalActiveLearningModelArn"] = model["arn"]
    put(bucket, f"{job_prefix}auto-labeling.json", json.dumps(rounds).encode(), "application/json")
    team = merge_team_statistics(state["teams"])
    suggested = suggestions.merge_statistics(state["teams"])  # pre-annotation: answers taking the model's
    if suggested is not None:
        team["suggestions"] = suggested
    put(bucket, job_prefix + output.TEAM_STATS_KEY, output.json_bytes(team), "application/json")
    if len(json.dumps(team)) > MAX_TEAM_BYTES:
        # As the builtin job's answer: the full statistics are in team/stats.json, the run carries totals.
        team = {**{k: v for k, v in team.items() if k not in ("workers", "classes")}, "trimmed": True}
    return {
        "job_arn": f"gtpipe:labeling-job/{job_name}",
        "backend": "builtin",
        "output_uri": output_uri,
        "counters": counters,
        "job_output": job_output,
        "team": team,
        "auto_labeling": rounds,
    }


def handle(event: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Dispatch one of :data:`ACTIONS`."""
    action = event.get("action")
    if action == "auto_start":
        return start(event)
    if action == "auto_add":
        return add_batch(event)
    if action == "auto_round":
        return auto_round.model_round(event, now)
    if action == "auto_finish":
        return finish(event)
    raise AutoLabelingFailed(f"unknown automated labeling action {action!r}")
