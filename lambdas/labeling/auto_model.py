"""Automated labeling on the builtin labeling service: the labeling model's answers as labels
(:mod:`labeling.auto`'s ``auto_round``).

The batch transform writes one answer per object; this module reads them (and, for bounding boxes, each
image's size from its header: :func:`gtpipe_shared.image_header.stored_displayed_size`, the size people
draw on), turns them into :class:`Prediction` s with :mod:`gtpipe_shared.model_labels`'s rules (the one home
shared with the local Ground Truth emulation), checks them against people's labels and writes machine
labels in Ground Truth's output format. Bounding boxes: the round's score cut-off is calibrated on the
human-labeled validation sample (:func:`gtpipe_shared.model_labels.choose_box_cutoff`) before the
confidence threshold is. Also the labeling model's hyperparameters (:func:`hyperparameters`).
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from gtpipe_shared import labeling_output as output
from gtpipe_shared.auto_labeling import Prediction
from gtpipe_shared.aws import client
from gtpipe_shared.image_header import stored_displayed_size
from gtpipe_shared.metrics import output_uri_for
from gtpipe_shared.model_labels import (
    BOX_SCORE_CUTOFF,
    boxes_agree,
    choose_box_cutoff,
    classification_prediction,
    detection_prediction,
    label_boxes,
    same_boxes,
)
from gtpipe_shared.s3uri import S3UriError, parse_s3_uri
from gtpipe_shared.split import training_hyperparameters
from gtpipe_shared.tasks import task_spec

# Transform outputs read in parallel (one small GET each): 10,000 objects in well under a minute.
READERS = 32


def boxes(state: Mapping[str, Any]) -> bool:
    """Whether the loop labels bounding boxes (else classes)."""
    return bool(task_spec(state["task_type"]).boxes)


Answer = tuple[Any, tuple[int, int, int] | None]
"""A transform answer (parsed JSON, None: none) and the image's size (width, height, depth; boxes only)."""


def read_answers(state: Mapping[str, Any], indices: Sequence[int]) -> dict[int, Answer]:
    """Each object's transform answer (parsed JSON; None when there is none or it is not JSON) and, for
    boxes, its image's size as people see it (from the header; None when unreadable), read
    :data:`READERS` at a time (one or two small GETs per object; boto3 clients are thread-safe)."""
    s3 = client("s3")
    with_size = boxes(state)

    def read(index: int) -> Answer:
        uri = output_uri_for(state["refs"][index], state["transform_prefix"], state["transform_output_uri"])
        bucket, key = parse_s3_uri(uri)
        try:
            answer = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except (ClientError, BotoCoreError, ValueError):
            return None, None
        if not with_size:
            return answer, None
        try:
            size = stored_displayed_size(s3, *parse_s3_uri(state["refs"][index]))
        except (S3UriError, ClientError, BotoCoreError):
            size = None
        return answer, (size[0], size[1], output.DEFAULT_DEPTH) if size else None

    with ThreadPoolExecutor(max_workers=READERS) as pool:
        return dict(zip(indices, pool.map(read, indices), strict=True))


def to_prediction(state: Mapping[str, Any], answer: Answer, cutoff: float | None) -> Prediction:
    """The model's label of one object (no answer, no image size or an unusable answer: no label,
    confidence 0, never machine-labeled)."""
    body, size = answer
    class_count = len(state["class_names"])
    try:
        if not boxes(state):
            return Prediction(None, 0.0) if body is None else classification_prediction(body, class_count)
        if body is None or size is None or cutoff is None:
            return Prediction(None, 0.0)
        return detection_prediction(body, size, class_count, cutoff)
    except ValueError:
        return Prediction(None, 0.0)


def agrees(state: Mapping[str, Any], prediction: Prediction, human: Mapping[str, Any]) -> bool:
    """Whether the machine label agrees with people's (the class; or every box, :func:`boxes_agree`)."""
    label = human[state["label_attribute"]]
    if prediction.value is None:
        return False
    if not boxes(state):
        return bool(prediction.value == label)
    try:
        return boxes_agree(prediction, label_boxes(label))
    except ValueError:
        return False


def label_form(state: Mapping[str, Any], item: Mapping[str, Any]) -> Any:
    """A human label as verification compares it: the class index, or the image's boxes (a tuple; None
    when the label is not a bounding-box label)."""
    label = item[state["label_attribute"]]
    if not boxes(state):
        return label
    try:
        return tuple(label_boxes(label))
    except ValueError:
        return None


def predicted_form(state: Mapping[str, Any], prediction: Prediction) -> Any:
    """The model's label in :func:`label_form`'s form (None: no usable answer)."""
    if prediction.value is None or not boxes(state):
        return prediction.value
    return tuple(box for box, _ in prediction.value)


def same_label(state: Mapping[str, Any]) -> Callable[[Any, Any], bool]:
    """How verification tells two labels in :func:`label_form`'s form apart: equality, or boxes that agree
    (:func:`gtpipe_shared.model_labels.same_boxes`; a label that is not one agrees with nothing)."""
    if not boxes(state):
        return operator.eq
    return lambda a, b: a is not None and b is not None and same_boxes(a, b)


def box_cutoff(state: Mapping[str, Any], answers: Mapping[int, Answer]) -> float | None:
    """The round's box score cut-off, calibrated on the validation sample's usable answers
    (:func:`choose_box_cutoff`); None for classification or when no validation answer is usable."""
    if not boxes(state):
        return None
    samples = []
    for index in state["validation"]:
        body, size = answers[index]
        if to_prediction(state, answers[index], BOX_SCORE_CUTOFF).value is None or size is None:
            continue
        try:
            truth = label_boxes(state["human"][str(index)][state["label_attribute"]])
        except ValueError:
            continue
        samples.append((body, size, truth))
    return choose_box_cutoff(samples, len(state["class_names"])).cutoff if samples else None


def machine_content(
    state: Mapping[str, Any], index: int, prediction: Prediction, date: str
) -> dict[str, Any]:
    """Ground Truth's label of a machine-labeled object (``human-annotated: "no"``): the class and its
    confidence, or the boxes in pixels of the image's header size, each with its score."""
    job = f"{state['run_id']}-auto"
    if boxes(state):
        width, height, depth = (int(value) for value in state["sizes"][str(index)])
        return output.detection_content(
            state["label_attribute"],
            state["class_names"],
            (width, height, depth),
            prediction.value,
            job,
            date,
            human=False,
        )
    return output.classification_content(
        state["label_attribute"],
        state["class_names"],
        int(prediction.value),
        prediction.confidence,
        job,
        date,
        human=False,
    )


def hyperparameters(state: Mapping[str, Any], overrides: Mapping[str, Any], samples: int) -> dict[str, str]:
    """The run's hyperparameters for the labeling model on ``samples`` training labels: that size,
    ``auto_epochs`` if set (the run's ``lr_scheduler_step`` epochs scaled with it: a schedule made for the
    run's epochs would otherwise cut the learning rate long before the labeling model's last epoch), then
    ``autoLabelingHyperparameters`` over them (the state's ``hyperparameters``: a labeling model trains on
    batches far smaller than the run's training set), and a mini-batch no larger than the training set."""
    values = training_hyperparameters(
        state["task_type"], len(state["class_names"]), samples, max_boxes(state), overrides
    )
    if state.get("epochs"):
        values.update(scaled_schedule(values, int(state["epochs"])))
    values.update(state.get("hyperparameters") or {})
    batch = values.get("mini_batch_size")
    if batch and batch.isdigit() and int(batch) > samples:
        values["mini_batch_size"] = str(samples)
    return values


def scaled_schedule(values: Mapping[str, str], epochs: int) -> dict[str, str]:
    """``epochs`` and, when the run's hyperparameters give both, its ``lr_scheduler_step`` (comma-separated
    epochs) scaled from the run's epochs to ``epochs`` (each step at least 1, steps kept increasing)."""
    scaled = {"epochs": str(epochs)}
    run_epochs, steps = values.get("epochs", ""), values.get("lr_scheduler_step", "")
    parts = [part.strip() for part in steps.split(",") if part.strip()]
    if run_epochs.isdigit() and int(run_epochs) > 0 and parts and all(part.isdigit() for part in parts):
        moved: list[int] = []
        for part in parts:
            step = max(1, round(int(part) * epochs / int(run_epochs)), moved[-1] + 1 if moved else 1)
            moved.append(step)
        scaled["lr_scheduler_step"] = ",".join(str(step) for step in moved)
    return scaled


def max_boxes(state: Mapping[str, Any]) -> int:
    """The most boxes of one human label (the detection algorithm's ``label_width``); 0 for classes."""
    if not boxes(state):
        return 0
    attribute = state["label_attribute"]
    return max(
        (len((label.get(attribute) or {}).get("annotations") or []) for label in state["human"].values()),
        default=0,
    )


def predictions(state: dict[str, Any], indices: Sequence[int]) -> tuple[dict[int, Prediction], float | None]:
    """The transform's prediction of each object (:func:`read_answers`; no output, or
    an unusable one: no label, confidence 0) and, for boxes, the score cut-off calibrated on the validation
    sample (None for classes); each queued image's size is kept in the state (machine labels and
    suggestions are in its pixels)."""
    answers = read_answers(state, indices)
    cutoff = box_cutoff(state, answers)
    for index in state["queue"]:
        size = answers[index][1]
        if size is not None:
            state.setdefault("sizes", {})[str(index)] = list(size)
    return {i: to_prediction(state, a, cutoff) for i, a in answers.items()}, cutoff
