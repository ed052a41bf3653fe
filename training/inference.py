"""``training.inference``: the image-classification serving handlers (SageMaker inference convention).

A contract path: the model artifact's ``code/inference.py`` re-exports it and the local SageMaker's
algorithm registry (``local/sagemaker/algorithms.py``) imports it. The handlers live in
:mod:`training.classification.inference`.
"""

from training.classification.inference import (
    ImageInput,
    LoadedModel,
    accept_type,
    input_fn,
    model_fn,
    output_content_type,
    output_fn,
    predict_fn,
    predict_images,
    read_model_dir,
)

__all__ = [
    "ImageInput",
    "LoadedModel",
    "accept_type",
    "input_fn",
    "model_fn",
    "output_content_type",
    "output_fn",
    "predict_fn",
    "predict_images",
    "read_model_dir",
]
