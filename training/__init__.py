"""Local implementation of SageMaker's built-in image-classification algorithm.

``python -m training.train`` trains with the built-in's hyperparameters, inputs and artifact layout;
``training.inference`` serves the result with the SageMaker inference-handler convention. This package
root imports nothing heavy (no torch), so infrastructure code can read the shared constants cheaply.
"""

import os

# Must precede torch's first import (libgomp reads it once). Busy-waiting OpenMP threads collapse when
# the CPU cores are shared with other work: two demo epochs on 2 shared cores took 61-68 s with the
# default spinning and 6-14 s with passive waiting (measured). An explicit setting is respected.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from training.contracts import (
    DEMO_HYPERPARAMETERS,
    DETECTION_DEMO_HYPERPARAMETERS,
    DETECTION_METRIC_DEFINITIONS,
    METRIC_DEFINITIONS,
)

__all__ = [
    "DEMO_HYPERPARAMETERS",
    "DETECTION_DEMO_HYPERPARAMETERS",
    "DETECTION_METRIC_DEFINITIONS",
    "METRIC_DEFINITIONS",
]
