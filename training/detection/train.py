"""``python -m training.detection.train``: the built-in object-detection algorithm's contract, locally.

The job contract is :mod:`training.job`'s, the same as ``python -m training.train``: hyperparameters
from ``SM_HPS`` or ``hyperparameters.json`` (string values) plus ``--name value`` arguments; channels
``train`` and ``validation`` (required), each one Ground Truth bounding-box augmented manifest whose
``s3://`` source-refs resolve under the channel folder; optional ``model`` channel (an earlier
``model.tar.gz`` of this algorithm, for incremental training); the model to ``SM_MODEL_DIR``; metrics and
curves to ``$SM_OUTPUT_DATA_DIR/metrics.json``. Exit status: 0 success, 1 ``ClientError`` (bad input),
2 ``AlgorithmError``, with the reason in ``$SM_OUTPUT_DIR/failure``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from training.algorithm import TrainedModel, TrainingInputs, channel_inputs, train_job
from training.artifact import read_model_channel
from training.detection.data import DetectionImages, load_detection_images, read_detection_manifest
from training.detection.hyperparameters import (
    ALGORITHM as ALGORITHM_NAME,
)
from training.detection.hyperparameters import (
    DetectionHyperparameters,
    parse_detection_hyperparameters,
)
from training.errors import DataError
from training.job import TrainingPaths, run_job
from training.manifest import merge_class_names

if TYPE_CHECKING:  # torch is imported lazily, once inputs are valid
    import torch

    from training.detection.model import DetectorArchitecture

LOG = logging.getLogger("training.detection.train")
_UNNAMED_CLASSES_WARNING = "no class-map name for class id(s) %s; naming them by number"

# A contract: the model artifact's code/inference.py and the local SageMaker import this module.
HANDLERS_MODULE = "training.detection.inference"


@dataclass(frozen=True)
class DetectionData:
    """Both channels' images (square, stretched) and boxes."""

    train: DetectionImages
    validation: DetectionImages


class Detection:
    """The object-detection algorithm (:class:`training.algorithm.Algorithm`)."""

    name = ALGORITHM_NAME
    handlers_module = HANDLERS_MODULE
    key_metric = "validation:mAP"
    key_label = "validation mAP"
    log = LOG

    def parse_hyperparameters(self, raw: Mapping[str, object]) -> DetectionHyperparameters:
        """The built-in's hyperparameters (:mod:`training.detection.hyperparameters`)."""
        return parse_detection_hyperparameters(raw)

    def read_inputs(
        self, paths: TrainingPaths, hps: DetectionHyperparameters
    ) -> TrainingInputs[DetectionData]:
        """Both channels' manifests and images; DataError when the train channel has no box."""
        train_manifest, val_manifest = paths.read_channels(
            lambda folder, name: read_detection_manifest(
                folder,
                name,
                num_classes=hps.num_classes,
                label_width=hps.label_width,
                skip_bad_records=hps.skip_bad_records,
            )
        )
        if train_manifest.box_count == 0:
            raise DataError(
                "channel 'train' holds no bounding boxes; object detection needs labelled objects"
            )
        classes = merge_class_names(
            hps.num_classes, [train_manifest, val_manifest], log=LOG, unnamed_warning=_UNNAMED_CLASSES_WARNING
        )
        LOG.info(
            "Label attribute: train=%r validation=%r; classes: %s; boxes: train=%d validation=%d",
            train_manifest.label_attribute,
            val_manifest.label_attribute,
            classes,
            train_manifest.box_count,
            val_manifest.box_count,
        )
        return channel_inputs(
            classes,
            (train_manifest, val_manifest),
            lambda manifest: load_detection_images(
                manifest, hps.image_shape, skip_bad_records=hps.skip_bad_records
            ),
            DetectionData,
            declared_training_samples=hps.num_training_samples,
            log=LOG,
        )

    def train(
        self, paths: TrainingPaths, hps: DetectionHyperparameters, inputs: TrainingInputs[DetectionData]
    ) -> TrainedModel:
        """A compact detector sized by ``base_network`` (:mod:`training.detection.model`), fitted."""
        from training.detection.model import DetectorArchitecture
        from training.detection.trainer import MAX_DETECTIONS, MIN_SCORE, fit

        arch = DetectorArchitecture.create(hps.base_network, hps.num_classes, hps.image_shape)
        initial_state = _load_model_channel(paths, hps, arch)
        data = inputs.data
        result = fit(
            hps,
            arch,
            data.train.arrays,
            data.train.boxes,
            data.validation.arrays,
            data.validation.boxes,
            initial_state=initial_state,
            host=os.environ.get("SM_CURRENT_HOST", "algo-1"),
        )
        classes = inputs.classes
        per_class = {
            name: (None if ap is None else round(ap, 6))
            for name, ap in zip(classes, result.per_class_ap or [None] * len(classes), strict=True)
        }
        return TrainedModel(
            result,
            architecture=arch.to_json_dict(),
            image={"channels": 3, "height": hps.image_shape, "width": hps.image_shape, "resize": "stretch"},
            config={
                "postprocess": {
                    "nms_threshold": hps.nms_threshold,
                    "min_score": MIN_SCORE,
                    "max_detections": MAX_DETECTIONS,
                }
            },
            metrics={"validation_ap_per_class": per_class, "frozen_parameters": len(result.frozen)},
        )


DETECTION = Detection()


def _load_model_channel(
    paths: TrainingPaths, hps: DetectionHyperparameters, arch: DetectorArchitecture
) -> dict[str, torch.Tensor] | None:
    """Weights for incremental training from the optional ``model`` channel, or None."""
    if not paths.model_channel.is_dir():
        if hps.use_pretrained_model:
            LOG.warning(
                "use_pretrained_model=1: no pretrained %s weights are available offline; the local "
                "network (a compact detector sized by base_network) trains from random initialisation "
                "(a 'model' channel holding an earlier model.tar.gz of this algorithm is used when given)",
                hps.base_network,
            )
        return None
    from training.detection.model import DetectorArchitecture

    config, state = read_model_channel(
        paths.model_channel,
        algorithm=ALGORITHM_NAME,
        not_a_model=(
            f"the 'model' channel ({paths.model_channel}) holds no model.tar.gz of the {ALGORITHM_NAME} algorithm"
        ),
    )
    saved = DetectorArchitecture.from_json_dict(config["architecture"])
    if saved != arch:
        raise DataError(
            f"the 'model' channel holds a {saved.base_network} detector for {saved.num_classes} classes at "
            f"image_shape={saved.image_size}; this job asks for {arch.base_network}, num_classes="
            f"{arch.num_classes}, image_shape={arch.image_size}: they must match for incremental training"
        )
    LOG.info("Initialising from the model channel (incremental training)")
    return dict(state)


def run(paths: TrainingPaths, raw_hyperparameters: Mapping[str, object]) -> dict[str, Any]:
    """Validate inputs, train, and write the model directory and metrics. Returns the metrics."""
    return train_job(DETECTION, paths, raw_hyperparameters)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run a detection training job; write ``failure`` and return non-zero on error (never raises).

    ``argv`` holds optional ``--name value`` hyperparameters (none by default); ``environ`` defaults to
    ``os.environ`` (see :func:`training.job.run_job`).
    """
    return run_job(run, argv, environ, log=LOG)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
