"""Automated labeling on the builtin service: the labeling model's training job and batch transform inputs,
and the run's final labeling model.

A model round trains on every human training label so far (``next: train``: the training job's manifests
and hyperparameters, then the transform's manifest of the validation sample and the queue). When nothing is
left to label, whether people labeled the rest after the last model round (``auto_add``) or a model round
machine-labeled it (``auto_round``), the run trains one more model when it is worth a training job
(:func:`final_model_due`): the **final labeling model**, on every label the run made outside its validation
sample, people's and the machine's. It is the run's ``FinalActiveLearningModelArn``, the model a later run of
the label set starts from (``reuseModel``). The validation sample stays out of its training, so the round
that records it (``labeling.auto_round``) measures it on objects it never saw.

Why machine labels too: they are the labels the run certified at 95 % (most are above that), and they are most
of the run's labels; a model trained on every human label alone (a few hundred on a small run) is the weaker
start. Measured offline on digits (3 seeded draws, 400 other digits predicted, BENCHMARKS.md, builtin-auto):
trained on 280 right labels a model was 93.6 % right and a threshold chosen with the truth could machine-label
89 % of the digits at 98 % accuracy; on 850 labels of which 4 % were wrong, 96.5 % and 97 %. What a reused
model is worth to a later run is that share: the later run calibrates its own threshold on its own human
validation sample, so a reused model's errors cost answers there, not accuracy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from gtpipe_shared.split import SplitError, common_prefix, manifest_prefix, relative_to

from labeling import auto_model
from labeling.auto_state import AutoLabelingFailed, label_of, prefix, put, save, view

# A final labeling model is trained when the labels it would train on outnumber its last model's training
# labels by this factor (:func:`final_model_due`): a few more labels are not worth a training job.
FINAL_MODEL_GROWTH = 1.1


def final_labels(state: Mapping[str, Any]) -> list[int]:
    """The objects the final labeling model trains on: every human training label and every machine label,
    never the validation sample (ascending)."""
    return sorted({*state["training"], *(int(index) for index in state["machine"])})


def round_labels(state: Mapping[str, Any]) -> list[int]:
    """The objects a model round trains on: every human training label so far; in a run that started from an
    earlier run's model (``reuseModel``), its machine labels too (ascending, as :func:`final_labels`).

    Why: such a run's people label only its validation sample, then the objects the earlier model was least
    sure of, so its own human training labels are the hardest objects and few; its machine labels are the
    earlier model's knowledge, certified at 95 % on this run's validation sample. Trained on the hardest 100
    alone, the next model was right on 74 % of the validation sample where the earlier one was right on 95 %:
    it asked for 80 more validation answers and machine-labeled 14 objects (builtin-auto bench, seed 5,
    BENCHMARKS.md). A run that trained its first model itself keeps training on people's labels only."""
    if state.get("initial_model"):
        return final_labels(state)
    return sorted(state["training"])


def final_model_due(state: Mapping[str, Any]) -> bool:
    """Whether the run ends with a final labeling model (module docstring): it trained a model of its own,
    has a validation sample to measure the final one on, and :func:`final_labels` number at least
    :data:`FINAL_MODEL_GROWTH` times what its last model trained on. Not for a run that never trained a model
    of its own (it started from an earlier run's model, which stays its final model: its labels are that
    model's confident answers and people's answers on what it was unsure of, and the labeling model trains
    from scratch, without the earlier model's weights)."""
    trained_on = int(state["trained_on"])
    return (
        trained_on > 0
        and bool(state["validation"])
        and len(final_labels(state)) >= max(trained_on + 1, trained_on * FINAL_MODEL_GROWTH)
    )


def train_final_model(state: dict[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
    """``next: train`` for the final labeling model (:func:`final_model_due`) as a round of its own; its round
    is recorded by ``labeling.auto_round`` and the loop finishes. A round of its own because the state machine
    names the training job after the round (``<run>-alt<round>-<retry>``) and SageMaker refuses a second job
    of a name (``ResourceInUse``): after a model round that machine-labeled the rest, that round's job has the
    round's name, and its manifests and predictions its folder."""
    state["final_model"] = True
    state["round"] += 1
    return train(state, event, final_labels(state))


def train(state: dict[str, Any], event: Mapping[str, Any], labels: Sequence[int]) -> dict[str, Any]:
    """``next: train``: a labeling model on ``labels`` (a round's: :func:`round_labels`; the final model's:
    :func:`final_labels`); the transform predicts the validation sample and the queue (only the sample for a
    final model). The training
    job's ``validation`` channel is its training labels, never the validation sample: the algorithm keeps the
    epoch with the best validation metric (as the built-in does), and selected on the sample the threshold is
    calibrated on, the model looks better there than elsewhere (measured on 29 rounds: 94.3 % right on their
    sample, 91.0 % on the queue; earlier runs' models, not selected on it: 92.5 % and 93.3 %), so machine
    labels fell below 95 % (BENCHMARKS.md, builtin-auto)."""
    indices = list(labels)
    state["trained_on"] = len(indices)
    given = event.get("hyperparameters")
    overrides: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    train_uri = _training_manifest(state, indices)
    inputs: dict[str, Any] = {
        "train_uri": train_uri,
        "validation_uri": train_uri,
        "hyperparameters": auto_model.hyperparameters(state, overrides, len(indices)),
        **transform_input(state),
    }
    return view(state, save(state), "train", **inputs)


def _training_manifest(state: Mapping[str, Any], indices: Sequence[int]) -> str:
    """An augmented manifest of ``indices`` with their labels (people's, else the machine's) in the round's
    folder (``train.manifest``); its URI."""
    lines = []
    for index in indices:
        label = label_of(state, index)
        if label is None:
            raise AutoLabelingFailed(f"object {index} has no label to train on")
        lines.append(json.dumps({"source-ref": state["refs"][index], **label}) + "\n")
    key = f"{prefix(state['run_id'])}round-{state['round']}/train.manifest"
    return put(state["bucket"], key, "".join(lines).encode(), "application/jsonlines")


def transform_input(state: dict[str, Any]) -> dict[str, str]:
    """The ManifestFile of the validation sample and the queue, and where the transform writes."""
    refs = [state["refs"][i] for i in [*state["validation"], *state["queue"]]]
    common: str | None = None
    for ref in refs:
        common = common_prefix(common, ref)
    try:
        shared = manifest_prefix(common or "", len(refs))
        body = [{"prefix": shared}, *(relative_to(shared, ref) for ref in refs)]
    except SplitError as exc:
        raise AutoLabelingFailed(f"automated labeling's batch transform input: {exc}") from exc
    base = f"{prefix(state['run_id'])}round-{state['round']}/"
    state["transform_prefix"] = shared
    state["transform_output_uri"] = f"s3://{state['bucket']}/{base}predictions/"
    return {
        "transform_manifest_uri": put(
            state["bucket"], base + "transform.manifest", json.dumps(body).encode(), "application/json"
        ),
        "transform_output_uri": state["transform_output_uri"],
    }
