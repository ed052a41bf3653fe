"""Local implementation of SageMaker's built-in image-classification algorithm.

``python -m training.train`` trains with the built-in's hyperparameters, inputs and artifact layout;
``training.inference`` serves the result with the SageMaker inference-handler convention. This package
root imports nothing heavy (no torch), so infrastructure code can read the shared constants cheaply.
"""

from training.contracts import DEMO_HYPERPARAMETERS, METRIC_DEFINITIONS

__all__ = ["DEMO_HYPERPARAMETERS", "METRIC_DEFINITIONS"]
