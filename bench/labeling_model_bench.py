"""Benchmark: the labeling model's hyperparameters on a first human batch of digits (seconds per job, no cloud).

    .venv/bin/python -m bench labeling-model          (or python -m bench.labeling_model_bench [--draws 10])

Automated labeling trains its labeling model on the first batch people label (the builtin-auto bench: 100
digits, ``--train 100``; 200 before session 13), with the run's hyperparameters, which are made for a run's whole training set (the demo's: 1,400
digits, 10 epochs, weight decay 1e-4). This trains the local image-classification algorithm as the local cloud
runs it (``python -m training.train`` in a subprocess) on ``--train`` random digits, validated on the same
digits as the loop's training jobs are (the validation sample stays unseen: ``labeling.auto``), and predicts
400 others, for each setting and ``--draws`` seeded random draws of the 1,797 digits (the same draws for every
setting). Reported per
setting: the accuracy on the 400 (mean and each draw's), and the share of them a perfect threshold could
machine-label at 95% and 98% accuracy (the surest first: how well the confidence ranks right above wrong).
"""

from __future__ import annotations

import argparse
import random
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench import print_figures, stage_training_job
from training.datasets import DigitRecord

# name -> hyperparameters over the demo's (the learning-rate steps move with the epochs, as the loop's do).
SETTINGS: dict[str, dict[str, str]] = {
    "20 epochs (the builtin-auto bench's)": {"epochs": "20", "lr_scheduler_step": "12,18"},
    "40 epochs": {"epochs": "40", "lr_scheduler_step": "24,36"},
    "40 epochs, weight decay 5e-4": {
        "epochs": "40",
        "lr_scheduler_step": "24,36",
        "weight_decay": "0.0005",
    },
    # More, smaller steps for a small first batch (100 digits: 13 steps an epoch instead of 4).
    "20 epochs, mini_batch_size 8, learning_rate 0.02": {
        "epochs": "20",
        "lr_scheduler_step": "12,18",
        "mini_batch_size": "8",
        "learning_rate": "0.02",
    },
}
PREDICTED = 400


def coverage(confidences: Sequence[float], right: Sequence[bool], accuracy: float) -> float:
    """The largest share of objects, the most confident first, whose labels are at least ``accuracy``
    right (what a threshold chosen with the truth could machine-label)."""
    order = sorted(range(len(right)), key=lambda i: -confidences[i])
    best, correct = 0, 0
    for count, index in enumerate(order, 1):
        correct += bool(right[index])
        if correct >= accuracy * count:
            best = count
    return best / len(right) if right else 0.0


def _measure(
    work: Path, records: Sequence[DigitRecord], extra: dict[str, str], train: int, draw: int
) -> tuple[float, float, float]:
    """One draw: (accuracy on the predicted digits, coverage at 95%, coverage at 98%)."""
    from bench.training_bench import run_staged_training
    from training import DEMO_HYPERPARAMETERS
    from training.inference import model_fn, predict_images

    picked = random.Random(f"labeling-model:{draw}").sample(list(records), train + PREDICTED)
    training, rest = picked[:train], picked[train:]
    hyperparameters = {
        **DEMO_HYPERPARAMETERS,
        "num_classes": "10",
        "num_training_samples": str(train),
        **extra,
    }
    run_staged_training(work, stage_training_job(work, training, training, hyperparameters))
    probabilities = predict_images(model_fn(work / "model"), [r.path.read_bytes() for r in rest])
    confidences = [float(p.max()) for p in probabilities]
    right = [int(p.argmax()) == r.label for p, r in zip(probabilities, rest, strict=True)]
    return sum(right) / len(right), coverage(confidences, right, 0.95), coverage(confidences, right, 0.98)


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    """Measure and return the figures."""
    from training.datasets import write_digits_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=16, help="random draws of the digits per setting")
    parser.add_argument("--train", type=int, default=200, help="labeled digits the model trains on")
    args, _ = parser.parse_known_args(argv)
    figures: dict[str, object] = {
        "data": f"{args.train} random digits to train (and validate), {PREDICTED} predicted; {args.draws} draws",
    }
    with tempfile.TemporaryDirectory(prefix="gtpipe-bench-labeling-model-") as tmp:
        work = Path(tmp)
        records = write_digits_dataset(work / "source", holdout_fraction=0.0, seed=0)
        for index, (name, extra) in enumerate(SETTINGS.items()):
            rows = [
                _measure(work / f"{index}-{draw}", records, extra, args.train, draw)
                for draw in range(args.draws)
            ]
            accuracies = [round(row[0], 3) for row in rows]
            figures[name] = (
                f"accuracy {sum(accuracies) / len(rows):.3f} (draws {', '.join(f'{a:.3f}' for a in accuracies)}); "
                f"machine-labelable at 95%: {sum(r[1] for r in rows) / len(rows):.3f}, "
                f"at 98%: {sum(r[2] for r in rows) / len(rows):.3f}"
            )
    return figures


if __name__ == "__main__":
    print_figures(main())
