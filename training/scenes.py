"""Synthetic scenes for object detection: coloured shapes on varied backgrounds, with exact boxes.

No download and no model: Pillow draws each scene from a seeded generator, so the same ``seed`` gives
the same PNG bytes and the same boxes. Classes differ by shape, never only by colour (every class takes
every colour). Scenes vary what a detector must cope with:

* image sizes: width and height drawn independently (96..192 px by default), so pixel and relative
  coordinates differ on both axes;
* 0 to ``max_objects`` objects (mostly 1 to 4) of varied sizes, aspect ratios, rotations and colours;
* partial occlusion: objects may overlap (a later object is drawn over an earlier one), but never hide
  more than about a third of another's box, so every labelled object stays recognisable;
* backgrounds: solid, linear gradient or smoothed noise texture, sometimes with thin clutter lines,
  plus mild pixel noise over the whole image.

A :class:`SceneObject` box is the box of the whole object (occluded part included), in pixels, as a
Ground Truth worker draws it. The helpers turn a :class:`SceneRecord` into Ground Truth's bounding-box
label and metadata, an augmented-manifest line, and the reference-answer line the simulated labeling
workforce reads.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SCENE_CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "star")
"""The shapes the generator can draw; a scene's class ids index the ``class_names`` it was given."""

DETECTION_TYPE = "groundtruth/object-detection"

# How many objects a scene holds: mostly 1 to 4, sometimes none (a negative image) or 5.
_COUNT_WEIGHTS = (0.05, 0.25, 0.3, 0.22, 0.13, 0.05)
# A new object may cover at most this share of an earlier object's box (and vice versa).
_MAX_COVERED = 0.35
_PLACEMENT_TRIES = 40


@dataclass(frozen=True)
class SceneObject:
    """One object: its class index and the pixel box of the whole object (left/top inclusive)."""

    class_id: int
    left: int
    top: int
    width: int
    height: int


@dataclass(frozen=True)
class SceneRecord:
    """One written scene: the PNG's path, its size in pixels and its objects (drawing order)."""

    path: Path
    width: int
    height: int
    objects: tuple[SceneObject, ...]


# --- drawing --------------------------------------------------------------------------------------


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """An HxWx3 float array (0..255): solid, gradient or texture."""
    kind = rng.choice(("solid", "gradient", "texture"), p=(0.3, 0.35, 0.35))
    base = rng.uniform(0, 255, size=3)
    if kind == "solid":
        return np.broadcast_to(base, (height, width, 3)).astype(np.float32)
    if kind == "gradient":
        other = rng.uniform(0, 255, size=3)
        angle = rng.uniform(0, 2 * math.pi)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        t = xs * math.cos(angle) / width + ys * math.sin(angle) / height
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        return (base * (1 - t[..., None]) + other * t[..., None]).astype(np.float32)
    # Texture: coarse random noise, upscaled smoothly, around a base colour.
    cells = int(rng.integers(4, 14))
    coarse = rng.uniform(-1, 1, size=(cells, cells, 3)).astype(np.float32)
    amplitude = rng.uniform(25, 70)
    noise = np.stack(
        [
            np.asarray(
                Image.fromarray(coarse[..., c]).resize((width, height), Image.Resampling.BICUBIC),
                dtype=np.float32,
            )
            for c in range(3)
        ],
        axis=-1,
    )
    return np.clip(base + amplitude * noise, 0, 255).astype(np.float32)


def _rotate(points: np.ndarray, angle: float) -> np.ndarray:
    cos, sin = math.cos(angle), math.sin(angle)
    return points @ np.array([[cos, sin], [-sin, cos]], dtype=np.float64)


def _outline(shape: str, rng: np.random.Generator) -> np.ndarray:
    """The shape's outline as polygon points around (0, 0), roughly unit size, before scaling."""
    if shape == "circle":
        angles = np.linspace(0, 2 * math.pi, 48, endpoint=False)
        points = np.stack([np.cos(angles), np.sin(angles)], axis=1)
        return points
    if shape == "square":
        points = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
        return _rotate(points, rng.uniform(-math.pi / 12, math.pi / 12))
    if shape == "triangle":
        angles = np.array([-90, 30, 150], dtype=np.float64) * math.pi / 180
        points = np.stack([np.cos(angles), np.sin(angles)], axis=1)
        # Mostly pointing up, sometimes down, always a little tilted.
        turn = (math.pi if rng.random() < 0.3 else 0.0) + rng.uniform(-math.pi / 9, math.pi / 9)
        return _rotate(points, turn)
    if shape == "star":
        inner = rng.uniform(0.38, 0.5)
        angles = np.arange(10) * math.pi / 5 - math.pi / 2
        radii = np.where(np.arange(10) % 2 == 0, 1.0, inner)
        points = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
        return _rotate(points, rng.uniform(-math.pi / 5, math.pi / 5))
    raise ValueError(f"unknown shape {shape!r}; known shapes: {', '.join(SCENE_CLASSES)}")


def _fit_to_box(outline: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale a unit outline so its bounding box spans exactly ``width`` x ``height`` pixels at 0, 0."""
    low, high = outline.min(axis=0), outline.max(axis=0)
    span = np.maximum(high - low, 1e-9)
    return (outline - low) / span * np.array([width - 1, height - 1], dtype=np.float64)


def _covered(a: SceneObject, b: SceneObject) -> float:
    """The larger of the two shares of each box covered by the other."""
    w = min(a.left + a.width, b.left + b.width) - max(a.left, b.left)
    h = min(a.top + a.height, b.top + b.height) - max(a.top, b.top)
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / min(a.width * a.height, b.width * b.height)


def _colour(rng: np.random.Generator, behind: np.ndarray) -> tuple[int, int, int]:
    """A random colour that stands out from the mean colour ``behind`` the object."""
    best, best_distance = (0, 0, 0), -1.0
    for _ in range(12):
        candidate = rng.uniform(0, 255, size=3)
        distance = float(np.linalg.norm(candidate - behind))
        if distance > best_distance:
            best, best_distance = (int(candidate[0]), int(candidate[1]), int(candidate[2])), distance
        if distance >= 110:
            break
    return best


def draw_scene(
    rng: np.random.Generator,
    class_names: Sequence[str] = SCENE_CLASSES,
    *,
    min_side: int = 96,
    max_side: int = 192,
    max_objects: int = 5,
) -> tuple[Image.Image, tuple[SceneObject, ...]]:
    """Draw one scene with ``rng``; returns the RGB image and its objects (see the module docstring)."""
    width = int(rng.integers(min_side, max_side + 1))
    height = int(rng.integers(min_side, max_side + 1))
    pixels = _background(rng, width, height)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(image)
    if rng.random() < 0.35:  # clutter: thin lines that are not objects
        for _ in range(int(rng.integers(1, 4))):
            x0, x1 = rng.uniform(0, width, size=2)
            y0, y1 = rng.uniform(0, height, size=2)
            tone = tuple(int(v) for v in rng.uniform(0, 255, size=3))
            draw.line([(x0, y0), (x1, y1)], fill=tone, width=int(rng.integers(1, 3)))

    weights = np.array(_COUNT_WEIGHTS[: max_objects + 1], dtype=np.float64)
    count = int(rng.choice(len(weights), p=weights / weights.sum()))
    short = min(width, height)
    objects: list[SceneObject] = []
    for _ in range(count):
        class_id = int(rng.integers(0, len(class_names)))
        shape = class_names[class_id]
        for _try in range(_PLACEMENT_TRIES):
            side = rng.uniform(0.16, 0.5) * short
            aspect = rng.uniform(0.8, 1.25)
            box_w = max(12, round(side * math.sqrt(aspect)))
            box_h = max(12, round(side / math.sqrt(aspect)))
            if box_w > width or box_h > height:
                continue
            left = int(rng.integers(0, width - box_w + 1))
            top = int(rng.integers(0, height - box_h + 1))
            candidate = SceneObject(class_id, left, top, box_w, box_h)
            if all(_covered(candidate, other) <= _MAX_COVERED for other in objects):
                break
        else:
            continue  # no room left for it: the scene holds fewer objects
        points = _fit_to_box(_outline(shape, rng), box_w, box_h) + np.array([left, top])
        behind = pixels[top : top + box_h, left : left + box_w].reshape(-1, 3).mean(axis=0)
        fill = _colour(rng, behind)
        polygon = [(float(x), float(y)) for x, y in points]
        draw.polygon(polygon, fill=fill)
        if rng.random() < 0.3:  # a darker or lighter rim, as drawn objects often have
            rim = tuple(int(np.clip(c * rng.uniform(0.4, 1.6), 0, 255)) for c in fill)
            draw.line([*polygon, polygon[0]], fill=rim, width=int(rng.integers(1, 3)))
        objects.append(candidate)

    if rng.random() < 0.5:
        image = image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.3, 0.9))))
    sigma = rng.uniform(0, 8)
    noisy = np.asarray(image, dtype=np.float32) + rng.normal(0, sigma, size=(height, width, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), mode="RGB"), tuple(objects)


def _check_class_names(class_names: Sequence[str]) -> None:
    unknown = [name for name in class_names if name not in SCENE_CLASSES]
    if unknown or not class_names:
        raise ValueError(
            f"class_names must be shapes from {', '.join(SCENE_CLASSES)}; got {list(class_names)!r}"
        )
    if len(set(class_names)) != len(class_names):
        raise ValueError(f"class_names repeat a name: {list(class_names)!r}")


def write_scenes(
    out_dir: str | Path,
    count: int,
    *,
    seed: int,
    class_names: Sequence[str] = SCENE_CLASSES,
    min_side: int = 96,
    max_side: int = 192,
    max_objects: int = 5,
    start: int = 0,
) -> list[SceneRecord]:
    """Write ``count`` scenes as ``scene-00000.png`` ... into ``out_dir`` and return their records.

    Scene ``i`` depends only on ``(seed, start + i)``: the first scenes of a larger set are the same
    files, and ``start`` continues a set (e.g. held-out scenes after training scenes). Class ids index
    ``class_names``, which must name shapes of :data:`SCENE_CLASSES`.
    """
    _check_class_names(class_names)
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if not 16 <= min_side <= max_side:
        raise ValueError(f"need 16 <= min_side <= max_side, got {min_side}, {max_side}")
    if not 0 <= max_objects < len(_COUNT_WEIGHTS):
        raise ValueError(f"max_objects must be in [0, {len(_COUNT_WEIGHTS) - 1}], got {max_objects}")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for index in range(start, start + count):
        rng = np.random.default_rng([seed, index])
        image, objects = draw_scene(
            rng, class_names, min_side=min_side, max_side=max_side, max_objects=max_objects
        )
        path = folder / f"scene-{index:05d}.png"
        image.save(path, format="PNG")
        records.append(SceneRecord(path, image.width, image.height, objects))
    return records


# --- Ground Truth formats -------------------------------------------------------------------------


def _annotations(record: SceneRecord) -> list[dict[str, int]]:
    return [
        {"class_id": o.class_id, "left": o.left, "top": o.top, "width": o.width, "height": o.height}
        for o in record.objects
    ]


def detection_label(record: SceneRecord, class_names: Sequence[str] = SCENE_CLASSES) -> dict[str, Any]:
    """The Ground Truth bounding-box label value: ``image_size`` plus pixel ``annotations``."""
    for obj in record.objects:
        if not 0 <= obj.class_id < len(class_names):
            raise ValueError(
                f"{record.path.name}: class_id {obj.class_id} has no name in {list(class_names)}"
            )
    return {
        "image_size": [{"width": record.width, "height": record.height, "depth": 3}],
        "annotations": _annotations(record),
    }


def detection_metadata(
    record: SceneRecord,
    class_names: Sequence[str] = SCENE_CLASSES,
    *,
    job_name: str,
    human_annotated: str = "yes",
    confidence: float = 0.95,
    creation_date: str | None = None,
) -> dict[str, Any]:
    """The label's ``-metadata``: one confidence per box, the class map, type, job name and date."""
    return {
        "objects": [{"confidence": confidence} for _ in record.objects],
        "class-map": {str(index): name for index, name in enumerate(class_names)},
        "type": DETECTION_TYPE,
        "human-annotated": human_annotated,
        "creation-date": creation_date or datetime.now(UTC).replace(tzinfo=None).isoformat(),
        "job-name": f"labeling-job/{job_name}",
    }


def augmented_manifest_line(
    record: SceneRecord,
    source_ref: str,
    label_attribute: str,
    class_names: Sequence[str] = SCENE_CLASSES,
    job_name: str = "scenes-demo",
    *,
    creation_date: str | None = None,
) -> dict[str, Any]:
    """One line of a Ground Truth bounding-box output manifest: source-ref, label and its metadata."""
    return {
        "source-ref": source_ref,
        label_attribute: detection_label(record, class_names),
        f"{label_attribute}-metadata": detection_metadata(
            record, class_names, job_name=job_name, creation_date=creation_date
        ),
    }


def reference_line(record: SceneRecord, source_ref: str) -> dict[str, Any]:
    """The reference answer for the simulated workforce: the true boxes of one image, in pixels."""
    return {
        "source-ref": source_ref,
        "image_size": {"width": record.width, "height": record.height, "depth": 3},
        "annotations": _annotations(record),
    }


def scene_source_ref(record: SceneRecord, bucket: str = "demo-bucket", prefix: str = "images/scenes") -> str:
    """The S3 URI a scene is staged at: ``s3://<bucket>/<prefix>/<file name>``."""
    return f"s3://{bucket}/{prefix.strip('/')}/{record.path.name}"


def write_scene_channel(
    records: Sequence[SceneRecord],
    channel_dir: str | Path,
    manifest_name: str = "data.manifest",
    *,
    label_attribute: str = "boxes",
    class_names: Sequence[str] = SCENE_CLASSES,
    bucket: str = "demo-bucket",
    prefix: str = "images/scenes",
    job_name: str = "scenes-demo",
) -> Path:
    """Stage a training channel as the local cloud does: an augmented manifest whose source-refs are
    ``s3://<bucket>/<prefix>/<name>``, and each image at ``<channel_dir>/<bucket>/<prefix>/<name>``
    (hard-linked when possible). Returns the manifest's path."""
    root = Path(channel_dir)
    folder = root / bucket / prefix.strip("/")
    folder.mkdir(parents=True, exist_ok=True)
    date = datetime.now(UTC).replace(tzinfo=None).isoformat()
    lines = []
    for record in records:
        target = folder / record.path.name
        if not target.exists():
            try:
                os.link(record.path, target)
            except OSError:  # another file system, or links not allowed
                shutil.copyfile(record.path, target)
        ref = scene_source_ref(record, bucket, prefix)
        line = augmented_manifest_line(
            record, ref, label_attribute, class_names, job_name, creation_date=date
        )
        lines.append(json.dumps(line))
    manifest = root / manifest_name
    manifest.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return manifest
