"""Local implementations of SageMaker's built-in image-classification and object-detection algorithms.

Layout: a shared job core at the package top level, one folder per algorithm behind one protocol.

==============================  ================================================================
:mod:`training.job`             the script-mode contract: ``SM_*`` paths, hyperparameters, exit
                                status and ``/opt/ml/output/failure``
:mod:`training.algorithm`       the :class:`~training.algorithm.Algorithm` protocol and the one
                                ``run()`` skeleton (:func:`~training.algorithm.train_job`)
:mod:`training.epochs`          the one epoch loop (timing, metric lines, best epoch, checkpoints,
                                early stopping), model start, batch order; imports torch
:mod:`training.manifest`        the one augmented-manifest reader and image loader
:mod:`training.serving`         the serving handlers' shared pieces: the model directory check,
                                ``input_fn`` and content negotiation (``accept_type``)
:mod:`training.blocks`          the residual block both networks are built of; imports torch
:mod:`training.artifact`,       the model artifact, shared constants (the metric definitions that
                                parse the log live in ``gtpipe_shared.metric_definitions``),
:mod:`training.contracts`,      errors, the shared hyperparameter parsers (each algorithm's table
:mod:`training.errors`,         and typed result live in its folder), image decoding
:mod:`training.hyperparameters`,
:mod:`training.images`
``training/classification/``    image classification (``python -m training.train``; serving
                                handlers ``training.inference``)
``training/detection/``         object detection (``python -m training.detection.train``; serving
                                handlers ``training.detection.inference``)
:mod:`training.datasets`,       demo data: digits and synthetic scenes
:mod:`training.scenes`
==============================  ================================================================

``training.train`` and ``training.inference`` are contract paths (script mode, the local SageMaker's
algorithm registry, the model artifact's ``code/inference.py``) kept as thin modules over
``training.classification``. This package root imports nothing heavy (no torch), so infrastructure code
can read the shared constants cheaply.
"""

import os

# Must precede torch's first import (libgomp reads it once). Busy-waiting OpenMP threads collapse when
# the CPU cores are shared with other work: two demo epochs on 2 shared cores took 61-68 s with the
# default spinning and 6-14 s with passive waiting (measured). An explicit setting is respected.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from training.contracts import DEMO_HYPERPARAMETERS, DETECTION_DEMO_HYPERPARAMETERS

__all__ = ["DEMO_HYPERPARAMETERS", "DETECTION_DEMO_HYPERPARAMETERS"]
