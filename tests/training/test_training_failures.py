"""Every bad input ends the job with a clear ClientError in $SM_OUTPUT_DIR/failure and a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.datasets import augmented_manifest_line


def _rewrite_manifest(channel: Path, transform) -> None:
    manifest = next(channel.glob("*.manifest"))
    lines = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    manifest.write_text("".join(json.dumps(line) + "\n" for line in transform(lines)))


def test_missing_image_fails_the_real_process_naming_the_image(make_job, digits, hyperparameters):
    # Given a training manifest whose 3rd image is absent from the channel
    job = make_job(digits[:30], digits[30:40], hyperparameters(30))
    missing = digits[2]
    (job.channels / "train" / "demo-bucket" / "images" / "digits" / missing.path.name).unlink()
    # When the real `python -m training.train` runs
    process = job.run_subprocess()
    # Then it exits non-zero and the failure reason names the record and the missing file
    assert process.returncode == 1
    reason = job.failure()
    assert reason.startswith("ClientError: ")
    assert missing.source_ref in reason
    assert "line 3" in reason
    assert "image not found" in reason
    assert "skip_bad_records" in reason
    assert "ClientError" in process.stdout
    assert not job.model_dir.exists()


def test_corrupt_png_fails_naming_the_image(make_job, digits, hyperparameters):
    # Given a validation image truncated to half its bytes (hard links are shared: replace, not edit)
    job = make_job(digits[:30], digits[30:40], hyperparameters(30))
    corrupt = job.channels / "validation" / "demo-bucket" / "images" / "digits" / digits[35].path.name
    data = corrupt.read_bytes()
    corrupt.unlink()
    corrupt.write_bytes(data[: len(data) // 2])
    # When training runs
    code = job.run()
    # Then the job fails naming the record as undecodable
    assert code == 1
    reason = job.failure()
    assert reason.startswith("ClientError: ")
    assert "channel 'validation'" in reason
    assert digits[35].source_ref in reason
    assert "cannot decode image" in reason


def test_not_an_image_at_all_fails(make_job, digits, hyperparameters):
    job = make_job(digits[:30], digits[30:40], hyperparameters(30))
    target = job.channels / "train" / "demo-bucket" / "images" / "digits" / digits[0].path.name
    target.unlink()
    target.write_text("this is not a PNG")
    assert job.run() == 1
    assert digits[0].source_ref in job.failure()


def test_skip_bad_records_trains_without_them_and_reports_them(make_job, digits, hyperparameters):
    # Given one missing and one corrupt training image, and skip_bad_records=1
    job = make_job(digits[:40], digits[40:50], hyperparameters(40, epochs="1", skip_bad_records="1"))
    folder = job.channels / "train" / "demo-bucket" / "images" / "digits"
    (folder / digits[0].path.name).unlink()
    (folder / digits[1].path.name).unlink()
    (folder / digits[1].path.name).write_bytes(b"\x89PNG\r\n\x1a\n broken")
    # When training runs
    code = job.run()
    # Then it succeeds on the 38 good records and lists the 2 skipped ones
    assert code == 0, job.failure_file.exists() and job.failure()
    metrics = job.metrics()
    assert metrics["num_training_samples"] == 38
    skipped = " ".join(metrics["skipped_records"])
    assert digits[0].source_ref in skipped
    assert digits[1].source_ref in skipped


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"epoch": "5"}, "unknown hyperparameter(s): epoch (did you mean epochs?)"),
        ({"dropout": "0.5"}, "unknown hyperparameter(s): dropout"),
        ({"epochs": "abc"}, "hyperparameter epochs='abc' is not an integer"),
        ({"epochs": "0"}, "hyperparameter epochs='0' must be >= 1"),
        ({"learning_rate": "fast"}, "hyperparameter learning_rate='fast' is not a number"),
        ({"learning_rate": "0"}, "hyperparameter learning_rate='0' must be in (0, 1]"),
        ({"num_layers": "19"}, "hyperparameter num_layers='19' must be one of 18, 34, 50"),
        ({"image_shape": "3,224"}, "must be 'num_channels,height,width'"),
        ({"image_shape": "4,32,32"}, "num_channels must be 1 or 3"),
        (
            {"optimizer": "adagrad"},
            "hyperparameter optimizer='adagrad' must be one of sgd, adam, rmsprop, nag",
        ),
        ({"use_pretrained_model": "yes"}, "hyperparameter use_pretrained_model='yes' must be one of 0, 1"),
        ({"resize": "16"}, "resize=16 must be >= the height and width of image_shape (32x32)"),
        ({"lr_scheduler_step": "10,5"}, "must be increasing positive epoch numbers"),
        ({"top_k": "11"}, "top_k=11 must be <= num_classes=10"),
        ({"num_classes": "1"}, "classification needs at least 2 classes"),
        ({"num_classes": "0"}, "classification needs at least 2 classes"),
        ({"num_classes": None}, "missing required hyperparameter(s): num_classes"),
        ({"num_training_samples": None}, "missing required hyperparameter(s): num_training_samples"),
        ({"epochs": ""}, "hyperparameter epochs is empty"),
    ],
)
def test_invalid_hyperparameters_fail_with_a_clear_reason(
    make_job, digits, hyperparameters, overrides, expected
):
    # Given hyperparameters with one mistake
    hps = {k: v for k, v in {**hyperparameters(20), **overrides}.items() if v is not None}
    job = make_job(digits[:20], digits[20:30], hps)
    # When training runs
    code = job.run()
    # Then it fails before training, naming the hyperparameter
    assert code == 1
    assert job.failure().startswith("ClientError: ")
    assert expected in job.failure()


def test_hyperparameters_file_that_is_not_json_fails(make_job, digits, hyperparameters):
    job = make_job(digits[:20], digits[20:30], hyperparameters(20))
    (job.root / "input" / "config" / "hyperparameters.json").write_text("{epochs: 3")
    assert job.run() == 1
    assert "hyperparameters.json is not valid JSON" in job.failure()


def test_label_out_of_range_fails_even_with_skip_bad_records(make_job, digits, hyperparameters):
    # Given a manifest line labelled 12 while num_classes=10
    job = make_job(digits[:20], digits[20:30], hyperparameters(20, skip_bad_records="1"))

    def relabel(lines):
        lines[4]["category"] = 12
        return lines

    _rewrite_manifest(job.channels / "train", relabel)
    # When training runs
    code = job.run()
    # Then it fails: num_classes disagrees with the data
    assert code == 1
    assert "line 5" in job.failure()
    assert "label 12 is out of range for num_classes=10 (labels must be 0..9)" in job.failure()


def test_training_data_with_a_single_class_fails(make_job, digits, hyperparameters):
    # Given training records that are all "three"
    threes = [r for r in digits if r.label == 3]
    job = make_job(threes[:10], digits[:10], hyperparameters(10))
    # When training runs
    assert job.run() == 1
    # Then the reason says one class cannot train a classifier
    assert "channel 'train' has 1 distinct class(es) ('three')" in job.failure()
    assert "at least 2 classes" in job.failure()


def test_manifest_without_records_fails(make_job, digits, hyperparameters):
    # Given an empty training manifest (no labelled objects, so no classes at all)
    job = make_job(digits[:10], digits[10:20], hyperparameters(10))
    _rewrite_manifest(job.channels / "train", lambda lines: [])
    assert job.run() == 1
    assert "channel 'train' train.manifest: no records" in job.failure()


def test_input_manifest_without_labels_fails(make_job, digits, hyperparameters):
    # Given a manifest of source-refs only (an input manifest, not Ground Truth's output)
    job = make_job(digits[:10], digits[10:20], hyperparameters(10))
    _rewrite_manifest(job.channels / "train", lambda lines: [{"source-ref": x["source-ref"]} for x in lines])
    assert job.run() == 1
    assert "no label attribute found" in job.failure()


def test_line_without_the_label_or_with_bad_json_fails(make_job, digits, hyperparameters):
    job = make_job(digits[:10], digits[10:20], hyperparameters(10))
    manifest = job.channels / "train" / "train.manifest"
    manifest.write_text(manifest.read_text() + "{not json\n")
    assert job.run() == 1
    assert "line 11: not valid JSON" in job.failure()


def test_missing_validation_channel_fails(make_job, digits, hyperparameters):
    job = make_job(digits[:10], None, hyperparameters(10))
    assert job.run() == 1
    assert "channel 'validation' not found" in job.failure()


def test_conflicting_class_names_fail(make_job, digits, hyperparameters):
    job = make_job(digits[:20], digits[20:30], hyperparameters(20))

    def rename(lines):
        lines[15]["category-metadata"]["class-name"] = "drei"
        return lines

    first = next(i for i, r in enumerate(digits[:20]) if r.label == digits[15].label)
    assert first < 15
    _rewrite_manifest(job.channels / "train", rename)
    assert job.run() == 1
    assert "is named 'drei' here but" in job.failure()


def test_unexpected_error_is_an_algorithm_error(make_job, digits, hyperparameters, monkeypatch):
    # Given a bug deep inside training
    from training.classification import trainer

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(trainer, "fit", broken)
    job = make_job(digits[:20], digits[20:30], hyperparameters(20))
    # When training runs, then it exits 2 with an AlgorithmError reason
    assert job.run() == 2
    assert job.failure() == "AlgorithmError: RuntimeError: boom"


def test_label_attribute_is_discovered_not_assumed(make_job, digits, hyperparameters):
    # Given manifests whose label attribute is a console-style job name, not "category"
    job = make_job(digits[:30], digits[30:40], hyperparameters(30, epochs="1"))
    for channel, records in (("train", digits[:30]), ("validation", digits[30:40])):
        relabelled = [
            augmented_manifest_line(
                r, label_attribute="my-labeling-job-2024", creation_date="2024-01-01T00:00:00"
            )
            for r in records
        ]
        _rewrite_manifest(job.channels / channel, lambda lines, new=relabelled: new)
    # When training runs, then it succeeds and records the discovered attribute
    assert job.run() == 0
    assert job.metrics()["label_attribute"] == "my-labeling-job-2024"
