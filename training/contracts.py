"""Names shared by training, serving, the local cloud and the infrastructure.

Nothing here imports torch: ``infra`` reads :data:`METRIC_DEFINITIONS` while synthesising stacks.
"""

from __future__ import annotations

from typing import Final

# A number as Python's repr prints it, including nan/inf so a diverged run still parses.
_NUMBER: Final = r"([-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|nan|inf))"

METRIC_DEFINITIONS: Final[list[dict[str, str]]] = [
    {"Name": "train:accuracy", "Regex": r"Epoch\[[0-9]+\] Train-accuracy=" + _NUMBER},
    {"Name": "validation:accuracy", "Regex": r"Epoch\[[0-9]+\] Validation-accuracy=" + _NUMBER},
    {"Name": "train:loss", "Regex": r"Epoch\[[0-9]+\] Train-loss=" + _NUMBER},
    {"Name": "validation:loss", "Regex": r"Epoch\[[0-9]+\] Validation-loss=" + _NUMBER},
    {"Name": "train:top_k_accuracy", "Regex": r"Epoch\[[0-9]+\] Train-top_k_accuracy_[0-9]+=" + _NUMBER},
    {
        "Name": "validation:top_k_accuracy",
        "Regex": r"Epoch\[[0-9]+\] Validation-top_k_accuracy_[0-9]+=" + _NUMBER,
    },
]
"""SageMaker ``MetricDefinitions`` for the per-epoch log lines written by ``python -m training.train``.

The names mirror the built-in image-classification algorithm's metrics (``validation:accuracy`` is its
tuning objective); the regexes capture the value in group 1, as SageMaker requires."""

DEMO_HYPERPARAMETERS: Final[dict[str, str]] = {
    "image_shape": "1,32,32",
    "num_layers": "18",
    "epochs": "10",
    "mini_batch_size": "32",
    "learning_rate": "0.05",
    "optimizer": "sgd",
    "momentum": "0.9",
    "weight_decay": "0.0001",
    "lr_scheduler_step": "6,9",
    "lr_scheduler_factor": "0.1",
    "seed": "0",
}
"""Hyperparameters for the digits demo (8x8 sklearn digits upscaled to 32x32 grayscale PNGs).

``num_classes`` and ``num_training_samples`` depend on the data set, so callers add them. The values
are strings, as SageMaker passes them. Measured by ``python -m bench.training_bench``."""

# The built-in object-detection algorithm logs "#quality_metric: host=algo-1, epoch=3, validation mAP
# <score>=(0.81)"; training lines may also name the batch ("epoch=3, batch=20, train ...").
_QUALITY: Final = r"#quality_metric: host=\S+, epoch=[0-9]+, (?:batch=[0-9]+, )?"

DETECTION_METRIC_DEFINITIONS: Final[list[dict[str, str]]] = [
    {"Name": "validation:mAP", "Regex": _QUALITY + r"validation mAP <score>=\(" + _NUMBER + r"\)"},
    {"Name": "train:cross_entropy", "Regex": _QUALITY + r"train cross_entropy <loss>=\(" + _NUMBER + r"\)"},
    {"Name": "train:smooth_l1", "Regex": _QUALITY + r"train smooth_l1 <loss>=\(" + _NUMBER + r"\)"},
]
"""SageMaker ``MetricDefinitions`` for ``python -m training.detection.train``'s per-epoch log lines.

The names are the built-in object-detection algorithm's metrics (``validation:mAP`` is its tuning
objective); ``train:cross_entropy`` is the local detector's centre-heatmap focal loss and
``train:smooth_l1`` its box-regression loss."""

DETECTION_DEMO_HYPERPARAMETERS: Final[dict[str, str]] = {
    "base_network": "vgg-16",
    "use_pretrained_model": "0",
    "image_shape": "96",
    "epochs": "24",
    "mini_batch_size": "16",
    "optimizer": "adam",
    "learning_rate": "0.001",
    "weight_decay": "0.0001",
    "lr_scheduler_step": "21",
    "lr_scheduler_factor": "0.1",
    "overlap_threshold": "0.5",
    "nms_threshold": "0.45",
    "seed": "0",
}
"""Hyperparameters for the synthetic-scenes detection demo (``training.scenes``).

``num_classes``, ``num_training_samples`` and ``label_width`` depend on the data set, so callers add
them. The values are strings, as SageMaker passes them. Measured numbers: ``training/README.md``."""

# Content types the serving handlers accept and produce (the built-in algorithm's set).
IMAGE_CONTENT_TYPES: Final = ("application/x-image", "image/jpeg", "image/png")
JSON_CONTENT_TYPE: Final = "application/json"
JSONLINES_CONTENT_TYPE: Final = "application/jsonlines"

# Files inside the model directory (and so at the root of model.tar.gz).
WEIGHTS_FILE: Final = "model.pt"
CLASSES_FILE: Final = "classes.json"
MODEL_CONFIG_FILE: Final = "model-config.json"
HYPERPARAMETERS_FILE: Final = "hyperparameters.json"
METRICS_FILE: Final = "metrics.json"
CODE_DIR: Final = "code"
CHECKPOINTS_DIR: Final = "checkpoints"
MODEL_FORMAT_VERSION: Final = 1
