"""``training.inference``: the image-classification serving handlers (SageMaker inference convention).

A contract path: the model artifact's ``code/inference.py`` re-exports it and the local SageMaker's
algorithm registry (``local/sagemaker/algorithms.py``) imports it. The handlers live in
:mod:`training.classification.inference`.
"""

from training.classification import inference as _handlers
from training.classification.inference import *  # noqa: F403  (the contract re-exports every handler)

__all__ = _handlers.__all__
