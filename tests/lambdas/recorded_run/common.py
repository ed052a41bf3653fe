"""What every generated run shares: names, the clock, the run record, images and the training log."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import Image, ImageDraw

BUCKET = "gtpipe-data-bucket"
RUNS_TABLE = "gtpipe-runs"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
HOSTILE_NAMES = ['<script>alert("x")</script>', "$x^2$ & co", "tab\tnew\nline"]
DETECTION_CLASSES = ["bird", "tire", "licence plate (rear, EU format, any country)", "unused class"]


def run_start() -> datetime:
    """When a generated run started: two days before now, on the hour.

    Relative to the clock, never a fixed date: CloudWatch Logs (and moto) silently drop events older
    than 14 days, so a fixed start would make the report lose its training curves some day."""
    return (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)


def iso(moment: datetime) -> str:
    """The ledger's fixed-width timestamp."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def gt_date(moment: datetime) -> str:
    """Ground Truth's creation-date form (naive UTC, microseconds)."""
    return moment.replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.%f")


@dataclass
class RecordedRun:
    """One generated run (see the package docstring)."""

    run_id: str
    outcome: str
    state: dict[str, Any]
    ledger_item: dict[str, Any]
    objects: dict[str, bytes]
    class_names: list[str]
    training_job: str | None = None
    log_lines: list[str] = field(default_factory=list)
    started: datetime = field(default_factory=run_start)

    def event(self) -> dict[str, Any]:
        """The report Lambda's event for this run."""
        return {"run_id": self.run_id, "outcome": self.outcome, "state": self.state}


def class_names_for(count: int, hostile: bool = False) -> list[str]:
    """Digits for up to 10 classes, else generated names (some long); hostile names first if asked."""
    if count <= 10 and not hostile:
        return DIGITS[:count]
    names = []
    for index in range(count):
        if index % 7 == 3:
            names.append(f"class {index:02d} with a rather long descriptive name that keeps going")
        else:
            names.append(f"class {index:02d}")
    if hostile:
        names[: len(HOSTILE_NAMES)] = HOSTILE_NAMES[:count]
    return names


def png(image: Image.Image) -> bytes:
    """The image as PNG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


_DIGITS_DATA: Any = None


def digit_image(class_id: int, index: int) -> bytes:
    """A 32x32 grayscale PNG of a scikit-learn digit of class ``class_id`` (8x8 upscaled)."""
    global _DIGITS_DATA
    if _DIGITS_DATA is None:
        from sklearn.datasets import load_digits

        digits = load_digits()
        _DIGITS_DATA = {
            d: [img for img, t in zip(digits.images, digits.target, strict=True) if t == d] for d in range(10)
        }
    samples = _DIGITS_DATA[class_id % 10]
    pixels = (samples[index % len(samples)] * (255 / 16)).astype("uint8")
    return png(Image.fromarray(255 - pixels, mode="L").resize((32, 32), Image.Resampling.NEAREST))


def synthetic_image(class_id: int, index: int) -> bytes:
    """A 40x40 PNG whose color and mark depend on the class (fast stand-in for many classes)."""
    hue = (class_id * 47) % 255
    image = Image.new("HSV", (40, 40), (hue, 120, 230)).convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.text((6, 12), f"{class_id}", fill="black")
    draw.rectangle([2 + index % 5, 2, 37, 37 - index % 4], outline="black")
    return png(image)


def probabilities(rng: random.Random, classes: int, predicted: int) -> list[float]:
    """A transform output's class probabilities: ``predicted`` on top, the rest drawn; rounded to 6 places."""
    top = rng.uniform(0.45, 0.97)
    rest = [rng.random() for _ in range(classes - 1)]
    scale = (1 - top) / (sum(rest) or 1)
    probabilities = [value * scale for value in rest]
    probabilities.insert(predicted, top)
    return [round(p, 6) for p in probabilities]


def training_log(epochs: int, rng: random.Random, detection: bool, start: datetime) -> list[str]:
    """The training job's log lines (detection or classification metrics), one epoch a minute."""
    first = (start + timedelta(minutes=42)).strftime("[%m/%d/%Y %H:%M:%S INFO]")
    lines = [f"{first} Final configuration: {{'epochs': '{epochs}'}}"]
    for epoch in range(epochs):
        stamp = (start + timedelta(minutes=43 + epoch)).strftime("[%m/%d/%Y %H:%M:%S INFO]")
        progress = (epoch + 1) / epochs
        if detection:
            for batch in (10, 20):
                lines.append(
                    f"{stamp} #quality_metric: host=algo-1, epoch={epoch}, batch={batch} train cross_entropy "
                    f"<loss>=({2.5 - 1.6 * progress + rng.uniform(-0.05, 0.05):.4f})"
                )
                lines.append(
                    f"{stamp} #quality_metric: host=algo-1, epoch={epoch}, batch={batch} train smooth_l1 "
                    f"<loss>=({1.2 - 0.8 * progress + rng.uniform(-0.03, 0.03):.4f})"
                )
            lines.append(
                f"{stamp} #quality_metric: host=algo-1, epoch={epoch}, validation mAP <score>=({0.1 + 0.6 * progress:.4f})"
            )
        else:
            lines.append(f"{stamp} Epoch[{epoch}] Train-accuracy={0.3 + 0.65 * progress:.6f}")
            lines.append(f"{stamp} Epoch[{epoch}] Train-loss={2.2 - 2.0 * progress:.6f}")
            lines.append(f"{stamp} Epoch[{epoch}] Time cost=1.234")
            lines.append(f"{stamp} Epoch[{epoch}] Validation-accuracy={0.25 + 0.6 * progress:.6f}")
            lines.append(f"{stamp} Epoch[{epoch}] Validation-loss={2.3 - 1.8 * progress:.6f}")
    return lines
