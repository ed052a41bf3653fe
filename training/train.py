"""``python -m training.train``: the image-classification training job (script mode).

A contract path: SageMaker-style script mode and the local SageMaker's algorithm registry
(``local/sagemaker/algorithms.py``) run this module. The algorithm lives in
:mod:`training.classification.train`.
"""

import sys

from training.classification.train import (
    FAILURE_REASON_LIMIT,
    TrainingPaths,
    main,
    read_raw_hyperparameters,
    run,
)

__all__ = ["FAILURE_REASON_LIMIT", "TrainingPaths", "main", "read_raw_hyperparameters", "run"]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
