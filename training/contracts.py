"""Names shared by training, serving and the local cloud.

Nothing here imports torch: the local cloud and the tests read it without training anything. The
``MetricDefinitions`` that parse the training log's lines live in ``gtpipe_shared.metric_definitions``
(``training/`` imports nothing of ours; tests/training checks a real job's log parses with them).
"""

from __future__ import annotations

from typing import Final

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
