"""Local implementation of SageMaker's built-in object-detection algorithm.

``python -m training.detection.train`` trains with the built-in's hyperparameters, channels (Ground
Truth bounding-box augmented manifests) and the script-mode job contract of :mod:`training.job`;
``training.detection.inference`` serves the result in the built-in's answer format
``{"prediction": [[class_id, score, xmin, ymin, xmax, ymax], ...]}`` (coordinates relative, 0..1).

The network is a compact single-stage, anchor-free detector (class-centre heatmaps plus box size and
centre offset on a stride-4 grid) trained from scratch: no pretrained weights are available offline.
Importing this package imports nothing heavy (no torch).
"""
