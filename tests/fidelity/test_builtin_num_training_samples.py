"""``num_training_samples`` on the built-in image-classification algorithm: required, a positive integer; "if
there is a mismatch between this value and the number of samples in the training set, then the behavior of
the lr_scheduler_step parameter is undefined" (https://docs.aws.amazon.com/sagemaker/latest/dg/
IC-Hyperparameter.html). AWS refuses a missing value (the local training too:
tests/training/test_training_failures.py) but documents no refusal of a mismatch, so the local training
refuses none either: it trains on the records it got and warns. The pipeline gives each label-error fold job
its own count (lambdas/label_errors prepare), so the warning is not expected from a run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.job_support import stage_job
from training.datasets import write_channel, write_digits_dataset


def test_a_mismatched_count_is_not_refused_the_job_trains_on_its_records_and_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a training channel of 20 digits and a job declaring num_training_samples=30
    digits = write_digits_dataset(tmp_path / "digits", limit=30, holdout_fraction=0.0, seed=3)
    data = tmp_path / "job" / "input" / "data"
    write_channel(digits[:20], data / "train", "train.manifest")
    write_channel(digits[20:], data / "validation", "validation.manifest")
    job = stage_job(
        tmp_path / "job",
        {
            "num_classes": "10",
            "num_training_samples": "30",
            "image_shape": "1,32,32",
            "resize": "32",
            "num_layers": "18",
            "epochs": "1",
            "mini_batch_size": "10",
            "seed": "0",
        },
    )
    # When the local image-classification training runs (its log goes to stdout, as a job's does)
    code = job.run()
    # Then the job succeeds, as AWS documents no refusal, and warns that it used the 20 records
    assert code == 0, job.failure_file.exists() and job.failure()
    log = capsys.readouterr().out
    assert "WARNING] num_training_samples=30 but the train channel has 20 usable records" in log
