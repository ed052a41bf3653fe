"""Finding 8: the built-in image-classification algorithm uses the training images "without resizing" unless
the ``resize`` hyperparameter is set (https://docs.aws.amazon.com/sagemaker/latest/dg/IC-Hyperparameter.html),
and its MXNet image iterator stops at the first image smaller than ``image_shape`` ("Check failed: ... input
image size smaller than input shape", apache/mxnet#4272). Real user images come in every size, so the
pipeline sets ``resize``; the local training fails the job as the built-in does when it is missing. The
defaults also train a ResNet-18 from the pretrained weights instead of a ResNet-152 from scratch, on the
smallest GPU training instance (the algorithm trains on GPU only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gtpipe_shared.aws_limits import (
    IMAGE_SMALLER_THAN_SHAPE,
    PRETRAINED_NUM_LAYERS,
    image_classification_defaults,
)
from PIL import Image

from infra.config import ConfigError, StackConfig
from tests.infra.conftest import project_context
from tests.training.job_support import Job, stage_job
from training.classification import data as training_manifest
from training.datasets import DigitRecord, write_channel, write_digits_dataset


def build(**overrides: Any) -> StackConfig:
    return StackConfig.from_context(project_context(**overrides).get)


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> list[DigitRecord]:
    """40 demo digits: 32x32 grayscale PNGs."""
    return write_digits_dataset(tmp_path_factory.mktemp("digits"), limit=40, holdout_fraction=0.0, seed=3)


def small_image_job(root: Path, digits: list[DigitRecord], **hyperparameters: str) -> Job:
    """A digits job (image_shape 1,32,32) whose third training image is replaced by a 20x24 one."""
    data = root / "input" / "data"
    write_channel(digits[:30], data / "train", "train.manifest")
    write_channel(digits[30:], data / "validation", "validation.manifest")
    small = data / "train" / "demo-bucket" / "images" / "digits" / digits[2].path.name
    small.unlink()  # a hard link to the shared dataset: replace it, do not write through it
    Image.new("L", (24, 20), color=128).save(small)
    return stage_job(
        root,
        {
            "num_classes": "10",
            "num_training_samples": "30",
            "image_shape": "1,32,32",
            "num_layers": "18",
            "epochs": "1",
            "mini_batch_size": "10",
            "seed": "0",
            **hyperparameters,
        },
    )


def test_an_image_smaller_than_image_shape_without_resize_fails_the_job(
    tmp_path: Path, digits: list[DigitRecord]
) -> None:
    # Given a training channel with one 20x24 image, image_shape 1,32,32 and no resize
    job = small_image_job(tmp_path, digits)
    # When the local image-classification training runs
    code = job.run()
    # Then the job fails as the built-in does: a ClientError naming the record and MXNet's words
    assert code != 0
    reason = job.failure()
    assert reason.startswith("ClientError: ")
    assert IMAGE_SMALLER_THAN_SHAPE in reason
    assert digits[2].source_ref in reason
    assert "20x24" in reason and "resize" in reason


def test_skip_bad_records_does_not_skip_a_small_image(tmp_path: Path, digits: list[DigitRecord]) -> None:
    # The built-in's iterator aborts; it is not a bad record that skip_bad_records would drop.
    job = small_image_job(tmp_path, digits, skip_bad_records="1")
    assert job.run() != 0
    assert IMAGE_SMALLER_THAN_SHAPE in job.failure()


def test_with_resize_the_same_images_train(tmp_path: Path, digits: list[DigitRecord]) -> None:
    # Given the same channel and resize=32 (what the pipeline now sets by default)
    job = small_image_job(tmp_path, digits, resize="32")
    # When training runs / Then it succeeds: every image is scaled to at least image_shape first
    assert job.run() == 0, job.failure_file.exists() and job.failure()


def test_the_local_and_shared_rule_use_the_builtins_words() -> None:
    assert training_manifest.IMAGE_SMALLER_THAN_SHAPE == IMAGE_SMALLER_THAN_SHAPE


def test_the_pipeline_sets_resize_a_small_pretrained_network_and_a_gpu_instance() -> None:
    # Given the default configuration (cdk.json sets no hyperparameters)
    config = build(hyperparameters={})
    # Then training sends resize, starts from the pretrained weights and uses a shallow ResNet
    hps = dict(config.hyperparameters)
    assert hps["resize"] == "224"
    assert hps["use_pretrained_model"] == "1"
    assert hps["num_layers"] == "18" and int(hps["num_layers"]) in PRETRAINED_NUM_LAYERS
    # on the smallest GPU instance the built-in trains on
    assert config.training.instance_type == "ml.g4dn.xlarge"


def test_user_settings_win_and_resize_follows_image_shape() -> None:
    hps = image_classification_defaults({"image_shape": "1,32,32", "num_layers": "20"})
    assert hps["resize"] == "32"
    # 1x32x32 cannot start from the 3x224x224 pretrained weights: the built-in default (0) stays
    assert "use_pretrained_model" not in hps
    assert image_classification_defaults({"resize": "300", "use_pretrained_model": "0"}) == {
        "resize": "300",
        "use_pretrained_model": "0",
        "num_layers": "18",
    }


@pytest.mark.parametrize(
    ("hyperparameters", "message"),
    [
        ({"use_pretrained_model": "1", "image_shape": "3,64,64"}, "use_pretrained_model=1 needs image_shape"),
        ({"use_pretrained_model": "1", "num_layers": "20"}, "use_pretrained_model=1 needs num_layers"),
        ({"image_shape": "3,224,224", "resize": "100"}, "resize=100 must be at least"),
        ({"image_shape": "224"}, "image_shape must be 'channels,height,width'"),
    ],
)
def test_synth_refuses_what_the_builtin_refuses(hyperparameters: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=rf"gtpipe:hyperparameters: {message}.*IC-Hyperparameter\.html"):
        build(hyperparameters=hyperparameters)
