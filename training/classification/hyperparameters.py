"""The built-in image-classification algorithm's hyperparameters: names, defaults, typed parsing.

SageMaker passes every value as a string (``hyperparameters.json``); the training toolkit's ``SM_HPS``
holds the JSON-decoded values. Both forms are accepted. Names and defaults follow the AWS documentation
of the built-in algorithm; two project names are added: ``seed`` (reproducible runs) and
``skip_bad_records`` (drop unreadable records instead of failing the job). The shared parsers live in
:mod:`training.hyperparameters`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from training.errors import HyperparameterError
from training.hyperparameters import (
    REQUIRED_HYPERPARAMETERS,
    SHARED_PARSERS,
    Parser,
    choice_parser,
    float_parser,
    int_parser,
    parse_bool,
    parse_known,
    parse_steps,
)

ALGORITHM = "image-classification"

# Depths the built-in accepts: ImageNet-style ResNets and CIFAR-style (6n+2) ResNets.
ALLOWED_NUM_LAYERS = (18, 34, 50, 101, 152, 200, 20, 32, 44, 56, 110)
OPTIMIZERS = ("sgd", "adam", "rmsprop", "nag")
AUGMENTATION_TYPES = ("crop", "crop_color", "crop_color_transform")
PRECISION_DTYPES = ("float32", "float16")


@dataclass(frozen=True)
class Hyperparameters:
    """Parsed, validated hyperparameters (see :func:`parse_hyperparameters`)."""

    num_classes: int
    num_training_samples: int
    epochs: int = 30
    learning_rate: float = 0.1
    mini_batch_size: int = 32
    image_shape: tuple[int, int, int] = (3, 224, 224)
    num_layers: int = 152
    use_pretrained_model: bool = False
    resize: int | None = None
    lr_scheduler_step: tuple[int, ...] = ()
    lr_scheduler_factor: float = 0.1
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0001
    beta_1: float = 0.9
    beta_2: float = 0.999
    eps: float = 1e-8
    gamma: float = 0.9
    augmentation_type: str | None = None
    early_stopping: bool = False
    early_stopping_patience: int = 5
    early_stopping_min_epochs: int = 10
    early_stopping_tolerance: float = 0.0
    top_k: int | None = None
    precision_dtype: str = "float32"
    multi_label: bool = False
    use_weighted_loss: bool = False
    checkpoint_frequency: int | None = None
    kv_store: str | None = None
    seed: int = 0
    skip_bad_records: bool = False
    ignored: tuple[str, ...] = field(default=())

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-serialisable view (tuples become lists), stored in the model artifact."""
        return json.loads(json.dumps(asdict(self)))


def _image_shape(name: str, text: str) -> tuple[int, int, int]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise HyperparameterError(
            f"hyperparameter {name}={text!r} must be 'num_channels,height,width', e.g. '3,224,224'"
        )
    channels, height, width = (int(p) for p in parts)
    if channels not in (1, 3):
        raise HyperparameterError(f"hyperparameter {name}={text!r}: num_channels must be 1 or 3")
    if min(height, width) < 8 or max(height, width) > 2048:
        raise HyperparameterError(f"hyperparameter {name}={text!r}: height and width must be in [8, 2048]")
    return channels, height, width


def _num_classes(name: str, text: str) -> int:
    value = int_parser()(name, text)
    if value < 2:
        raise HyperparameterError(
            f"hyperparameter {name}={text!r}: classification needs at least 2 classes "
            "(the built-in image-classification algorithm requires num_classes >= 2)"
        )
    return value


_PARSERS: dict[str, Parser] = {
    "num_classes": _num_classes,
    "num_training_samples": int_parser(minimum=1),
    "epochs": int_parser(minimum=1),
    "learning_rate": float_parser(0.0, 1.0, exclusive_minimum=True),
    "mini_batch_size": int_parser(minimum=1),
    "image_shape": _image_shape,
    "num_layers": int_parser(allowed=ALLOWED_NUM_LAYERS),
    "use_pretrained_model": parse_bool,
    "resize": int_parser(minimum=1),
    "lr_scheduler_step": parse_steps,
    "lr_scheduler_factor": float_parser(0.0, 1.0, exclusive_minimum=True),
    "optimizer": choice_parser(*OPTIMIZERS),
    "momentum": float_parser(0.0, 1.0),
    "weight_decay": float_parser(0.0, 1.0),
    "beta_1": float_parser(0.0, 1.0),
    "beta_2": float_parser(0.0, 1.0),
    "eps": float_parser(0.0, 1.0, exclusive_minimum=True),
    "gamma": float_parser(0.0, 1.0),
    "augmentation_type": choice_parser(*AUGMENTATION_TYPES),
    "early_stopping": parse_bool,
    "early_stopping_patience": int_parser(minimum=1),
    "early_stopping_min_epochs": int_parser(minimum=0),
    "early_stopping_tolerance": float_parser(0.0, 1.0),
    "top_k": int_parser(minimum=2),
    "precision_dtype": choice_parser(*PRECISION_DTYPES),
    "multi_label": parse_bool,
    "use_weighted_loss": parse_bool,
    "checkpoint_frequency": int_parser(minimum=1),
    **SHARED_PARSERS,
}

KNOWN_HYPERPARAMETERS: tuple[str, ...] = tuple(_PARSERS)


def parse_hyperparameters(raw: Mapping[str, object]) -> Hyperparameters:
    """Validate SageMaker-style hyperparameters and return them typed, with the built-in's defaults.

    Raises :class:`HyperparameterError` naming the offending hyperparameter for unknown names (with a
    suggestion), missing required names, unparsable or out-of-range values and inconsistent
    combinations. Names SageMaker adds itself (``sagemaker_*``, ``_tuning_objective_metric``) are
    ignored and listed in ``Hyperparameters.ignored``.
    """
    values, ignored = parse_known(raw, _PARSERS, REQUIRED_HYPERPARAMETERS, ALGORITHM)
    hps = Hyperparameters(**values, ignored=ignored)
    _check_combinations(hps)
    return hps


def _check_combinations(hps: Hyperparameters) -> None:
    _, height, width = hps.image_shape
    if hps.resize is not None and hps.resize < max(height, width):
        raise HyperparameterError(
            f"hyperparameter resize={hps.resize} must be >= the height and width of "
            f"image_shape ({height}x{width})"
        )
    if hps.top_k is not None and hps.top_k > hps.num_classes:
        raise HyperparameterError(
            f"hyperparameter top_k={hps.top_k} must be <= num_classes={hps.num_classes}"
        )
    if hps.checkpoint_frequency is not None and hps.checkpoint_frequency > hps.epochs:
        raise HyperparameterError(
            f"hyperparameter checkpoint_frequency={hps.checkpoint_frequency} must be <= epochs={hps.epochs}"
        )
    if hps.multi_label and hps.top_k is not None:
        raise HyperparameterError("hyperparameter top_k is not supported with multi_label=1")
