"""Benchmark: is the local detector, trained as automated labeling's first round trains it, sure and right
enough on box scenes to machine-label any?

    .venv/bin/python -m bench box-confidence      (or python -m bench.box_confidence_bench
                                                   [--scenes 100 --epochs 96 --threads 1])

Seeded, in process (no local cloud): the demo's box scenes (``training.scenes``, seed 0) as the human batch
(``--scenes`` training scenes, 40 validation scenes) and 200 held-out scenes (seed 1); the local detector
(``training.detection``) fitted with the demo's hyperparameters, ``epochs`` = ``--epochs`` and the learning
rate cut at the same share of them (as the loop scales ``lr_scheduler_step``); its answers read with the
loop's own rules (:mod:`gtpipe_shared.model_labels`): the score cut-off and the 95% threshold chosen on the
40 validation scenes, then applied to the held-out ones. Reported: the validation mAP, the box scores,
how many held-out images the model gets right (every box, :func:`boxes_agree`), how many it would
machine-label and how many of those are right, and how well the image confidence separates right from
wrong images (AUC).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import print_figures

VALIDATION = 40
HELD_OUT = 200
CLASS_COUNT = 4


def _arrays(records: Sequence[Any], side: int) -> tuple[Any, list[Any]]:
    import numpy as np
    from PIL import Image

    from training.images import resize_exact

    arrays = np.stack([resize_exact(Image.open(r.path), side, side, 3) for r in records])
    boxes = [
        np.array(
            [
                [
                    o.class_id,
                    o.left / r.width,
                    o.top / r.height,
                    (o.left + o.width) / r.width,
                    (o.top + o.height) / r.height,
                ]
                for o in r.objects
            ],
            dtype=np.float32,
        ).reshape(-1, 5)
        for r in records
    ]
    return arrays, boxes


def _samples(
    records: Sequence[Any], detections: Sequence[Any]
) -> list[tuple[Any, tuple[int, int, int], list[Any]]]:
    """``(answer, image size, true pixel boxes)`` per scene, as the loop sees a transform answer."""
    from gtpipe_shared.consolidation import Box

    return [
        (
            {"prediction": rows.tolist()},
            (r.width, r.height, 3),
            [Box(o.class_id, o.left, o.top, o.width, o.height) for o in r.objects],
        )
        for r, rows in zip(records, detections, strict=True)
    ]


def _train_and_predict(
    scenes: int, epochs: int, work: Path, validation_scenes: int
) -> tuple[Any, list[Any], list[Any], float]:
    import torch

    from training.contracts import DETECTION_DEMO_HYPERPARAMETERS
    from training.detection.hyperparameters import parse_detection_hyperparameters
    from training.detection.model import DetectorArchitecture, build_detector
    from training.detection.trainer import fit, predict_arrays
    from training.scenes import write_scenes

    demo = DETECTION_DEMO_HYPERPARAMETERS
    step = max(1, round(int(demo["lr_scheduler_step"]) * epochs / int(demo["epochs"])))
    raw = {**demo, "epochs": str(epochs), "lr_scheduler_step": str(step)}
    hps = parse_detection_hyperparameters(
        {**raw, "num_classes": str(CLASS_COUNT), "num_training_samples": str(scenes)}
    )
    arch = DetectorArchitecture.create(hps.base_network, CLASS_COUNT, hps.image_shape)
    train = write_scenes(work / "train", scenes, seed=0)
    validation = write_scenes(work / "validation", validation_scenes, seed=0, start=5000)
    held = write_scenes(work / "held", HELD_OUT, seed=1)
    (ta, tb), (va, vb), (ha, _) = (_arrays(r, hps.image_shape) for r in (train, validation, held))
    started = time.perf_counter()
    result = fit(hps, arch, ta, tb, va, vb)
    seconds = time.perf_counter() - started
    model = build_detector(arch)
    model.load_state_dict(result.state_dict)
    model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # missing from torch's stubs
    mean = torch.tensor(result.mean).view(1, 3, 1, 1)
    std = torch.tensor(result.std).view(1, 3, 1, 1)

    def predict(arrays: Any) -> list[Any]:
        return predict_arrays(model, arrays, mean, std, torch.device("cpu"), hps.nms_threshold)

    best = result.epochs[result.best_epoch].values["validation:mAP"]
    return (
        (best, result.best_epoch),
        _samples(validation, predict(va)),
        _samples(held, predict(ha)),
        seconds,
    )


def _auc(scored: Sequence[tuple[float, bool]]) -> float | None:
    right = [c for c, ok in scored if ok]
    wrong = [c for c, ok in scored if not ok]
    if not right or not wrong:
        return None
    wins = sum((r > w) + 0.5 * (r == w) for r in right for w in wrong)
    return round(wins / (len(right) * len(wrong)), 3)


def measure(scenes: int, epochs: int, work: Path, validation_scenes: int = VALIDATION) -> dict[str, object]:
    """Train, predict and read the answers with the loop's rules; the figures. The threshold is the loop's
    (95% at its credibility), chosen on the first ``VALIDATION`` validation scenes and, as the loop widens
    its sample when none is reached (:func:`gtpipe_shared.auto_labeling.widening`), on each larger prefix
    of the ``validation_scenes``."""
    from gtpipe_shared.auto_labeling import choose_threshold
    from gtpipe_shared.model_labels import boxes_agree, choose_box_cutoff, detection_prediction
    from labeling.auto import CREDIBILITY

    (best_map, best_epoch), validation, held, seconds = _train_and_predict(
        scenes, epochs, work, validation_scenes
    )
    chosen = choose_box_cutoff(validation[:VALIDATION], CLASS_COUNT)

    def scored(samples: Sequence[Any], cutoff: float) -> list[tuple[float, bool]]:
        out = []
        for answer, size, truth in samples:
            prediction = detection_prediction(answer, size, CLASS_COUNT, cutoff)
            out.append((prediction.confidence, boxes_agree(prediction, truth)))
        return out

    on_validation = scored(validation, chosen.cutoff)
    on_held = scored(held, chosen.cutoff)
    thresholds = {}
    for size in range(VALIDATION, validation_scenes + 1, VALIDATION):
        threshold = choose_threshold(on_validation[:size], credibility=CREDIBILITY)
        machine = [ok for confidence, ok in on_held if threshold is not None and confidence >= threshold]
        thresholds[size] = (threshold, len(machine), sum(machine))
    at_half = scored(held, 0.5)
    scores = sorted((row[1] for answer, _, _ in held for row in answer["prediction"]), reverse=True)
    true_boxes = sum(len(truth) for _, _, truth in held)
    figures: dict[str, object] = {
        "training": f"{scenes} scenes, {epochs} epochs (demo hyperparameters), {seconds:.0f} s",
        "validation mAP@0.5 (best epoch)": f"{best_map:.3f} (epoch {best_epoch})",
        f"held-out: highest box scores (top {true_boxes} = the true box count)": (
            f"max {scores[0]:.2f}, median of the top {true_boxes} {scores[true_boxes // 2]:.2f}"
            if scores
            else "none"
        ),
        "images right at the fixed 0.5 cut-off": f"{sum(ok for _, ok in at_half)}/{HELD_OUT}",
        "score cut-off chosen on the validation sample": chosen.cutoff,
        "validation images right / covered at that cut-off": f"{chosen.agreeing}/{VALIDATION}, {chosen.covered}",
        "images right at that cut-off": f"{sum(ok for _, ok in on_held)}/{HELD_OUT}",
        "confidence separates right from wrong images (AUC)": _auc(on_held),
    }
    for size, (limit, labeled, right) in thresholds.items():
        figures[f"threshold (95% at credibility {CREDIBILITY}) on {size} validation scenes"] = limit
        figures[f"held-out images machine-labeled (right), {size} validation scenes"] = f"{labeled} ({right})"
    return figures


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    """Measure and return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=100, help="training scenes (the first human batch)")
    parser.add_argument("--epochs", type=int, default=96, help="the labeling model's epochs")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: fastest on a busy machine)")
    parser.add_argument(
        "--validation", type=int, default=VALIDATION, help="validation scenes (40, 80, 120: widening's steps)"
    )
    args, _ = parser.parse_known_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="gtpipe-bench-boxconf-") as work:
        return measure(args.scenes, args.epochs, Path(work), args.validation)


if __name__ == "__main__":
    print_figures(main())
