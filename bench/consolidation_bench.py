"""Benchmark: consolidated labels vs a single worker's, on the local cloud's simulated workers.

    .venv/bin/python -m bench.consolidation_bench [--objects 5000] [--images 1000] [--seed 7]

The workers are the local Ground Truth emulation's (:func:`local.sagemaker.workforce.simulate_answers`,
:func:`local.sagemaker.box_workforce.simulate_box_answers`); the consolidation is the builtin labeling
service's (:mod:`gtpipe_shared.consolidation`). Each object gets 3 answers from a team of 5, as the demo
asks. Classification: 10 classes (the digits), accuracy against the truth, at the workforce's default
error rate (0.1) and noisier ones. Boxes: 1-4 boxes of 4 classes per image (at most IoU 0.3 between
them), recall (true boxes matched at IoU >= 0.5 with their class) and the mean IoU of the matches, at the
default noise (``BoxNoise()``: 5% edge jitter, 5% misses, 2% wrong classes) and a noisier one. "single"
is the mean over all answers, i.e. what one worker alone achieves on average.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence

from gtpipe_shared.consolidation import consolidate_boxes, consolidate_classes

from bench import print_figures
from bench.box_scenes import random_scene, recall_and_iou
from local.sagemaker.box_workforce import BoxNoise, BoxReference, simulate_box_answers
from local.sagemaker.workforce import simulate_answers

TEAM = [f"w{k}" for k in range(5)]
PER_OBJECT = 3
CLASS_ERROR_RATES = (0.1, 0.25, 0.35)
BOX_NOISE = {"default": BoxNoise(), "noisy": BoxNoise(jitter=0.1, miss_rate=0.2, wrong_class_rate=0.1)}


def classification(objects: int, error_rate: float, seed: int, num_classes: int = 10) -> tuple[float, float]:
    """(consolidated accuracy, single-worker accuracy)."""
    rng = random.Random(seed)
    truth = [rng.randrange(num_classes) for _ in range(objects)]
    answers = [simulate_answers(t, num_classes, rng.sample(TEAM, PER_OBJECT), error_rate, rng) for t in truth]
    labels = consolidate_classes(answers, num_classes, seed=seed).labels
    consolidated = sum(label is not None and label.label == t for label, t in zip(labels, truth, strict=True))
    single = sum(a.label == t for item, t in zip(answers, truth, strict=True) for a in item) / PER_OBJECT
    return consolidated / objects, single / objects


def scenes(rng: random.Random, images: int, num_classes: int) -> list[BoxReference]:
    """Reference images from :func:`bench.box_scenes.random_scene` (3 channels)."""
    return [
        BoxReference(width, height, 3, tuple(boxes))
        for width, height, boxes in (random_scene(rng, num_classes) for _ in range(images))
    ]


def boxes(images: int, noise: BoxNoise, seed: int, num_classes: int = 4) -> dict[str, float]:
    """Recall and mean IoU, consolidated and single."""
    rng = random.Random(seed)
    truth = scenes(rng, images, num_classes)
    answers = [simulate_box_answers(r, num_classes, rng.sample(TEAM, PER_OBJECT), noise, rng) for r in truth]
    result = consolidate_boxes(answers, num_classes)
    true_boxes = [reference.boxes for reference in truth]
    merged = recall_and_iou([[item.box for item in image] for image in result.images], true_boxes)
    singles = [
        recall_and_iou([list(image[k].boxes) for image in answers], true_boxes) for k in range(PER_OBJECT)
    ]
    return {
        "recall": merged[0],
        "iou": merged[1],
        "single_recall": sum(r for r, _ in singles) / PER_OBJECT,
        "single_iou": sum(i for _, i in singles) / PER_OBJECT,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    """Measure and return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=5000, help="classification objects per setting")
    parser.add_argument("--images", type=int, default=1000, help="box images per setting")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    figures: dict[str, object] = {}
    for rate in CLASS_ERROR_RATES:
        consolidated, single = classification(args.objects, rate, args.seed)
        figures[f"classification error {rate:g}: accuracy consolidated / single"] = (
            f"{consolidated:.3f} / {single:.3f}"
        )
    for name, noise in BOX_NOISE.items():
        measured = boxes(args.images, noise, args.seed)
        label = (
            f"boxes {name} (jitter {noise.jitter:g}, miss {noise.miss_rate:g}, wrong class "
            f"{noise.wrong_class_rate:g})"
        )
        figures[f"{label}: recall consolidated / single"] = (
            f"{measured['recall']:.3f} / {measured['single_recall']:.3f}"
        )
        figures[f"{label}: mean IoU consolidated / single"] = (
            f"{measured['iou']:.3f} / {measured['single_iou']:.3f}"
        )
    return figures


if __name__ == "__main__":
    print_figures(main())
