"""The built-in object-detection algorithm's hyperparameters: names, defaults, typed parsing.

Names, meanings and defaults follow the AWS documentation of the built-in algorithm. Values arrive as
strings (``hyperparameters.json``) or JSON-decoded (``SM_HPS``); both are accepted. As for image
classification, two project names are added: ``seed`` (reproducible runs) and ``skip_bad_records``.

Local differences, documented in ``training/README.md``: ``image_shape`` accepts 32..1024 (the built-in
recommends 300 or 512: a small value keeps CPU training fast); ``base_network`` picks the depth of the
compact local network and ``use_pretrained_model`` has no weights to load (none are available offline).
"""

from __future__ import annotations

import json
import re
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

ALGORITHM = "object-detection"
BASE_NETWORKS = ("vgg-16", "resnet-50")
OPTIMIZERS = ("sgd", "adam", "rmsprop", "adadelta")
# A label holds a 2-value header then 5 values per box (class, xmin, ymin, xmax, ymax).
LABEL_HEADER_WIDTH = 2
LABEL_BOX_WIDTH = 5
MIN_IMAGE_SHAPE = 32
MAX_IMAGE_SHAPE = 1024


@dataclass(frozen=True)
class DetectionHyperparameters:
    """Parsed, validated hyperparameters (see :func:`parse_detection_hyperparameters`)."""

    num_classes: int
    num_training_samples: int
    base_network: str = "vgg-16"
    use_pretrained_model: bool = True
    mini_batch_size: int = 32
    epochs: int = 30
    learning_rate: float = 0.001
    lr_scheduler_step: tuple[int, ...] = ()
    lr_scheduler_factor: float = 0.1
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0005
    overlap_threshold: float = 0.5
    nms_threshold: float = 0.45
    image_shape: int = 300
    label_width: int = 350
    early_stopping: bool = False
    early_stopping_min_epochs: int = 10
    early_stopping_patience: int = 5
    early_stopping_tolerance: float = 0.0
    freeze_layer_pattern: str | None = None
    kv_store: str | None = None
    seed: int = 0
    skip_bad_records: bool = False
    ignored: tuple[str, ...] = field(default=())

    @property
    def max_boxes(self) -> int:
        """How many boxes one image's label may hold within ``label_width``."""
        return (self.label_width - LABEL_HEADER_WIDTH) // LABEL_BOX_WIDTH

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-serialisable view (tuples become lists), stored in the model artifact."""
        return json.loads(json.dumps(asdict(self)))


def _image_shape(name: str, text: str) -> int:
    if "," in text:
        raise HyperparameterError(
            f"hyperparameter {name}={text!r} must be one integer, the side of the square input "
            "(e.g. '300'); object detection takes no 'channels,height,width' form"
        )
    return int_parser(minimum=MIN_IMAGE_SHAPE, maximum=MAX_IMAGE_SHAPE)(name, text)


def _label_width(name: str, text: str) -> int:
    minimum = LABEL_HEADER_WIDTH + LABEL_BOX_WIDTH
    value = int_parser()(name, text)
    if value < minimum:
        raise HyperparameterError(
            f"hyperparameter {name}={text!r} must be >= {minimum} (a 2-value header plus 5 values per box)"
        )
    return value


def _pattern(name: str, text: str) -> str:
    try:
        re.compile(text)
    except re.error as exc:
        raise HyperparameterError(
            f"hyperparameter {name}={text!r} is not a valid regular expression: {exc}"
        ) from None
    return text


def _num_classes(name: str, text: str) -> int:
    return int_parser(minimum=1)(name, text)


_PARSERS: dict[str, Parser] = {
    "num_classes": _num_classes,
    "num_training_samples": int_parser(minimum=1),
    "base_network": choice_parser(*BASE_NETWORKS),
    "use_pretrained_model": parse_bool,
    "mini_batch_size": int_parser(minimum=1),
    "epochs": int_parser(minimum=1),
    "learning_rate": float_parser(0.0, 1.0, exclusive_minimum=True),
    "lr_scheduler_step": parse_steps,
    "lr_scheduler_factor": float_parser(0.0, 1.0, exclusive_minimum=True),
    "optimizer": choice_parser(*OPTIMIZERS),
    "momentum": float_parser(0.0, 1.0),
    "weight_decay": float_parser(0.0, 1.0),
    "overlap_threshold": float_parser(0.0, 1.0, exclusive_minimum=True),
    "nms_threshold": float_parser(0.0, 1.0, exclusive_minimum=True),
    "image_shape": _image_shape,
    "label_width": _label_width,
    "early_stopping": parse_bool,
    "early_stopping_min_epochs": int_parser(minimum=0),
    "early_stopping_patience": int_parser(minimum=1),
    "early_stopping_tolerance": float_parser(0.0, 1.0),
    "freeze_layer_pattern": _pattern,
    **SHARED_PARSERS,
}

KNOWN_HYPERPARAMETERS: tuple[str, ...] = tuple(_PARSERS)


def parse_detection_hyperparameters(raw: Mapping[str, object]) -> DetectionHyperparameters:
    """Validate object-detection hyperparameters and return them typed, with the built-in's defaults.

    Raises :class:`~training.errors.HyperparameterError` naming the offending hyperparameter for
    unknown names (with a suggestion), missing required names and unparsable or out-of-range values.
    SageMaker's own names (``sagemaker_*``, ``_tuning_objective_metric``) are ignored and listed in
    ``ignored``.
    """
    values, ignored = parse_known(raw, _PARSERS, REQUIRED_HYPERPARAMETERS, ALGORITHM)
    return DetectionHyperparameters(**values, ignored=ignored)
