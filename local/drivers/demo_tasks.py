"""The demo's two task types: what data it draws, how it configures the app and how it scores answers.

``make demo`` (image classification) draws scikit-learn's digits; ``make demo TASK=object-detection``
draws synthetic scenes (:mod:`training.scenes`) with their true boxes. Either way some images are held
out of labeling and training and sent to ``POST <ApiUrl>/predict`` once the model is deployed; the task
scores those answers (accuracy, or mAP at IoU 0.5 over the pixel boxes the API returns).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

# The demo scores answers with the evaluate Lambda's own mAP code.
from gtpipe_shared.metrics import Box, detection_metrics
from gtpipe_shared.tasks import TaskType

from training.contracts import DEMO_HYPERPARAMETERS, DETECTION_DEMO_HYPERPARAMETERS
from training.datasets import CLASS_NAMES, DigitRecord, write_digits_dataset
from training.scenes import SCENE_CLASSES, SceneRecord, reference_line, write_scenes

# Low enough that the API returns the ranked boxes average precision needs, not only confident ones.
DETECTION_QUERY_CONFIDENCE = "0.05"


@dataclass(frozen=True)
class DemoImage:
    """One demo image: local file, S3 URI, held out or not, and the reference-answer line for the
    simulated workforce (``{"source-ref", ...}`` in the workforce's format for the task)."""

    path: Path
    source_ref: str
    holdout: bool
    reference: dict[str, Any]
    truth: Any


@dataclass(frozen=True)
class Score:
    """How well the held-out answers match the truth: a name, a value and a one-line summary."""

    name: str
    value: float
    summary: str


class DemoTask(Protocol):
    """A task type the demo can run end to end."""

    name: str
    image_prefix: str

    def context(self, epochs: int | None) -> dict[str, Any]:
        """Synthesis context merged over ``cdk.json``'s."""

    def draw(self, data_dir: Path, *, images: int, holdout: float, bucket: str) -> list[DemoImage]:
        """Write the images locally; S3 URIs under ``s3://<bucket>/<image_prefix>/``."""

    def query(self) -> dict[str, str]:
        """Query parameters sent with each prediction."""

    def describe(self, image: DemoImage, answer: Any) -> str:
        """One line about one answer."""

    def score(self, answered: Sequence[tuple[DemoImage, Any]]) -> Score:
        """Score the successful answers."""


def _with_bucket(image: DemoImage, bucket: str, prefix: str) -> DemoImage:
    source_ref = f"s3://{bucket}/{prefix}/{image.path.name}"
    return dataclasses.replace(
        image, source_ref=source_ref, reference={**image.reference, "source-ref": source_ref}
    )


def rebucket(images: Sequence[DemoImage], bucket: str, prefix: str) -> list[DemoImage]:
    """The same images named under another bucket (known only once the stacks are deployed)."""
    return [_with_bucket(image, bucket, prefix) for image in images]


def digit_reference(record: DigitRecord) -> dict[str, Any]:
    """The simulated workforce's truth for one digit: ``{"source-ref", "label": class index}``."""
    return {"source-ref": record.source_ref, "label": record.label}


class ClassificationDemo:
    """scikit-learn's handwritten digits, ten classes."""

    name = TaskType.IMAGE_CLASSIFICATION.value
    image_prefix = "images/digits"

    def context(self, epochs: int | None) -> dict[str, Any]:
        hyperparameters = dict(DEMO_HYPERPARAMETERS)
        if epochs is not None:
            hyperparameters["epochs"] = str(epochs)
        return {
            "gtpipe:taskType": self.name,
            "gtpipe:labelCategories": list(CLASS_NAMES),
            "gtpipe:hyperparameters": hyperparameters,
        }

    def draw(self, data_dir: Path, *, images: int, holdout: float, bucket: str) -> list[DemoImage]:
        records = write_digits_dataset(
            data_dir, bucket=bucket, prefix=self.image_prefix, holdout_fraction=holdout, limit=images, seed=0
        )
        return [
            DemoImage(
                path=r.path,
                source_ref=r.source_ref,
                holdout=r.holdout,
                reference=digit_reference(r),
                truth=r.class_name,
            )
            for r in records
        ]

    def query(self) -> dict[str, str]:
        return {}

    def describe(self, image: DemoImage, answer: Any) -> str:
        return f"{image.path.name}: {answer['label']:>6} ({answer['confidence']:.2f})  truth {image.truth}"

    def score(self, answered: Sequence[tuple[DemoImage, Any]]) -> Score:
        correct = sum(1 for image, answer in answered if answer.get("label") == image.truth)
        accuracy = correct / len(answered) if answered else 0.0
        return Score(
            "accuracy", accuracy, f"held-out accuracy over HTTPS: {accuracy:.3f} ({correct}/{len(answered)})"
        )


def _pixel_box(box: dict[str, Any]) -> Box:
    left, top = float(box["left"]), float(box["top"])
    return (left, top, left + float(box["width"]), top + float(box["height"]))


@dataclass(frozen=True)
class DetectionDemo:
    """Synthetic scenes of shapes on varied backgrounds, with their true boxes; ``class_names``: the shapes
    the scenes hold (all four by default; the seed's three-job experiment has one class)."""

    name = TaskType.OBJECT_DETECTION.value
    image_prefix = "images/scenes"
    class_names: tuple[str, ...] = SCENE_CLASSES

    def context(self, epochs: int | None) -> dict[str, Any]:
        hyperparameters = dict(DETECTION_DEMO_HYPERPARAMETERS)
        if epochs is not None:
            hyperparameters["epochs"] = str(epochs)
        return {
            "gtpipe:taskType": self.name,
            "gtpipe:labelCategories": list(self.class_names),
            "gtpipe:hyperparameters": hyperparameters,
            # The gate is on mAP@0.5 for detection.
            "gtpipe:qualityThreshold": 0.6,
        }

    def draw(self, data_dir: Path, *, images: int, holdout: float, bucket: str) -> list[DemoImage]:
        records = write_scenes(data_dir / "scenes", images, seed=0, class_names=self.class_names)
        held = max(1, round(len(records) * holdout)) if holdout > 0 else 0
        drawn = []
        for index, record in enumerate(records):
            source_ref = f"s3://{bucket}/{self.image_prefix}/{record.path.name}"
            drawn.append(
                DemoImage(
                    path=record.path,
                    source_ref=source_ref,
                    holdout=index >= len(records) - held,
                    reference=reference_line(record, source_ref),
                    truth=record,
                )
            )
        return drawn

    def query(self) -> dict[str, str]:
        return {"min_confidence": DETECTION_QUERY_CONFIDENCE}

    def describe(self, image: DemoImage, answer: Any) -> str:
        record: SceneRecord = image.truth
        confident = [d for d in answer.get("detections", []) if d["confidence"] >= 0.5]
        found = ", ".join(f"{d['label']} {d['confidence']:.2f}" for d in confident[:4]) or "nothing"
        truth = ", ".join(self.class_names[o.class_id] for o in record.objects) or "nothing"
        return f"{image.path.name}: {found}  truth {truth}"

    def score(self, answered: Sequence[tuple[DemoImage, Any]]) -> Score:
        index = {name: i for i, name in enumerate(self.class_names)}
        images = []
        for image, answer in answered:
            record: SceneRecord = image.truth
            truth = [
                (o.class_id, (o.left, o.top, o.left + o.width, o.top + o.height)) for o in record.objects
            ]
            found = [
                (index.get(d["label"], -1), float(d["confidence"]), _pixel_box(d["box"]))
                for d in answer.get("detections", [])
            ]
            images.append(
                ([(c, (float(a), float(b), float(x), float(y))) for c, (a, b, x, y) in truth], found)
            )
        report = detection_metrics(images, self.class_names)
        per_class = ", ".join(f"{name} {m['ap']:.3f}" for name, m in report["per_class"].items())
        return Score(
            "map",
            float(report["map"]),
            f"held-out mAP@0.5 over HTTPS: {report['map']:.3f} over {len(answered)} images ({per_class})",
        )


TASKS: dict[str, DemoTask] = {task.name: task for task in (ClassificationDemo(), DetectionDemo())}


def write_reference_answers(path: Path, references: Sequence[dict[str, Any]]) -> None:
    """The simulated workforce's truth, one reference line per image (``DemoImage.reference``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(reference) + "\n" for reference in references))


def write_input_manifest(path: Path, images: Sequence[DemoImage]) -> Path:
    """An input (unlabeled) manifest: one ``{"source-ref"}`` per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"source-ref": image.source_ref}) + "\n" for image in images))
    return path
