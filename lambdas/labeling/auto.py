"""Automated labeling on the builtin labeling service: the labeling function's part of the state machine's loop.

Ground Truth's automated data labeling (:mod:`gtpipe_shared.auto_labeling`), run by the pipeline with AWS
services only: people label batches as ordinary builtin jobs (``LabelAutoBatch``, the ``open`` action on a
batch manifest), a SageMaker training job trains the run's algorithm on their labels, a batch transform
predicts the validation sample and the unlabeled remainder, and this module decides each round. The loop's
state is one JSON document in the data bucket (``labeling/auto/<run_id>/state.json``); every action reads
it, changes it and writes it back (the state machine runs one action at a time per run).

Actions (payload ``action``; each answers the ``$.auto`` view, :func:`view`):

* ``auto_start``: shuffle the manifest (seeded by the run id), the first human batch: ``batch_size``
  training objects and ``validation_size`` validation objects, or only the validation objects when the run
  starts from an earlier run's model (``reuseModel``: that model predicts first, as Ground Truth's
  ``InitialActiveLearningModelArn`` does, no training).
* ``auto_add``: record a batch job's human labels; then ``next`` is ``train`` (training and validation
  manifests, hyperparameters), ``transform`` (the earlier model, not yet tried), ``label`` (no model can be
  made: the queue's next batch) or ``finish``. A verification batch's answers (below) are recorded per
  validation object instead; then either another verification batch or the round's decision follows.
* ``auto_round``: read the transform's predictions; first, while validation objects the model disputes
  need another answer (:func:`gtpipe_shared.auto_labeling.needs_verification`), send them to people again
  (``next: label``, no suggestions; the round resumes in ``auto_add``); then calibrate the threshold on
  the verified validation sample (95 % accuracy at :data:`CREDIBILITY`), machine-label the confident
  objects, price the round's training and transform, and put the least confident objects first;
  ``next`` is ``label`` (the batch's lines carry the model's predictions as suggestions: pre-annotation)
  or ``finish``.
  Bounding boxes: each image's size is read from its header
  (:func:`gtpipe_shared.image_header.stored_displayed_size`: the size people draw on), the boxes' score
  cut-off is calibrated on the validation sample first (:func:`gtpipe_shared.model_labels.choose_box_cutoff`)
  and a machine label agrees with people's when every box matches
  (:func:`gtpipe_shared.model_labels.boxes_agree`); their validation labels are not verified (agreement
  of boxes is a match at IoU >= 0.5, not one class to confirm by a majority).
* ``auto_finish``: write Ground Truth's output manifest (machine labels ``human-annotated: "no"`` with their
  confidence) and answer the Label state's result shape: counters, the final model, the team statistics of
  every batch merged, the rounds and their cost.

Bad input raises :class:`AutoLabelingFailed` (the state machine's ``FailedLabeling`` records it).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError
from gtpipe_shared import labeling_output as output
from gtpipe_shared import labeling_paths
from gtpipe_shared import labeling_store as store
from gtpipe_shared import labeling_suggestions as suggestions
from gtpipe_shared.auto_labeling import (
    ActiveLearningPlan,
    Prediction,
    decide_round,
    needs_verification,
    validation_label,
    worth_verifying,
)
from gtpipe_shared.aws import client, error_code
from gtpipe_shared.config import require_env
from gtpipe_shared.labeling_stats import merge_team_statistics
from gtpipe_shared.pricing import labeling_round_cost
from gtpipe_shared.s3uri import S3UriError, parse_s3_uri
from gtpipe_shared.split import (
    SplitError,
    common_prefix,
    manifest_prefix,
    relative_to,
)
from gtpipe_shared.tasks import TaskType

from labeling import auto_model

ACTIONS = ("auto_start", "auto_add", "auto_round", "auto_finish")
# The task types the loop labels (README, "Automated labeling on the builtin service").
TASK_TYPES = (TaskType.IMAGE_CLASSIFICATION.value, TaskType.OBJECT_DETECTION.value)
DEFAULT_MAX_ROUNDS = 5
# The threshold's posterior probability of 95% accurate machine labels (auto_labeling.credibility_of): 20 of
# 20 agreeing reach 0.65, so a smaller validation sample never could; Laplace's mean (18 of 18) fell short of
# 95% too often once validation labels were verified (BENCHMARKS.md, builtin-auto).
MIN_VALIDATION = 20
# A round verifies at most this share of the validation sample and of the objects it could machine-label
# (at least 1): people's slips are rare (3 % of answers in the local crowd), so the disputes worth another
# answer are few, and what verifying can save is bounded by the objects left.
VERIFY_SHARE = 0.1
CREDIBILITY = 0.65
DEFAULT_BATCH_SHARE = 0.1
# The run's state holds the result; Step Functions' state limit is 256 KiB (the job's answer trims alike).
MAX_TEAM_BYTES = 150_000


class AutoLabelingFailed(Exception):
    """The loop cannot go on; the message is the failure's cause (the run fails at ``labeling``)."""


# --- S3 ---------------------------------------------------------------------------------------------


def _get(uri: str, what: str) -> bytes:
    try:
        bucket, key = parse_s3_uri(uri)
        return bytes(client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    except S3UriError as exc:
        raise AutoLabelingFailed(f"{what}: {exc}") from exc
    except ClientError as exc:
        raise AutoLabelingFailed(f"{what} {uri} cannot be read: {error_code(exc) or exc}") from exc


def _put(bucket: str, key: str, body: bytes, content_type: str) -> str:
    client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    return f"s3://{bucket}/{key}"


def _prefix(run_id: str) -> str:
    return f"labeling/auto/{run_id}/"


def _save(state: dict[str, Any]) -> str:
    return _put(
        state["bucket"],
        _prefix(state["run_id"]) + "state.json",
        json.dumps(state).encode(),
        "application/json",
    )


def _load(event: Mapping[str, Any]) -> dict[str, Any]:
    uri = event.get("state_uri")
    if not isinstance(uri, str) or not uri:
        raise AutoLabelingFailed("the payload has no state_uri (the auto_start answer's)")
    try:
        state = json.loads(_get(uri, "automated labeling state"))
    except ValueError as exc:
        raise AutoLabelingFailed(f"automated labeling state {uri} is not JSON: {exc}") from exc
    if not isinstance(state, dict) or "queue" not in state:
        raise AutoLabelingFailed(f"automated labeling state {uri} is not the loop's state")
    return state


# --- the plan and the view --------------------------------------------------------------------------


def plan_of(settings: Mapping[str, Any], objects: int) -> ActiveLearningPlan:
    """The loop's batch sizes and bound from ``settings`` (``auto_batch_size``, ``auto_validation_size``,
    ``auto_max_rounds``; unset: a tenth of the manifest per batch, at least :data:`MIN_VALIDATION`, and
    :data:`DEFAULT_MAX_ROUNDS` rounds)."""
    default = max(MIN_VALIDATION, round(objects * DEFAULT_BATCH_SHARE))
    batch = int(settings.get("auto_batch_size") or default)
    validation = int(settings.get("auto_validation_size") or max(batch, MIN_VALIDATION))
    rounds = int(settings.get("auto_max_rounds") or DEFAULT_MAX_ROUNDS)
    try:
        return ActiveLearningPlan(
            batch_size=batch, validation_size=validation, max_rounds=rounds, credibility=CREDIBILITY
        )
    except ValueError as exc:
        raise AutoLabelingFailed(f"automated labeling settings: {exc}") from exc


def _plan(state: Mapping[str, Any]) -> ActiveLearningPlan:
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


def _batch_manifest(state: dict[str, Any], predictions: Mapping[int, Prediction] | None = None) -> str:
    """Write the pending batch as an input manifest (the objects' own lines) for ``LabelAutoBatch``; with
    the labeling model's ``predictions``, each line carries its object's as the suggestion people see
    (pre-annotation, :mod:`gtpipe_shared.labeling_suggestions`; adaptive redundancy's model hook)."""
    lines = "".join(
        _suggested(state, index, (predictions or {}).get(index)) + "\n" for index in state["pending"]
    )
    key = f"{_prefix(state['run_id'])}round-{state['round']}/batch.manifest"
    return _put(state["bucket"], key, lines.encode(), "application/jsonlines")


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


def _to_people(
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
    uri = _batch_manifest(state, predictions)
    return view(state, _save(state), "label", batch_manifest_uri=uri, batch_size=len(batch))


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
        objects = store.objects_from_manifest(_get(uri, "input manifest"))
    except store.InvalidManifest as exc:
        raise AutoLabelingFailed(f"input manifest {uri}: {exc}") from exc
    plan = plan_of(settings, len(objects))
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
        "plan": {
            "batch_size": plan.batch_size,
            "validation_size": plan.validation_size,
            "max_rounds": plan.max_rounds,
            "credibility": plan.credibility,
        },
        "epochs": settings.get("auto_epochs"),
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
        "teams": [],
        "round": 1,
        "model_rounds": 0,
        "rounds": [],
        "last": False,
        "initial_model": {"name": initial_name, "arn": initial} if initial_name else None,
        "model": None,
    }
    batch_uri = _batch_manifest(state)
    return view(state, _save(state), "label", batch_manifest_uri=batch_uri, batch_size=len(state["pending"]))


# --- auto_add ---------------------------------------------------------------------------------------


def _human_labels(state: Mapping[str, Any], output_uri: str) -> dict[str, dict[str, Any]]:
    """source-ref -> ``{<attr>, <attr>-metadata}`` of the batch output's labeled lines."""
    attribute = state["label_attribute"]
    labels: dict[str, dict[str, Any]] = {}
    for number, raw in enumerate(_get(output_uri, "batch output manifest").splitlines(), 1):
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
            team = json.loads(_get(output_uri[: -len(suffix)] + output.TEAM_STATS_KEY, "team statistics"))
            if isinstance(team, dict):
                return team
        except (AutoLabelingFailed, ValueError):
            pass  # statistics are reporting, not labels: the batch's labels still count
    return dict(given) if isinstance(given, Mapping) else None


def _augmented(state: Mapping[str, Any], indices: Sequence[int], name: str) -> str:
    lines = "".join(
        json.dumps({"source-ref": state["refs"][i], **state["human"][str(i)]}) + "\n" for i in indices
    )
    key = f"{_prefix(state['run_id'])}round-{state['round']}/{name}.manifest"
    return _put(state["bucket"], key, lines.encode(), "application/jsonlines")


def _transform_input(state: dict[str, Any]) -> dict[str, str]:
    """The ManifestFile of the validation sample and the queue, and where the transform writes."""
    refs = [state["refs"][i] for i in [*state["validation"], *state["queue"]]]
    common: str | None = None
    for ref in refs:
        common = common_prefix(common, ref)
    try:
        prefix = manifest_prefix(common or "", len(refs))
        body = [{"prefix": prefix}, *(relative_to(prefix, ref) for ref in refs)]
    except SplitError as exc:
        raise AutoLabelingFailed(f"automated labeling's batch transform input: {exc}") from exc
    base = f"{_prefix(state['run_id'])}round-{state['round']}/"
    state["transform_prefix"] = prefix
    state["transform_output_uri"] = f"s3://{state['bucket']}/{base}predictions/"
    return {
        "transform_manifest_uri": _put(
            state["bucket"], base + "transform.manifest", json.dumps(body).encode(), "application/json"
        ),
        "transform_output_uri": state["transform_output_uri"],
    }


def add_batch(event: Mapping[str, Any]) -> dict[str, Any]:
    """``auto_add``: the batch job's labels into the state; the next step (module docstring)."""
    state = _load(event)
    batch = event.get("batch") or {}
    output_uri = batch.get("output_uri") if isinstance(batch, Mapping) else None
    if not isinstance(output_uri, str):
        raise AutoLabelingFailed("auto_add payload needs batch.output_uri (the batch job's output manifest)")
    labels = _human_labels(state, output_uri)
    team = _batch_team(output_uri, batch.get("team"))
    if team is not None:
        state["teams"].append(team)
    if state.get("pending_verification"):
        return _add_verification(state, labels)
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
        return view(state, _save(state), "finish")
    if state["training"] and state["validation"] and len(state["training"]) > state["trained_on"]:
        state["trained_on"] = len(state["training"])
        overrides = event.get("hyperparameters") if isinstance(event.get("hyperparameters"), Mapping) else {}
        inputs: dict[str, Any] = {
            "train_uri": _augmented(state, state["training"], "train"),
            "validation_uri": _augmented(state, state["validation"], "validation"),
            "hyperparameters": auto_model.hyperparameters(state, overrides or {}),
            **_transform_input(state),
        }
        return view(state, _save(state), "train", **inputs)
    initial = state.get("initial_model")
    if initial and state["validation"] and state["model"] is None:
        state["model"] = dict(initial)
        transform = _transform_input(state)
        return view(state, _save(state), "transform", model_name=initial["name"], **transform)
    # No model can be made (every training object failed): people take the queue's head.
    decision = decide_round([], state["queue"], {}, state["model_rounds"] + 1, _plan(state))
    return _to_people(state, decision.next_batch, decision.last)


# --- auto_round -------------------------------------------------------------------------------------


def _disputed(state: Mapping[str, Any], predictions: Mapping[int, Prediction], *, new: bool) -> list[int]:
    """The validation objects that need another answer before the threshold is chosen (verification,
    :func:`gtpipe_shared.auto_labeling.needs_verification`; answers: class indices, first first), those
    that can change the threshold only (:func:`gtpipe_shared.auto_labeling.worth_verifying`). A round asks
    about new objects once (``new``: its first verification batch), at most :data:`VERIFY_SHARE` of the
    validation sample and of the queue, the ones the model is surest of (where a person's slip is likeliest; lower down a
    dispute is mostly the model's own error, and asking again there cost as many answers as it saved);
    later batches only continue those. None for boxes: their agreement is a match at IoU >= 0.5, not one
    class a majority can confirm."""
    if auto_model.boxes(state):
        return []
    attribute, answers = state["label_attribute"], state.get("answers", {})
    given = {i: answers.get(str(i)) or [state["human"][str(i)]] for i in state["validation"]}
    disputed = [
        i for i, g in given.items() if needs_verification([a[attribute] for a in g], predictions[i].value)
    ]
    scored = {
        i: (predictions[i].confidence, auto_model.agrees(state, predictions[i], state["human"][str(i)]))
        for i in state["validation"]
    }
    plan = _plan(state)
    chosen = worth_verifying(scored, disputed, plan.accuracy, plan.credibility)
    asked = [i for i in chosen if str(i) in answers]
    if not new:
        return asked
    fresh = sorted(
        (i for i in chosen if str(i) not in answers), key=lambda i: (-predictions[i].confidence, i)
    )
    cap = max(1, math.ceil(VERIFY_SHARE * min(len(state["validation"]), len(state["queue"]))))
    return sorted(asked + fresh[:cap])


def _verify(state: dict[str, Any], objects: Sequence[int]) -> dict[str, Any]:
    """Send disputed validation objects to people once more (no suggestion: the answer must not lean on
    the model it checks); ``next: label``, the round is decided when the answers are in."""
    state["round"] += 1
    state["pending"] = list(objects)
    state["pending_validation"] = []
    state["pending_verification"] = list(objects)
    uri = _batch_manifest(state)
    return view(state, _save(state), "label", batch_manifest_uri=uri, batch_size=len(objects))


def _add_verification(state: dict[str, Any], labels: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """Record a verification batch's answers; ask again or decide the round (``auto_add``)."""
    attribute = state["label_attribute"]
    answers = state.setdefault("answers", {})
    unanswered = []
    for index in state.pop("pending_verification"):
        label = labels.get(state["refs"][index])
        if label is None:
            unanswered.append(index)  # no answer this time: the object keeps the labels it has
            continue
        given = answers.setdefault(str(index), [state["human"][str(index)]])
        given.append(label)
        winner = validation_label([item[attribute] for item in given])
        state["human"][str(index)] = next(item for item in given if item[attribute] == winner)
        state["deciding"]["verification_answers"] += 1
    state["pending"] = []
    predictions, cutoff = auto_model.predictions(state, [*state["validation"], *state["queue"]])
    more = [i for i in _disputed(state, predictions, new=False) if i not in unanswered]
    if more:
        return _verify(state, more)
    return _decide(state, predictions, {**state.pop("deciding"), "box_cutoff": cutoff})


def _decide(
    state: dict[str, Any], predictions: Mapping[int, Prediction], record: dict[str, Any]
) -> dict[str, Any]:
    """Calibrate on the (verified) validation sample, machine-label, re-order, record the round."""
    scored = [
        (predictions[i].confidence, auto_model.agrees(state, predictions[i], state["human"][str(i)]))
        for i in state["validation"]
    ]
    decision = decide_round(scored, state["queue"], predictions, state["model_rounds"], _plan(state))
    date = record.pop("date")
    for index, prediction in decision.machine.items():
        state["machine"][str(index)] = auto_model.machine_content(state, index, prediction, date)
    # The least confident first: the next batch, then the rest of the queue in confidence order.
    state["queue"] = sorted(
        (i for i in state["queue"] if i not in decision.machine),
        key=lambda i: (predictions[i].confidence, i),
    )
    state["rounds"].append(
        {
            **record,
            "threshold": decision.threshold,
            "validation_accuracy": round(sum(a for _, a in scored) / len(scored), 3) if scored else None,
            "machine_labeled": len(decision.machine),
            "remaining": len(state["queue"]),
        }
    )
    if not state["queue"]:
        return view(state, _save(state), "finish")
    return _to_people(state, decision.next_batch, decision.last, predictions)


def model_round(event: Mapping[str, Any], now: float) -> dict[str, Any]:
    """``auto_round``: verify disputed validation labels, then calibrate, machine-label, re-order and price
    the round (module docstring)."""
    state = _load(event)
    model = event.get("model") if isinstance(event.get("model"), Mapping) else None
    if model is None or not model.get("model_name"):
        raise AutoLabelingFailed("auto_round payload needs model.model_name (the model that predicted)")
    predictions, cutoff = auto_model.predictions(state, [*state["validation"], *state["queue"]])
    state["model_rounds"] += 1
    state["model"] = {"name": str(model["model_name"]), "arn": model.get("model_arn")}
    record = {
        "round": state["round"],
        "model": state["model"]["name"],
        "verification_answers": 0,
        "box_cutoff": cutoff,
        **labeling_round_cost(event.get("training"), event.get("transform")),
        "date": labeling_paths.creation_date(dt.datetime.fromtimestamp(now, dt.UTC)),
    }
    disputed = _disputed(state, predictions, new=True)
    if disputed:
        state["deciding"] = record
        return _verify(state, disputed)
    return _decide(state, predictions, record)


# --- auto_finish ------------------------------------------------------------------------------------


def finish(event: Mapping[str, Any]) -> dict[str, Any]:
    """``auto_finish``: the output manifest and the Label state's result shape (module docstring)."""
    state = _load(event)
    job_name = f"{state['run_id']}-auto"
    bucket, prefix = labeling_paths.job_prefix(state["output_path"], job_name)
    lines = []
    for index, raw in enumerate(state["lines"]):
        label = state["human"].get(str(index)) or state["machine"].get(str(index))
        if label is not None:
            lines.append({**json.loads(raw), **label})
    output_uri = _put(
        bucket,
        f"{prefix}manifests/output/output.manifest",
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
    _put(bucket, f"{prefix}auto-labeling.json", json.dumps(rounds).encode(), "application/json")
    team = merge_team_statistics(state["teams"])
    suggested = suggestions.merge_statistics(state["teams"])  # pre-annotation: answers taking the model's
    if suggested is not None:
        team["suggestions"] = suggested
    _put(bucket, prefix + output.TEAM_STATS_KEY, output.json_bytes(team), "application/json")
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
        return model_round(event, now)
    if action == "auto_finish":
        return finish(event)
    raise AutoLabelingFailed(f"unknown automated labeling action {action!r}")
