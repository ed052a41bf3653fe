"""A simulated Ground Truth workforce: annotators answering from reference labels (image classification;
bounding boxes are in :mod:`local.sagemaker.box_workforce`).

Each data object is shown to ``NumberOfHumanWorkersPerDataObject`` distinct workers drawn from a pool of
``workforce_size``. A worker answers the reference label, or with probability ``error_rate`` a wrong
class drawn uniformly from the others. The answers are consolidated by the builtin labeling service's
own code, :func:`gtpipe_shared.consolidation.consolidate_classes` (one-coin Dawid-Skene weighted vote).
Everything is deterministic for a given seed.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gtpipe_shared.consolidation import ClassAnswer


@dataclass(frozen=True)
class WorkforceSettings:
    """How the simulated workforce (and the local automated data labeling) behaves.

    ``reference_labels``: a local path or ``s3://`` URI of a JSON Lines file of reference answers, the
    truth workers start from: ``{"source-ref": "s3://...", "label": <class index or name>}`` for image
    classification, ``{"source-ref", "image_size": {"width", "height", "depth"}, "annotations":
    [{"class_id", "left", "top", "width", "height"}]}`` (pixels) for bounding boxes; a file may mix both
    kinds (each task reads its own). Objects sent to people that are missing from it cannot be labeled
    and count as ``FailedNonRetryableError``. ``seed``: makes answers reproducible.
    ``seconds_per_task``: wall-clock seconds each data object takes (``MaxConcurrentTaskCount`` objects
    are worked on at once), so a job stays InProgress for a while. ``workforce_size``: workers in the
    team (at least ``NumberOfHumanWorkersPerDataObject`` are used).

    Image classification: ``error_rate`` is the probability that one answer is a wrong class (uniform
    among the others).

    Bounding boxes (:mod:`local.sagemaker.box_workforce`): ``box_jitter`` is the standard deviation of
    each drawn edge as a fraction of the box's size; ``box_miss_rate`` the probability that a worker
    misses a box; ``box_wrong_class_rate`` the probability that a drawn box gets a wrong class.

    Automated data labeling (:mod:`local.sagemaker.auto_labeling`): ``auto_labeling_min_objects`` is the
    dataset size it needs without an initial model (1,000 on AWS); ``auto_labeling_batch_size`` the
    objects people label per iteration (None: ``MaxConcurrentTaskCount``, as Ground Truth does);
    ``auto_labeling_validation_size`` the human-labeled validation sample (None: the batch size);
    ``auto_labeling_max_rounds`` the model rounds before people label whatever is left;
    ``auto_labeling_accuracy`` the accuracy machine labels must reach on the validation sample;
    ``auto_labeling_hyperparameters`` overrides the training hyperparameters (e.g. fewer epochs);
    ``auto_labeling_max_training_seconds`` bounds each training run (the job fails past it).
    """

    reference_labels: str | Path | None = None
    error_rate: float = 0.1
    seed: int = 0
    seconds_per_task: float = 0.0
    workforce_size: int = 5
    box_jitter: float = 0.05
    box_miss_rate: float = 0.05
    box_wrong_class_rate: float = 0.02
    auto_labeling_min_objects: int = 1000
    auto_labeling_batch_size: int | None = None
    auto_labeling_validation_size: int | None = None
    auto_labeling_max_rounds: int = 5
    auto_labeling_accuracy: float = 0.95
    auto_labeling_hyperparameters: Mapping[str, str] = field(default_factory=dict, hash=False)
    auto_labeling_max_training_seconds: float = 3600.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate must be in [0, 1], got {self.error_rate}")
        if self.seconds_per_task < 0:
            raise ValueError("seconds_per_task must not be negative")
        if self.workforce_size < 1:
            raise ValueError("workforce_size must be >= 1")
        if self.box_jitter < 0:
            raise ValueError(f"box_jitter must not be negative, got {self.box_jitter}")
        for name in ("box_miss_rate", "box_wrong_class_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.auto_labeling_min_objects < 1:
            raise ValueError("auto_labeling_min_objects must be >= 1")
        for name in ("auto_labeling_batch_size", "auto_labeling_validation_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 (or None), got {value}")
        if self.auto_labeling_max_rounds < 1:
            raise ValueError("auto_labeling_max_rounds must be >= 1")
        if not 0.0 < self.auto_labeling_accuracy <= 1.0:
            raise ValueError(f"auto_labeling_accuracy must be in (0, 1], got {self.auto_labeling_accuracy}")
        if self.auto_labeling_max_training_seconds <= 0:
            raise ValueError("auto_labeling_max_training_seconds must be > 0")


def worker_ids(count: int, region: str, seed: int) -> list[str]:
    """Stable private-workforce worker ids (``private.<region>.<16 hex>``)."""
    rng = random.Random(f"workers:{seed}")
    return [f"private.{region}.{rng.getrandbits(64):016x}" for _ in range(count)]


def simulate_answers(
    true_label: int, num_classes: int, workers: Sequence[str], error_rate: float, rng: random.Random
) -> list[ClassAnswer]:
    """One answer per worker: ``true_label``, or a uniformly drawn other class with ``error_rate``."""
    answers = []
    for worker in workers:
        label = true_label
        if num_classes > 1 and rng.random() < error_rate:
            label = rng.randrange(num_classes - 1)
            label += label >= true_label  # skip the true class: uniform among the others
        answers.append(ClassAnswer(worker, label))
    return answers


def reference_label(entry: Mapping[str, object], class_names: Sequence[str], where: str) -> tuple[str, int]:
    """``(source-ref, class index)`` of one reference line (``label`` may also be the class name)."""
    source = entry.get("source-ref")
    label = entry.get("label")
    if not isinstance(source, str) or not source:
        raise ValueError(f"{where}: no 'source-ref'")
    if isinstance(label, str) and label in class_names:
        return source, class_names.index(label)
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(class_names):
        raise ValueError(f"{where}: label {label!r} is not a class index 0..{len(class_names) - 1}")
    return source, label
