"""Benchmark: is the local detector, trained as automated labeling's first round trains it, sure and right
enough on box scenes to machine-label any?

    .venv/bin/python -m bench box-confidence      (or python -m bench.box_confidence_bench
                                                   [--scenes 100 --epochs 96 --threads 1 --image-shape N
                                                    --validation 120 --held-out 200 --resamples 200
                                                    --classes NAME,... --hyperparameters NAME=VALUE,...
                                                    --human-error 0.027])

Seeded, in process (no local cloud): the demo's box scenes (``training.scenes``, seed 0) as the human batch
(``--scenes`` training scenes, 40 validation scenes) and 200 held-out scenes (seed 1); the local detector
(``training.detection``) fitted with the demo's hyperparameters, ``epochs`` = ``--epochs`` and the learning
rate cut at the same share of them (as the loop scales ``lr_scheduler_step``); its answers read with the
loop's own rules (:mod:`gtpipe_shared.model_labels`): the score cut-off and the 95% threshold chosen on the
40 validation scenes (and 80, 120: widening's samples), then applied to the held-out ones. Reported: the
validation mAP, the box scores, how many held-out images the model gets right (every box, :func:`boxes_agree`)
and why the others are wrong, how many it would machine-label and how many of those are right, how well the
image confidence separates right from wrong images (AUC), and the same rules on ``--resamples`` random
validation samples of all the scenes it answered (:func:`resampled_certification`): one sample tells little;
with ``--human-error``, again with that share of each sample's labels wrong, as people's are.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import print_figures

VALIDATION = 40
HELD_OUT = 200
RESAMPLES = 200
# The most classes a scene holds (the answers are read against it; --classes may train on fewer).
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
    scenes: int,
    epochs: int,
    work: Path,
    validation_scenes: int,
    held_out: int,
    overrides: Sequence[tuple[str, str]] = (),
    class_names: Sequence[str] = (),
) -> tuple[Any, list[Any], list[Any], float]:
    import torch

    from training.contracts import DETECTION_DEMO_HYPERPARAMETERS
    from training.detection.hyperparameters import parse_detection_hyperparameters
    from training.detection.model import DetectorArchitecture, build_detector
    from training.detection.trainer import fit, predict_arrays
    from training.scenes import SCENE_CLASSES, write_scenes

    demo = DETECTION_DEMO_HYPERPARAMETERS
    step = max(1, round(int(demo["lr_scheduler_step"]) * epochs / int(demo["epochs"])))
    raw = {**demo, "epochs": str(epochs), "lr_scheduler_step": str(step), **dict(overrides)}
    names = tuple(class_names) or SCENE_CLASSES
    hps = parse_detection_hyperparameters(
        {**raw, "num_classes": str(len(names)), "num_training_samples": str(scenes)}
    )
    arch = DetectorArchitecture.create(hps.base_network, len(names), hps.image_shape)
    train = write_scenes(work / "train", scenes, seed=0, class_names=names)
    validation = write_scenes(work / "validation", validation_scenes, seed=0, start=5000, class_names=names)
    held = write_scenes(work / "held", held_out, seed=1, class_names=names)
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


def _error_kinds(prediction: Any, truth: Sequence[Any]) -> Counter[str]:
    """Why a machine label is wrong: its boxes matched to a true box (IoU >= 0.5) in another class, the
    true boxes it misses, and its boxes left over (a duplicate or a box on nothing)."""
    from gtpipe_shared.consolidation import match_boxes

    boxes = [box for box, _ in prediction.value]
    matches = match_boxes(boxes, list(truth))
    return Counter(
        {
            "in the wrong class": sum(boxes[i].class_id != truth[j].class_id for i, j, _ in matches),
            "missed": len(truth) - len(matches),
            "extra": len(boxes) - len(matches),
        }
    )


def one_box_per_object(answer: dict[str, Any], overlap: float = 0.5) -> dict[str, Any]:
    """A candidate reading, measured here and not built: the built-in's answer with each object's boxes in
    other classes dropped (a row overlapping a better-scored row at IoU > ``overlap``: non-maximum
    suppression runs per class, so a model unsure of an object's class proposes it once per class)."""
    from gtpipe_shared.consolidation import Box, iou

    def box(row: list[float]) -> Box:  # relative corners; IoU does not depend on the scale
        return Box(0, row[2], row[3], row[4] - row[2], row[5] - row[3])

    kept: list[list[float]] = []
    for row in sorted(answer["prediction"], key=lambda row: -row[1]):
        if all(iou(box(row), box(other)) <= overlap for other in kept):
            kept.append(row)
    return {"prediction": kept}


def resampled_certification(
    scores: dict[float, list[tuple[float, bool]]],
    credibility: float,
    trials: int,
    seed: int = 0,
    human_error: float = 0.0,
    verify: bool = False,
) -> dict[str, object]:
    """How the loop's rules fare on many validation samples of one model's answers: ``scores`` is
    :func:`gtpipe_shared.model_labels.box_cutoff_scores` of a pool of labeled images; each trial draws
    :data:`VALIDATION` of them as the sample (widened by as many, up to ``WIDEN_LIMIT`` times, while no
    threshold is reached, as the loop widens), chooses the cut-off and the threshold on it and machine-labels
    the images outside the largest sample. The figures: samples that machine-label, the mean share
    machine-labeled, the machine labels' pooled accuracy and the samples whose machine labels are less than
    95% right. ``human_error``: the share of the sample's people labels that are wrong (the truth stands in
    for people's labels; a wrong one disagrees with the model's label, right or wrong), drawn per trial;
    the machine labels are graded against the truth. ``verify``: before each threshold, the loop's
    verification (:func:`_verified`) corrects the wrong people labels it asks about again. ValueError when the
    pool leaves no image outside the largest sample."""
    from gtpipe_shared.auto_labeling import WIDEN_LIMIT, choose_threshold
    from gtpipe_shared.model_labels import pick_box_cutoff

    rng = random.Random(seed)
    count = len(next(iter(scores.values())))
    if count <= VALIDATION * WIDEN_LIMIT:
        raise ValueError(f"resampling needs more than {VALIDATION * WIDEN_LIMIT} images, got {count}")
    labeling = below = right = labeled = 0
    shares = []
    for _ in range(trials):
        order = list(range(count))
        rng.shuffle(order)
        rest = order[VALIDATION * WIDEN_LIMIT :]
        mislabeled = (
            {i for i in order[: VALIDATION * WIDEN_LIMIT] if rng.random() < human_error}
            if human_error
            else set()
        )
        for size in range(VALIDATION, VALIDATION * WIDEN_LIMIT + 1, VALIDATION):
            sample = {
                cutoff: [(scored[i][0], scored[i][1] and i not in mislabeled) for i in order[:size]]
                for cutoff, scored in scores.items()
            }
            cutoff = pick_box_cutoff(sample).cutoff
            if verify:
                mislabeled -= _verified(sample[cutoff], order[:size], mislabeled, credibility, len(rest))
                sample = {
                    cutoff: [(scored[i][0], scored[i][1] and i not in mislabeled) for i in order[:size]]
                    for cutoff, scored in scores.items()
                }
                cutoff = pick_box_cutoff(sample).cutoff
            threshold = choose_threshold(sample[cutoff], credibility=credibility)
            if threshold is not None:
                break
        machine = [
            scores[cutoff][i][1] for i in rest if threshold is not None and scores[cutoff][i][0] >= threshold
        ]
        shares.append(len(machine) / len(rest))
        if machine:
            labeling += 1
            below += sum(machine) < 0.95 * len(machine)
            right, labeled = right + sum(machine), labeled + len(machine)
    return {
        f"resampled: samples (of {trials}) machine-labeling": labeling,
        "resampled: mean share of the rest machine-labeled": round(sum(shares) / trials, 3),
        "resampled: machine labels right (pooled)": round(right / labeled, 3) if labeled else None,
        "resampled: samples whose machine labels are < 95% right": below,
    }


def _verified(
    scored: Sequence[tuple[float, bool]],
    sample: Sequence[int],
    mislabeled: set[int],
    credibility: float,
    queued: int,
) -> set[int]:
    """The wrong people labels the loop's verification would correct in a sample: the disputed images
    (:func:`gtpipe_shared.auto_labeling.worth_verifying`, the surest first, at most ``VERIFY_SHARE`` of the
    sample and of the ``queued`` images) that are ``mislabeled``; asked again, people give the right boxes
    (their error twice over, about 0.1%, is left out)."""
    import math

    from gtpipe_shared.auto_labeling import worth_verifying
    from labeling.auto_round import VERIFY_SHARE

    by_image = dict(zip(sample, scored, strict=True))
    disputed = [i for i, (_, agrees) in by_image.items() if not agrees]
    chosen = worth_verifying(by_image, disputed, credibility=credibility)
    cap = max(1, math.ceil(VERIFY_SHARE * min(len(sample), queued)))
    surest = sorted(chosen, key=lambda i: -by_image[i][0])[:cap]
    return {i for i in surest if i in mislabeled}


def measure(
    scenes: int,
    epochs: int,
    work: Path,
    validation_scenes: int = VALIDATION,
    held_out: int = HELD_OUT,
    resamples: int = RESAMPLES,
    overrides: Sequence[tuple[str, str]] = (),
    class_names: Sequence[str] = (),
    human_error: float = 0.0,
    verify: bool = False,
) -> dict[str, object]:
    """Train, predict and read the answers with the loop's rules; the figures. The threshold is the loop's
    for boxes (95% at :data:`labeling.auto.BOX_CREDIBILITY`), chosen on the first ``VALIDATION`` validation
    scenes and, as the loop widens its sample when none is reached
    (:func:`gtpipe_shared.auto_labeling.widening`), on each larger prefix of the ``validation_scenes``; then
    on ``resamples`` random samples of the validation and held-out scenes together
    (:func:`resampled_certification`)."""
    from gtpipe_shared.auto_labeling import choose_threshold
    from gtpipe_shared.model_labels import (
        boxes_agree,
        choose_box_cutoff,
        detection_prediction,
    )
    from labeling.auto import BOX_CREDIBILITY

    (best_map, best_epoch), validation, held, seconds = _train_and_predict(
        scenes, epochs, work, validation_scenes, held_out, overrides, class_names
    )
    chosen = choose_box_cutoff(validation[:VALIDATION], CLASS_COUNT)
    on_validation = [(p.confidence, boxes_agree(p, t)) for p, t in _read(validation, chosen.cutoff)]
    on_held = _read(held, chosen.cutoff)
    held_scored = [(p.confidence, boxes_agree(p, t)) for p, t in on_held]
    errors: Counter[str] = Counter()
    for prediction, truth in on_held:
        if not boxes_agree(prediction, truth):
            errors.update(_error_kinds(prediction, truth))
    thresholds = {}
    for size in range(VALIDATION, validation_scenes + 1, VALIDATION):
        threshold = choose_threshold(on_validation[:size], credibility=BOX_CREDIBILITY)
        machine = [ok for confidence, ok in held_scored if threshold is not None and confidence >= threshold]
        thresholds[size] = (threshold, len(machine), sum(machine))
    at_half = [boxes_agree(detection_prediction(a, s, CLASS_COUNT), t) for a, s, t in held]
    scores = sorted((row[1] for answer, _, _ in held for row in answer["prediction"]), reverse=True)
    true_boxes = sum(len(truth) for _, _, truth in held)
    figures: dict[str, object] = {
        "training": f"{scenes} scenes ({', '.join(class_names) or 'all classes'}), {epochs} epochs, {seconds:.0f} s"
        + "".join(f", {name} {value}" for name, value in overrides),
        "validation mAP@0.5 (best epoch)": f"{best_map:.3f} (epoch {best_epoch})",
        f"held-out: highest box scores (top {true_boxes} = the true box count)": (
            f"max {scores[0]:.2f}, median of the top {true_boxes} {scores[true_boxes // 2]:.2f}"
            if scores
            else "none"
        ),
        "images right at the fixed 0.5 cut-off": f"{sum(at_half)}/{held_out}",
        "score cut-off chosen on the validation sample": chosen.cutoff,
        "validation images right / covered at that cut-off": f"{chosen.agreeing}/{VALIDATION}, {chosen.covered}",
        "images right at that cut-off": f"{sum(ok for _, ok in held_scored)}/{held_out}",
        "wrong images' boxes: in the wrong class / missed / extra": (
            f"{errors['in the wrong class']} / {errors['missed']} / {errors['extra']}"
        ),
        "confidence separates right from wrong images (AUC)": _auc(held_scored),
    }
    for size, (limit, labeled, right) in thresholds.items():
        figures[f"threshold (95% at credibility {BOX_CREDIBILITY}) on {size} validation scenes"] = limit
        figures[f"held-out images machine-labeled (right), {size} validation scenes"] = f"{labeled} ({right})"
    figures.update(_resampled_figures([*validation, *held], resamples))
    for checked in (False, True) if human_error and verify else (False,) if human_error else ():
        with_errors = _resampled_figures([*validation, *held], resamples, human_error, checked)
        suffix = f" (people's labels {human_error:.1%} wrong{', verified' if checked else ''})"
        figures.update({key + suffix: v for key, v in with_errors.items()})
    figures.update(_one_box_figures(validation, held, resamples))
    return figures


def _one_box_figures(validation: Sequence[Any], held: Sequence[Any], resamples: int) -> dict[str, object]:
    """The held-out images right and the resampled figures when the answers are read
    :func:`one_box_per_object` first (a candidate, not built)."""
    from gtpipe_shared.model_labels import boxes_agree, choose_box_cutoff

    merged_validation = [(one_box_per_object(a), s, t) for a, s, t in validation]
    merged_held = [(one_box_per_object(a), s, t) for a, s, t in held]
    cutoff = choose_box_cutoff(merged_validation[:VALIDATION], CLASS_COUNT).cutoff
    right = sum(boxes_agree(p, t) for p, t in _read(merged_held, cutoff))
    figures: dict[str, object] = {
        "one box per object (not built): images right at its chosen cut-off": (
            f"{right}/{len(held)} (cut-off {cutoff})"
        )
    }
    resampled = _resampled_figures([*merged_validation, *merged_held], resamples)
    figures.update({f"one box per object (not built), {key}": value for key, value in resampled.items()})
    return figures


def _resampled_figures(
    samples: Sequence[Any], resamples: int, human_error: float = 0.0, verify: bool = False
) -> dict[str, object]:
    """:func:`resampled_certification` of ``samples`` at the loop's box credibility; none for 0 resamples."""
    from gtpipe_shared.model_labels import box_cutoff_scores
    from labeling.auto import BOX_CREDIBILITY

    if not resamples:
        return {}
    return resampled_certification(
        box_cutoff_scores(samples, CLASS_COUNT),
        BOX_CREDIBILITY,
        resamples,
        human_error=human_error,
        verify=verify,
    )


def _read(samples: Sequence[Any], cutoff: float) -> list[tuple[Any, Sequence[Any]]]:
    """``(prediction at the cut-off, true boxes)`` per sample."""
    from gtpipe_shared.model_labels import detection_prediction

    return [
        (detection_prediction(answer, size, CLASS_COUNT, cutoff), truth) for answer, size, truth in samples
    ]


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    """Measure and return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=100, help="training scenes (the first human batch)")
    parser.add_argument("--epochs", type=int, default=96, help="the labeling model's epochs")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: fastest on a busy machine)")
    parser.add_argument(
        "--validation", type=int, default=VALIDATION, help="validation scenes (40, 80, 120: widening's steps)"
    )
    parser.add_argument("--image-shape", type=int, default=None, help="image_shape (default: the demo's)")
    parser.add_argument(
        "--human-error",
        type=float,
        default=0.0,
        help="also resample with this share of the validation sample's people labels wrong (boxes, 3 answers: 0.027)",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="with --human-error, also with the loop's verification of disputed validation labels",
    )
    parser.add_argument(
        "--classes",
        default="",
        help="the scenes' classes, NAME,... (default: all four shapes; the seed: one)",
    )
    parser.add_argument(
        "--hyperparameters",
        default="",
        help="the detector's hyperparameters over the demo's, NAME=VALUE,... (e.g. base_network=resnet-50)",
    )
    parser.add_argument("--held-out", type=int, default=HELD_OUT, help="held-out scenes (seed 1)")
    parser.add_argument(
        "--resamples",
        type=int,
        default=RESAMPLES,
        help="random validation samples to apply the rules to (0: none)",
    )
    args, _ = parser.parse_known_args(argv)
    import torch

    from bench.builtin_auto_bench import comma_names, name_value_pairs

    overrides = name_value_pairs(args.hyperparameters, "--hyperparameters")
    if args.image_shape is not None:
        overrides = (*overrides, ("image_shape", str(args.image_shape)))

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="gtpipe-bench-boxconf-") as work:
        return measure(
            args.scenes,
            args.epochs,
            Path(work),
            args.validation,
            args.held_out,
            args.resamples,
            overrides,
            comma_names(args.classes),
            args.human_error,
            args.verify,
        )


if __name__ == "__main__":
    print_figures(main())
