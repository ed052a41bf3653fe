"""The built-in image-classification algorithm's hyperparameters: names, defaults, typed parsing.

SageMaker passes every value as a string (``hyperparameters.json``); the training toolkit's ``SM_HPS``
holds the JSON-decoded values. Both forms are accepted. Names and defaults follow the AWS documentation
of the built-in algorithm; two project names are added: ``seed`` (reproducible runs) and
``skip_bad_records`` (drop unreadable records instead of failing the job).
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from training.errors import HyperparameterError

# Depths the built-in accepts: ImageNet-style ResNets and CIFAR-style (6n+2) ResNets.
ALLOWED_NUM_LAYERS = (18, 34, 50, 101, 152, 200, 20, 32, 44, 56, 110)
OPTIMIZERS = ("sgd", "adam", "rmsprop", "nag")
AUGMENTATION_TYPES = ("crop", "crop_color", "crop_color_transform")
PRECISION_DTYPES = ("float32", "float16")
KV_STORES = ("dist_sync", "dist_async")

# Names SageMaker itself may add (script mode, tuning jobs); accepted and ignored, as the built-in does.
RESERVED_PREFIXES = ("sagemaker_", "_tuning_objective_metric")


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


Parser = Callable[[str, str], Any]


def int_parser(
    minimum: int | None = None, maximum: int | None = None, allowed: tuple[int, ...] = ()
) -> Parser:
    """A parser of integers within bounds (or among ``allowed``); ``"10.0"`` counts as 10."""

    def parse(name: str, text: str) -> int:
        try:
            # "10.0" is how some tools write an integer; accept it, but never "10.5".
            value = float(text) if "." in text or "e" in text.lower() else int(text)
        except ValueError:
            raise HyperparameterError(f"hyperparameter {name}={text!r} is not an integer") from None
        if isinstance(value, float):
            if not value.is_integer():
                raise HyperparameterError(f"hyperparameter {name}={text!r} is not an integer")
            value = int(value)
        if allowed and value not in allowed:
            choices = ", ".join(str(v) for v in allowed)
            raise HyperparameterError(f"hyperparameter {name}={text!r} must be one of {choices}")
        if minimum is not None and value < minimum:
            raise HyperparameterError(f"hyperparameter {name}={text!r} must be >= {minimum}")
        if maximum is not None and value > maximum:
            raise HyperparameterError(f"hyperparameter {name}={text!r} must be <= {maximum}")
        return value

    return parse


def float_parser(minimum: float, maximum: float, *, exclusive_minimum: bool = False) -> Parser:
    """A parser of finite numbers in ``[minimum, maximum]`` (``(minimum, maximum]`` if exclusive)."""

    def parse(name: str, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise HyperparameterError(f"hyperparameter {name}={text!r} is not a number") from None
        if not math.isfinite(value):
            raise HyperparameterError(f"hyperparameter {name}={text!r} must be a finite number")
        low_ok = value > minimum if exclusive_minimum else value >= minimum
        if not low_ok or value > maximum:
            bracket = "(" if exclusive_minimum else "["
            raise HyperparameterError(
                f"hyperparameter {name}={text!r} must be in {bracket}{minimum:g}, {maximum:g}]"
            )
        return value

    return parse


def parse_bool(name: str, text: str) -> bool:
    """``1``/``true`` or ``0``/``false`` (any case), as the built-ins accept them."""
    lowered = text.lower()
    if lowered in ("1", "true"):
        return True
    if lowered in ("0", "false"):
        return False
    raise HyperparameterError(f"hyperparameter {name}={text!r} must be one of 0, 1, True, False")


def choice_parser(*choices: str) -> Parser:
    """A parser accepting exactly one of ``choices``."""

    def parse(name: str, text: str) -> str:
        if text not in choices:
            raise HyperparameterError(f"hyperparameter {name}={text!r} must be one of {', '.join(choices)}")
        return text

    return parse


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


def parse_steps(name: str, text: str) -> tuple[int, ...]:
    """``lr_scheduler_step``: increasing positive epoch numbers, comma-separated (``"10,20"``)."""
    try:
        steps = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise HyperparameterError(
            f"hyperparameter {name}={text!r} must be comma-separated epoch numbers, e.g. '10,20'"
        ) from None
    if not steps or any(s <= 0 for s in steps) or list(steps) != sorted(set(steps)):
        raise HyperparameterError(
            f"hyperparameter {name}={text!r} must be increasing positive epoch numbers, e.g. '10,20'"
        )
    return steps


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
    "kv_store": choice_parser(*KV_STORES),
    "seed": int_parser(minimum=0, maximum=2**32 - 1),
    "skip_bad_records": parse_bool,
}

KNOWN_HYPERPARAMETERS: tuple[str, ...] = tuple(_PARSERS)
REQUIRED_HYPERPARAMETERS = ("num_classes", "num_training_samples")


def as_text(name: str, value: object) -> str:
    """SM_HPS holds JSON-decoded values; bring them back to SageMaker's string form."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise HyperparameterError(f"hyperparameter {name} is empty")
        return text
    raise HyperparameterError(f"hyperparameter {name}={value!r} must be a string, got {type(value).__name__}")


def parse_known(
    raw: Mapping[str, object],
    parsers: Mapping[str, Parser],
    required: Sequence[str],
    algorithm: str,
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Check names and parse values against an algorithm's table of parsers.

    Returns ``(values, ignored)``: the parsed values of the names given, and the SageMaker-reserved
    names (``sagemaker_*``, ``_tuning_objective_metric``) that were skipped. Raises
    :class:`HyperparameterError` for unknown names (suggesting the nearest known one and listing what
    ``algorithm`` accepts), missing required names, and the first unparsable or out-of-range value.
    """
    ignored = sorted(name for name in raw if name.startswith(RESERVED_PREFIXES))
    unknown = sorted(name for name in raw if name not in parsers and name not in ignored)
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, list(parsers), n=1)
            hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
        raise HyperparameterError(
            "unknown hyperparameter(s): " + ", ".join(hints) + f". The {algorithm} algorithm "
            "accepts: " + ", ".join(sorted(parsers))
        )
    missing = [name for name in required if name not in raw]
    if missing:
        raise HyperparameterError("missing required hyperparameter(s): " + ", ".join(missing))
    values = {
        name: parsers[name](name, as_text(name, value)) for name, value in raw.items() if name not in ignored
    }
    return values, tuple(ignored)


def parse_hyperparameters(raw: Mapping[str, object]) -> Hyperparameters:
    """Validate SageMaker-style hyperparameters and return them typed, with the built-in's defaults.

    Raises :class:`HyperparameterError` naming the offending hyperparameter for unknown names (with a
    suggestion), missing required names, unparsable or out-of-range values and inconsistent
    combinations. Names SageMaker adds itself (``sagemaker_*``, ``_tuning_objective_metric``) are
    ignored and listed in ``Hyperparameters.ignored``.
    """
    values, ignored = parse_known(raw, _PARSERS, REQUIRED_HYPERPARAMETERS, "image-classification")
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


def load_hyperparameters_json(text: str, source: str) -> dict[str, object]:
    """Decode a hyperparameters JSON object (``SM_HPS`` or ``hyperparameters.json``)."""
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise HyperparameterError(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise HyperparameterError(f"{source} must hold a JSON object, got {type(data).__name__}")
    return data
