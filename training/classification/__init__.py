"""Local implementation of SageMaker's built-in image-classification algorithm.

``python -m training.train`` (:mod:`training.classification.train`, the :class:`training.algorithm.Algorithm`
implementation) trains with the built-in's hyperparameters, inputs and artifact layout;
``training.inference`` (:mod:`training.classification.inference`) serves the result with the SageMaker
inference-handler convention. Importing this package imports nothing heavy (no torch).
"""
