"""Object-detection hyperparameters: the built-in's names and defaults, clear errors for bad ones."""

from __future__ import annotations

import pytest

from training.contracts import DETECTION_DEMO_HYPERPARAMETERS
from training.detection.hyperparameters import KNOWN_HYPERPARAMETERS, parse_detection_hyperparameters
from training.errors import HyperparameterError

REQUIRED = {"num_classes": "4", "num_training_samples": "100"}


def test_defaults_are_the_builtins():
    hps = parse_detection_hyperparameters(REQUIRED)
    assert (hps.num_classes, hps.num_training_samples) == (4, 100)
    assert hps.base_network == "vgg-16"
    assert hps.use_pretrained_model is True
    assert (hps.mini_batch_size, hps.epochs, hps.learning_rate) == (32, 30, 0.001)
    assert (hps.optimizer, hps.momentum, hps.weight_decay) == ("sgd", 0.9, 0.0005)
    assert (hps.overlap_threshold, hps.nms_threshold) == (0.5, 0.45)
    assert (hps.image_shape, hps.label_width, hps.max_boxes) == (300, 350, 69)
    assert hps.lr_scheduler_step == () and hps.lr_scheduler_factor == 0.1
    assert (hps.early_stopping, hps.early_stopping_min_epochs, hps.early_stopping_patience) == (False, 10, 5)
    assert hps.early_stopping_tolerance == 0.0 and hps.freeze_layer_pattern is None


def test_string_and_decoded_values_parse_alike():
    strings = parse_detection_hyperparameters(
        {
            **REQUIRED,
            "image_shape": "128",
            "optimizer": "adadelta",
            "lr_scheduler_step": "10,20",
            "early_stopping": "True",
            "use_pretrained_model": "0",
            "freeze_layer_pattern": "^stem",
            "kv_store": "dist_sync",
            "sagemaker_program": "x",
        }
    )
    decoded = parse_detection_hyperparameters(
        {"num_classes": 4, "num_training_samples": 100, "image_shape": 128}
    )
    assert strings.image_shape == decoded.image_shape == 128
    assert strings.lr_scheduler_step == (10, 20)
    assert strings.early_stopping is True and strings.use_pretrained_model is False
    assert strings.ignored == ("sagemaker_program",)


def test_demo_hyperparameters_are_valid_strings():
    assert all(isinstance(v, str) for v in DETECTION_DEMO_HYPERPARAMETERS.values())
    hps = parse_detection_hyperparameters({**REQUIRED, **DETECTION_DEMO_HYPERPARAMETERS})
    assert hps.image_shape <= 160


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"num_layers": "18"}, "unknown hyperparameter(s): num_layers"),
        ({"nms_treshold": "0.4"}, "nms_treshold (did you mean nms_threshold?)"),
        ({"base_network": "resnet-18"}, "base_network='resnet-18' must be one of vgg-16, resnet-50"),
        ({"optimizer": "nag"}, "optimizer='nag' must be one of sgd, adam, rmsprop, adadelta"),
        ({"image_shape": "3,300,300"}, "image_shape='3,300,300' must be one integer"),
        ({"image_shape": "16"}, "image_shape='16' must be >= 32"),
        ({"label_width": "6"}, "label_width='6' must be >= 7"),
        ({"nms_threshold": "0"}, "nms_threshold='0' must be in (0, 1]"),
        ({"overlap_threshold": "1.5"}, "overlap_threshold='1.5' must be in (0, 1]"),
        ({"learning_rate": "fast"}, "learning_rate='fast' is not a number"),
        ({"epochs": "0"}, "epochs='0' must be >= 1"),
        ({"lr_scheduler_step": "20,10"}, "lr_scheduler_step='20,10' must be increasing"),
        (
            {"freeze_layer_pattern": "conv[("},
            "freeze_layer_pattern='conv[(' is not a valid regular expression",
        ),
        ({"num_classes": "0"}, "num_classes='0' must be >= 1"),
    ],
)
def test_bad_values_are_named(overrides, message):
    with pytest.raises(HyperparameterError) as raised:
        parse_detection_hyperparameters({**REQUIRED, **overrides})
    assert message in str(raised.value)


def test_unknown_names_list_what_the_algorithm_accepts_and_required_are_required():
    with pytest.raises(HyperparameterError) as raised:
        parse_detection_hyperparameters({**REQUIRED, "top_k": "3"})
    assert "The object-detection algorithm accepts: " in str(raised.value)
    assert set(KNOWN_HYPERPARAMETERS) >= {"overlap_threshold", "nms_threshold", "label_width", "base_network"}
    with pytest.raises(HyperparameterError, match="missing required hyperparameter"):
        parse_detection_hyperparameters({"num_classes": "4"})
