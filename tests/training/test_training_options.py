"""Less common built-in options: augmentation, optimizers, resize, top-k, checkpoints, early stopping,
weighted loss, multi-label and incremental training from a model channel."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from training.artifact import package_model
from training.inference import input_fn, model_fn, predict_fn


def test_rgb_resize_augmentation_adam_top_k_checkpoints(make_job, digits, hyperparameters, capsys):
    # Given RGB input with resize, the richest augmentation, Adam, top-k, checkpoints and weighted loss
    hps = hyperparameters(
        40,
        image_shape="3,24,24",
        resize="28",
        augmentation_type="crop_color_transform",
        optimizer="adam",
        learning_rate="0.01",
        top_k="3",
        checkpoint_frequency="1",
        use_weighted_loss="1",
        epochs="2",
        num_layers="34",
        use_pretrained_model="1",
        precision_dtype="float16",
    )
    job = make_job(digits[:40], digits[40:50], hps)
    # When training runs
    assert job.run() == 0
    # Then top-k metrics are logged and recorded, a checkpoint exists per epoch, the pretrained and float16
    # requests are explained, and the model serves RGB input at 24x24
    log = capsys.readouterr().out
    assert "Epoch[1] Validation-top_k_accuracy_3=" in log
    assert "use_pretrained_model=1: no pretrained weights are available offline" in log
    assert "precision_dtype=float16 needs a GPU" in log
    assert "validation:top_k_accuracy" in job.metrics()["final"]
    assert sorted(p.name for p in (job.model_dir / "checkpoints").iterdir()) == [
        "epoch-0001.pt",
        "epoch-0002.pt",
    ]
    model = model_fn(job.model_dir)
    assert (model.spec.channels, model.spec.height, model.spec.width, model.spec.resize) == (3, 24, 24, 28)
    assert predict_fn(input_fn(digits[0].path.read_bytes(), "image/png"), model).shape == (1, 10)


def test_early_stopping_stops_when_accuracy_stalls(make_job, digits, hyperparameters):
    # Given a learning rate too small to improve, and early stopping after 2 stalled epochs
    hps = hyperparameters(
        30,
        epochs="8",
        learning_rate="0.000001",
        optimizer="rmsprop",
        early_stopping="True",
        early_stopping_min_epochs="1",
        early_stopping_patience="2",
        early_stopping_tolerance="1.0",
        augmentation_type="crop",
    )
    job = make_job(digits[:30], digits[30:40], hps)
    # When training runs, then it stops after the first epoch plus 2 without improvement
    assert job.run() == 0
    metrics = job.metrics()
    assert metrics["stopped_early"] is True
    assert metrics["epochs_run"] == 3


def test_multi_label_training_serves_independent_probabilities(make_job, digits, hyperparameters):
    # Given multi-label manifests: each digit also tagged "even" (10) or "odd" (11)
    hps = hyperparameters(40, num_classes="12", multi_label="1", epochs="2")
    job = make_job(digits[:40], digits[40:50], hps)
    for channel, records in (("train", digits[:40]), ("validation", digits[40:50])):
        lines = []
        for r in records:
            tags = [r.label, 10 + r.label % 2]
            class_map = {str(r.label): r.class_name, str(tags[1]): "even" if r.label % 2 == 0 else "odd"}
            lines.append(
                {
                    "source-ref": r.source_ref,
                    "tags": tags,
                    "tags-metadata": {
                        "class-map": class_map,
                        "type": "groundtruth/image-classification-multilabel",
                    },
                }
            )
        manifest = next((job.channels / channel).glob("*.manifest"))
        manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    # When training runs
    assert job.run() == 0
    # Then class names come from the class-map and probabilities are per class (sigmoid), not a softmax
    model = model_fn(job.model_dir)
    assert model.classes[10:] == ["even", "odd"]
    probabilities = predict_fn(input_fn(digits[0].path.read_bytes(), "image/png"), model)[0]
    assert probabilities.shape == (12,)
    assert not np.isclose(probabilities.sum(), 1.0)


def test_model_channel_enables_incremental_training(make_job, digits, hyperparameters, tmp_path, capsys):
    # Given a first model, packaged as model.tar.gz into a second job's "model" channel
    first = make_job(digits[:30], digits[30:40], hyperparameters(30, epochs="1"), name="first")
    assert first.run() == 0
    second = make_job(digits[:30], digits[30:40], hyperparameters(30, epochs="1"), name="second")
    package_model(first.model_dir, second.channels / "model" / "model.tar.gz")
    # When the second job runs (SM_INPUT_DIR/data/model is the default location)
    capsys.readouterr()
    assert second.run() == 0
    # Then it starts from the first model's weights
    assert (
        "Initialising from the model channel (incremental training); re-initialised: none"
        in capsys.readouterr().out
    )


def test_jpeg_and_rgb_images_of_any_size_train_with_resize(make_job, digits, hyperparameters):
    # Given a training channel where some images are RGB JPEGs of odd sizes, referenced by relative path,
    # and resize set (the built-in refuses images smaller than image_shape without it:
    # tests/fidelity/test_builtin_image_rules.py)
    job = make_job(digits[:30], digits[30:40], hyperparameters(30, epochs="1", resize="32"))
    channel = job.channels / "train"
    manifest = channel / "train.manifest"
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    for index, size in ((0, (50, 40)), (1, (17, 90)), (2, (300, 300))):
        with Image.open(digits[index].path) as image:
            image.convert("RGB").resize(size).save(channel / f"photo-{index}.jpg", format="JPEG")
        lines[index]["source-ref"] = f"photo-{index}.jpg"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    # When training runs, then every image is used
    assert job.run() == 0
    assert job.metrics()["num_training_samples"] == 30
