"""A shifted stream for the model-lifecycle scenarios on the local cloud (README "Model lifecycle: harvest,
relabel, retrain"): a model trained on upright digits serves rotated ones.

:func:`shifted_digits` writes digits the training set does not hold, rotated (or recoloured: inverted), as
PNGs with their truth; :func:`send_stream` sends them through ``POST /predict`` as users would (capture on)
and remembers each answer's inference id; :func:`accuracy` scores a held-out set through the same API with
capture off (``X-Gtpipe-Capture: off``), so measuring never feeds the harvest. :func:`feedback_references`
gives the simulated workforce the truth of the images a harvest will copy (its keys are known in advance:
``images/feedback/<day>/<inference id>.png``). The drift alarm's scenario sends the same stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from gtpipe_shared.harvest import IMAGE_PREFIX, window_day
from PIL import Image, ImageOps

from training.datasets import DigitRecord, write_digits_dataset

CAPTURE_OFF = {"X-Gtpipe-Capture": "off"}


@dataclass(frozen=True)
class StreamImage:
    """One image of the shifted stream: its local file, class name and index."""

    path: Path
    class_name: str
    label: int


@dataclass(frozen=True)
class Sent:
    """One image sent through the API with capture on: the answer's inference id and label."""

    image: StreamImage
    inference_id: str
    predicted: str
    captured: bool


def shift(image: Image.Image, how: str) -> Image.Image:
    """``rotate-90`` (counter-clockwise), ``rotate-180`` or ``invert`` (light digits on dark become dark
    on light: a recoloured stream)."""
    if how == "rotate-90":
        return image.rotate(90)
    if how == "rotate-180":
        return image.rotate(180)
    if how == "invert":
        return ImageOps.invert(image.convert("L"))
    raise ValueError(f"unknown shift {how!r}: rotate-90, rotate-180 or invert")


def shifted_digits(
    out_dir: Path, *, skip: int, count: int, how: str = "rotate-90", seed: int = 0
) -> list[StreamImage]:
    """``count`` digits after the first ``skip`` of :func:`training.datasets.write_digits_dataset`'s
    class-balanced order (so none of a training set drawn with ``limit=skip``), shifted ``how``."""
    originals: list[DigitRecord] = write_digits_dataset(
        out_dir / "originals",
        bucket="stream",
        prefix="digits",
        holdout_fraction=0.0,
        limit=skip + count,
        seed=seed,
    )
    folder = out_dir / how
    folder.mkdir(parents=True, exist_ok=True)
    images: list[StreamImage] = []
    for record in originals[skip:]:
        path = folder / record.path.name
        with Image.open(record.path) as image:
            shift(image, how).save(path, format="PNG")
        images.append(StreamImage(path=path, class_name=record.class_name, label=record.label))
    return images


def send_stream(api: Any, images: Sequence[StreamImage], *, workers: int = 8) -> list[Sent]:
    """Send every image through ``POST /predict`` (capture on); the answers, in order. AssertionError for
    an answer other than 200."""

    def send(image: StreamImage) -> Sent:
        response = api.predict(image.path.read_bytes())
        if response.status != 200:
            raise AssertionError(f"{image.path.name}: {response.status} {response.body[:200]!r}")
        answer = response.json()
        return Sent(image, str(answer["inference_id"]), str(answer["label"]), bool(answer.get("captured")))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(send, images))


def accuracy(api: Any, images: Sequence[StreamImage], *, workers: int = 8) -> float:
    """The share of ``images`` the serving model answers right, asked with capture off."""

    def right(image: StreamImage) -> bool:
        response = api.request(image.path.read_bytes(), "image/png", extra_headers=CAPTURE_OFF)
        if response.status != 200:
            raise AssertionError(f"{image.path.name}: {response.status} {response.body[:200]!r}")
        return bool(response.json()["label"] == image.class_name)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        answers = list(pool.map(right, images))
    return sum(answers) / len(answers) if answers else 0.0


def feedback_references(bucket: str, sent: Iterable[Sent], around: datetime) -> list[dict[str, Any]]:
    """The simulated workforce's truth for every image a harvest at ``around`` (UTC, give or take a day
    boundary) may copy: ``{"source-ref", "label"}`` per sent image and candidate day."""
    days = {window_day(around + timedelta(days=delta)) for delta in (-1, 0, 1)}
    return [
        {
            "source-ref": f"s3://{bucket}/{IMAGE_PREFIX}{day}/{item.inference_id}.png",
            "label": item.image.label,
        }
        for item in sent
        for day in sorted(days)
    ]
