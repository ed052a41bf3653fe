"""Benchmark: label-error finding after training, on digits with 5% of the training labels flipped.

    .venv/bin/python -m bench label-errors   (or python -m bench.label_errors_bench [--flip 0.05] [--train-seeds 3])

Setting: all 1,797 scikit-learn digits as 32x32 PNGs (:func:`training.datasets.write_digits_dataset`), the
training bench's class-balanced 80/20 split; then ``--flip`` of the *training* labels are changed on purpose
to another class drawn at random (``--seed``); validation labels stay true. Every model is trained as the
local cloud trains it (``python -m training.train`` in a subprocess, the demo's hyperparameters).

1. *before*: train on the noisy training labels; validation accuracy.
2. out-of-fold predictions: ``--folds`` stratified folds of the training set
   (:func:`gtpipe_shared.label_errors.assign_folds`); per fold, a model trained on the other folds predicts
   the fold's class probabilities.
3. flag: :func:`gtpipe_shared.label_errors.find_label_errors` (confident learning, at most ``--max-share``).
4. review: a simulated reviewer who knows the truth looks at every flagged object and sets its true label
   (keeps a right given label, fixes a flipped one).
5. *after*: retrain on the corrected labels; validation accuracy.
6. reference: train on the true labels (nothing flipped); validation accuracy, the ceiling of a fix.

Steps 1, 5 and 6 train ``--train-seeds`` times (training seeds 0..N-1) and report each accuracy and the
mean: one validation image is 0.28 points, about what another training seed changes.

Figures: the share of flipped labels flagged (recall), the share of flagged objects that were flipped
(precision), the reviewer's confirmed and kept counts, and validation accuracy before and after. ``main()``
prints and returns them.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from gtpipe_shared.label_errors import DEFAULT_MAX_SHARE, assign_folds, find_label_errors, review_summary

from bench import print_figures, stage_training_job
from bench.training_bench import _split, run_staged_training
from training import DEMO_HYPERPARAMETERS
from training.datasets import CLASS_NAMES, DigitRecord, write_digits_dataset


def flip_labels(
    records: Sequence[DigitRecord], share: float, seed: int
) -> tuple[list[DigitRecord], set[int]]:
    """A copy of ``records`` with ``round(share * n)`` labels (chosen with ``seed``) changed to another class
    drawn at random; returns it and the flipped positions."""
    rng = random.Random(f"flip:{seed}")
    flipped = set(rng.sample(range(len(records)), round(share * len(records))))
    noisy = []
    for index, record in enumerate(records):
        if index in flipped:
            label = (record.label + rng.randrange(1, len(CLASS_NAMES))) % len(CLASS_NAMES)
            record = replace(record, label=label, class_name=CLASS_NAMES[label])
        noisy.append(record)
    return noisy, flipped


def train(
    workdir: Path, train_records: Sequence[DigitRecord], validation: Sequence[DigitRecord], seed: int = 0
) -> tuple[float, Path, float]:
    """One training job (``python -m training.train``, SageMaker's layout under ``workdir``, the training
    ``seed``); returns its final validation accuracy, model folder and wall seconds."""
    hyperparameters = {
        **DEMO_HYPERPARAMETERS,
        "seed": str(seed),
        "num_classes": str(len(CLASS_NAMES)),
        "num_training_samples": str(len(train_records)),
    }
    metrics, wall = run_staged_training(
        workdir, stage_training_job(workdir, train_records, validation, hyperparameters)
    )
    return float(metrics["final"]["validation:accuracy"]), workdir / "model", wall


def out_of_fold_probabilities(
    workdir: Path, records: Sequence[DigitRecord], validation: Sequence[DigitRecord], folds: int, seed: int
) -> tuple[list[list[float]], float]:
    """Each training object's class probabilities from a model that did not train on it; and the fold
    jobs' total wall seconds."""
    from training.inference import model_fn, predict_images

    assignment = assign_folds([r.label for r in records], folds, seed)
    probabilities: list[list[float]] = [[] for _ in records]
    seconds = 0.0
    for fold in range(folds):
        held = [i for i, f in enumerate(assignment) if f == fold]
        rest = [r for r, f in zip(records, assignment, strict=True) if f != fold]
        _, model_dir, wall = train(workdir / f"fold-{fold}", rest, validation)
        seconds += wall
        predicted = predict_images(model_fn(model_dir), [records[i].path for i in held], batch_size=128)
        for i, row in zip(held, predicted.tolist(), strict=True):
            probabilities[i] = row
    return probabilities, seconds


def accuracies(
    workdir: Path, records: Sequence[DigitRecord], validation: Sequence[DigitRecord], seeds: int
) -> tuple[list[float], float]:
    """Validation accuracy of ``seeds`` trainings (training seeds 0..seeds-1) and their total seconds."""
    results = [train(workdir / f"seed-{seed}", records, validation, seed) for seed in range(seeds)]
    return [accuracy for accuracy, _, _ in results], sum(wall for _, _, wall in results)


def _mean(values: Sequence[float]) -> float:
    return round(sum(values) / len(values), 4)


def experiment(
    workdir: Path, share: float, folds: int, max_share: float, seed: int, train_seeds: int = 1
) -> dict[str, Any]:
    """Run the five steps of the module docstring; return the figures."""
    truth_records, validation = _split(write_digits_dataset(workdir / "source", holdout_fraction=0.0, seed=0))
    noisy, flipped = flip_labels(truth_records, share, seed)
    before, before_wall = accuracies(workdir / "before", noisy, validation, train_seeds)
    probabilities, folds_wall = out_of_fold_probabilities(workdir, noisy, validation, folds, seed)
    issues = find_label_errors(probabilities, [r.label for r in noisy], max_share)
    reviewed = {
        issue.index: truth_records[issue.index].label for issue in issues
    }  # the reviewer knows the truth
    corrected = [truth_records[i] if i in reviewed else record for i, record in enumerate(noisy)]
    after, after_wall = accuracies(workdir / "after", corrected, validation, train_seeds)
    clean, _ = accuracies(workdir / "clean", truth_records, validation, train_seeds)  # the ceiling
    summary = review_summary(issues, reviewed, len(noisy))
    caught = sum(1 for issue in issues if issue.index in flipped)
    right_suggestions = sum(
        1 for i in issues if i.index in flipped and i.suggested == truth_records[i.index].label
    )
    return {
        "training objects (digits, 10 classes)": len(noisy),
        "validation objects (true labels)": len(validation),
        "flipped training labels": f"{len(flipped)} ({share:.0%}, seed {seed})",
        "folds / max share flagged": f"{folds} / {max_share:.0%}",
        "flagged": summary["flagged"],
        "flagged that were flipped": caught,
        "recall: share of flipped labels flagged": round(caught / len(flipped), 4) if flipped else 0.0,
        "precision: share of flagged that were flipped": round(caught / len(issues), 4) if issues else 0.0,
        "flipped and flagged with the true class suggested": right_suggestions,
        "reviewer: confirmed (fixed) / kept": f"{summary['confirmed']} / {summary['kept']}",
        "flipped labels left after the fix": len(flipped) - caught,
        "training seeds (accuracies: mean [each])": train_seeds,
        "validation accuracy before (noisy labels)": f"{_mean(before)} {[round(a, 4) for a in before]}",
        "validation accuracy after (corrected labels)": f"{_mean(after)} {[round(a, 4) for a in after]}",
        "change of the mean (points)": round(100 * (_mean(after) - _mean(before)), 2),
        "validation accuracy with the true training labels (reference)": f"{_mean(clean)} "
        f"{[round(a, 4) for a in clean]}",
        "training seconds: before / folds / after": f"{before_wall:.1f} / {folds_wall:.1f} / {after_wall:.1f}",
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse the flags, run the experiment in a temporary folder, print and return the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--flip", type=float, default=0.05, help="share of training labels flipped")
    parser.add_argument("--folds", type=int, default=3, help="folds for the out-of-fold predictions")
    parser.add_argument("--max-share", type=float, default=DEFAULT_MAX_SHARE, help="most objects flagged")
    parser.add_argument("--seed", type=int, default=7, help="which labels are flipped, and the folds")
    parser.add_argument("--train-seeds", type=int, default=1, help="trainings per accuracy (seeds 0..N-1)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    args, _ = parser.parse_known_args([] if argv is None else argv)
    workdir = Path(tempfile.mkdtemp(prefix="label-errors-bench-"))
    try:
        figures = experiment(workdir, args.flip, args.folds, args.max_share, args.seed, args.train_seeds)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print_figures(figures)
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
