"""Hyperparameter names, defaults and parsing follow the built-in image-classification algorithm."""

from __future__ import annotations

import pytest

from training import DEMO_HYPERPARAMETERS
from training.classification.hyperparameters import KNOWN_HYPERPARAMETERS, parse_hyperparameters
from training.errors import HyperparameterError

REQUIRED = {"num_classes": "10", "num_training_samples": "100"}


def test_defaults_are_the_built_in_defaults():
    # Given only the two required hyperparameters
    hps = parse_hyperparameters(REQUIRED)
    # Then every other value is the built-in's documented default
    assert (hps.num_classes, hps.num_training_samples) == (10, 100)
    assert hps.epochs == 30
    assert hps.learning_rate == 0.1
    assert hps.mini_batch_size == 32
    assert hps.image_shape == (3, 224, 224)
    assert hps.num_layers == 152
    assert hps.optimizer == "sgd"
    assert hps.momentum == 0.9
    assert hps.weight_decay == 0.0001
    assert (hps.beta_1, hps.beta_2, hps.eps, hps.gamma) == (0.9, 0.999, 1e-8, 0.9)
    assert hps.lr_scheduler_factor == 0.1
    assert hps.lr_scheduler_step == ()
    assert hps.use_pretrained_model is False
    assert hps.resize is None
    assert hps.augmentation_type is None
    assert hps.early_stopping is False
    assert (hps.early_stopping_patience, hps.early_stopping_min_epochs) == (5, 10)
    assert hps.early_stopping_tolerance == 0.0
    assert hps.top_k is None
    assert hps.precision_dtype == "float32"
    assert hps.multi_label is False
    assert hps.use_weighted_loss is False
    assert hps.checkpoint_frequency is None
    assert (hps.seed, hps.skip_bad_records) == (0, False)


def test_string_values_as_sagemaker_writes_them_are_typed():
    hps = parse_hyperparameters(
        {
            **REQUIRED,
            "epochs": "12",
            "learning_rate": "0.01",
            "image_shape": "1, 28, 28",
            "lr_scheduler_step": "10, 20",
            "early_stopping": "True",
            "use_pretrained_model": "1",
            "multi_label": "0",
            "augmentation_type": "crop_color",
            "top_k": "5",
            "resize": "256",
        }
    )
    assert hps.epochs == 12
    assert hps.learning_rate == 0.01
    assert hps.image_shape == (1, 28, 28)
    assert hps.lr_scheduler_step == (10, 20)
    assert hps.early_stopping is True
    assert hps.use_pretrained_model is True
    assert hps.multi_label is False
    assert hps.augmentation_type == "crop_color"
    assert (hps.top_k, hps.resize) == (5, 256)


def test_json_decoded_values_from_sm_hps_are_accepted():
    # SM_HPS holds what json.loads made of each string: ints, floats, booleans
    hps = parse_hyperparameters(
        {
            "num_classes": 3,
            "num_training_samples": 9,
            "epochs": 2,
            "learning_rate": 0.5,
            "early_stopping": True,
        }
    )
    assert (hps.num_classes, hps.epochs, hps.learning_rate, hps.early_stopping) == (3, 2, 0.5, True)


def test_integral_float_text_is_an_integer_but_a_fraction_is_not():
    assert parse_hyperparameters({**REQUIRED, "epochs": "10.0"}).epochs == 10
    with pytest.raises(HyperparameterError, match=r"epochs='10.5' is not an integer"):
        parse_hyperparameters({**REQUIRED, "epochs": "10.5"})


def test_sagemaker_reserved_names_are_ignored_not_rejected():
    hps = parse_hyperparameters(
        {**REQUIRED, "sagemaker_program": "train.py", "_tuning_objective_metric": "validation:accuracy"}
    )
    assert hps.ignored == ("_tuning_objective_metric", "sagemaker_program")


def test_unknown_names_list_the_accepted_ones():
    with pytest.raises(HyperparameterError) as error:
        parse_hyperparameters({**REQUIRED, "batch_size": "8"})
    message = str(error.value)
    assert "unknown hyperparameter(s): batch_size" in message
    assert "mini_batch_size" in message


def test_non_scalar_value_is_rejected():
    with pytest.raises(HyperparameterError, match="must be a string, got list"):
        parse_hyperparameters({**REQUIRED, "epochs": [1, 2]})


def test_checkpoint_frequency_cannot_exceed_epochs():
    with pytest.raises(HyperparameterError, match="checkpoint_frequency=5 must be <= epochs=3"):
        parse_hyperparameters({**REQUIRED, "epochs": "3", "checkpoint_frequency": "5"})


def test_every_built_in_name_is_known():
    built_in = {
        "num_classes", "num_training_samples", "augmentation_type", "beta_1", "beta_2",
        "checkpoint_frequency", "early_stopping", "early_stopping_min_epochs", "early_stopping_patience",
        "early_stopping_tolerance", "epochs", "eps", "gamma", "image_shape", "kv_store", "learning_rate",
        "lr_scheduler_factor", "lr_scheduler_step", "mini_batch_size", "momentum", "multi_label",
        "num_layers", "optimizer", "precision_dtype", "resize", "top_k", "use_pretrained_model",
        "use_weighted_loss", "weight_decay",
    }  # fmt: skip
    assert set(KNOWN_HYPERPARAMETERS) == built_in | {"seed", "skip_bad_records"}


def test_demo_hyperparameters_are_valid():
    hps = parse_hyperparameters({**DEMO_HYPERPARAMETERS, **REQUIRED})
    assert hps.image_shape == (1, 32, 32)
    assert all(isinstance(v, str) for v in DEMO_HYPERPARAMETERS.values())
