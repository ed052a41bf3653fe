"""The built-in image-classification algorithm, run locally (``python -m training.train``).

Locations follow the SageMaker training toolkit: each comes from its environment variable when set,
else SageMaker's default path.

==============================  ===================================================
hyperparameters                 ``SM_HPS`` (JSON) or ``$SM_INPUT_CONFIG_DIR/hyperparameters.json``
                                (default ``/opt/ml/input/config/hyperparameters.json``)
channel ``train``               ``SM_CHANNEL_TRAIN`` (default ``/opt/ml/input/data/train``)
channel ``validation``          ``SM_CHANNEL_VALIDATION`` (default ``/opt/ml/input/data/validation``)
channel ``model`` (optional)    ``SM_CHANNEL_MODEL``: a previous model, for incremental training
model                           ``SM_MODEL_DIR`` (default ``/opt/ml/model``)
metrics and curves              ``SM_OUTPUT_DATA_DIR`` (default ``$SM_OUTPUT_DIR/data``)
failure reason                  ``$SM_OUTPUT_DIR/failure`` (default ``/opt/ml/output/failure``)
==============================  ===================================================

Hyperparameters can also be given as ``--name value`` arguments (script mode passes them so); they
override the file. Exit status: 0 success, 1 ``ClientError`` (bad input), 2 ``AlgorithmError``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from training.algorithm import TrainedModel, TrainingInputs, channel_inputs, train_job
from training.artifact import read_model_channel
from training.classification.data import ChannelImages, load_channel_images, read_channel_manifest
from training.classification.hyperparameters import ALGORITHM, Hyperparameters, parse_hyperparameters
from training.errors import DataError
from training.images import ImageSpec
from training.job import FAILURE_REASON_LIMIT, TrainingPaths, read_raw_hyperparameters, run_job
from training.manifest import merge_class_names

if TYPE_CHECKING:  # torch is imported lazily, once inputs are valid
    import torch

    from training.classification.model import Architecture

__all__ = [
    "CLASSIFICATION",
    "FAILURE_REASON_LIMIT",
    "TrainingPaths",
    "main",
    "read_raw_hyperparameters",
    "run",
]

LOG = logging.getLogger("training.train")
_UNNAMED_CLASSES_WARNING = "no class-name metadata for class index(es) %s; naming them by index"


@dataclass(frozen=True)
class ClassificationData:
    """Both channels' decoded images and labels."""

    train: ChannelImages
    validation: ChannelImages


class Classification:
    """The image-classification algorithm (:class:`training.algorithm.Algorithm`)."""

    name = ALGORITHM
    # A contract: the model artifact's code/inference.py and the local SageMaker import this module.
    handlers_module = "training.inference"
    key_metric = "validation:accuracy"
    key_label = "validation accuracy"
    log = LOG

    def parse_hyperparameters(self, raw: Mapping[str, object]) -> Hyperparameters:
        """The built-in's hyperparameters (:mod:`training.classification.hyperparameters`)."""
        return parse_hyperparameters(raw)

    def read_inputs(self, paths: TrainingPaths, hps: Hyperparameters) -> TrainingInputs[ClassificationData]:
        """Both channels' manifests and images; DataError unless the train channel has 2 classes or more."""
        train_manifest, val_manifest = paths.read_channels(
            lambda folder, name: read_channel_manifest(
                folder,
                name,
                num_classes=hps.num_classes,
                multi_label=hps.multi_label,
                skip_bad_records=hps.skip_bad_records,
            )
        )
        classes = merge_class_names(
            hps.num_classes, [train_manifest, val_manifest], log=LOG, unnamed_warning=_UNNAMED_CLASSES_WARNING
        )
        distinct = {
            i for r in train_manifest.records for i in ((r.label,) if isinstance(r.label, int) else r.label)
        }
        if len(distinct) < 2:
            found = ", ".join(repr(classes[i]) for i in sorted(distinct)) or "none"
            raise DataError(
                f"channel 'train' has {len(distinct)} distinct class(es) ({found}); "
                "classification needs examples of at least 2 classes"
            )
        LOG.info(
            "Label attribute: train=%r validation=%r; classes: %s",
            train_manifest.label_attribute,
            val_manifest.label_attribute,
            classes,
        )
        channels, height, width = hps.image_shape
        spec = ImageSpec(channels, height, width, hps.resize)
        return channel_inputs(
            classes,
            (train_manifest, val_manifest),
            lambda manifest: load_channel_images(manifest, spec, skip_bad_records=hps.skip_bad_records),
            ClassificationData,
            declared_training_samples=hps.num_training_samples,
            log=LOG,
        )

    def train(
        self, paths: TrainingPaths, hps: Hyperparameters, inputs: TrainingInputs[ClassificationData]
    ) -> TrainedModel:
        """A compact ResNet for ``image_shape`` (:mod:`training.classification.model`), fitted."""
        from training.classification.model import Architecture
        from training.classification.trainer import fit

        arch = Architecture.for_input(hps.num_layers, hps.image_shape, hps.num_classes)
        initial_state = _load_model_channel(paths, hps, arch, inputs.classes)
        data = inputs.data
        result = fit(
            hps,
            arch,
            data.train.arrays,
            data.train.labels,
            data.validation.arrays,
            data.validation.labels,
            initial_state=initial_state,
        )
        channels, height, width = hps.image_shape
        return TrainedModel(
            result,
            architecture=arch.to_json_dict(),
            image={"channels": channels, "height": height, "width": width, "resize": hps.resize},
            config={"multi_label": hps.multi_label},
            metrics={"validation_confusion_matrix": result.confusion_matrix},
            checkpoints=result.checkpoints,
        )


CLASSIFICATION = Classification()


def _load_model_channel(
    paths: TrainingPaths, hps: Hyperparameters, arch: Architecture, classes: list[str]
) -> dict[str, torch.Tensor] | None:
    """State for incremental training from the optional ``model`` channel, or None.

    As the built-in's incremental training, the earlier model must have been trained with the same
    ``num_layers``, ``image_shape`` and ``num_classes`` (and here, the same class names in the same
    order, or its outputs would mean other classes); otherwise the job fails with a ClientError
    naming the difference (:func:`check_incremental_match`).
    """
    if not paths.model_channel.is_dir():
        if hps.use_pretrained_model:
            LOG.warning(
                "use_pretrained_model=1: no pretrained weights are available offline for this network "
                "(provide a 'model' channel holding an earlier model.tar.gz to start from one); "
                "training from random initialisation"
            )
        return None
    from training.classification.model import Architecture
    from training.classification.trainer import load_initial_state

    config, state = read_model_channel(
        paths.model_channel,
        algorithm=None,
        not_a_model=f"the 'model' channel ({paths.model_channel}) holds no model.tar.gz from this algorithm",
    )
    check_incremental_match(config, hps, classes)
    saved = Architecture.from_json_dict(config["architecture"])
    try:
        merged, fresh = load_initial_state(arch, saved, state)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    LOG.info(
        "Initialising from the model channel (incremental training); re-initialised: %s", fresh or "none"
    )
    return merged


def check_incremental_match(config: Mapping[str, Any], hps: Hyperparameters, classes: list[str]) -> None:
    """Raise :class:`DataError` unless the ``model`` channel's model (its ``model-config.json``) was
    trained with this job's ``num_layers``, ``image_shape``, ``num_classes`` and class names.

    The built-in image-classification algorithm requires the first three to match for incremental
    training (https://docs.aws.amazon.com/sagemaker/latest/dg/image-classification.html, "Incremental
    training"; https://docs.aws.amazon.com/sagemaker/latest/dg/incremental-training.html). The class
    names are this project's addition: the same count in another order would silently swap classes. A class
    named only by its index (no manifest named it) matches any name; a model without a class list is not
    checked.
    """
    architecture = config.get("architecture") or {}
    image = config.get("image") or {}
    channels, height, width = hps.image_shape
    saved = {
        "num_layers": architecture.get("num_layers"),
        "image_shape": f"{image.get('channels')},{image.get('height')},{image.get('width')}",
        "num_classes": architecture.get("num_classes"),
    }
    wanted = {
        "num_layers": hps.num_layers,
        "image_shape": f"{channels},{height},{width}",
        "num_classes": hps.num_classes,
    }
    for name, value in wanted.items():
        if saved[name] != value:
            raise DataError(
                f"the 'model' channel's model was trained with {name}={saved[name]} but this job has "
                f"{name}={value}: incremental training needs the same num_layers, image_shape and num_classes"
            )
    saved_classes = [str(name) for name in config.get("classes") or []]
    # A class no manifest names is named by its index (training.manifest.merge_class_names): it can be any.
    differing = [
        (index, before, now)
        for index, (before, now) in enumerate(zip(saved_classes, classes, strict=False))
        if before != now and str(index) not in (before, now)
    ]
    if saved_classes and (len(saved_classes) != len(classes) or differing):
        index, before, now = differing[0] if differing else (len(saved_classes), "-", "-")
        raise DataError(
            f"the 'model' channel's model names class {index} {before!r} but this job's data names it {now!r}: "
            "incremental training needs the same classes in the same order"
        )


def run(paths: TrainingPaths, raw_hyperparameters: Mapping[str, object]) -> dict[str, Any]:
    """Validate inputs, train, and write the model directory and metrics. Returns the metrics."""
    return train_job(CLASSIFICATION, paths, raw_hyperparameters)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run a training job; write ``failure`` and return non-zero on error (never raises).

    ``argv`` holds optional ``--name value`` hyperparameters (none by default: a caller's own command
    line is never read); ``environ`` defaults to ``os.environ`` (see :func:`training.job.run_job`).
    """
    return run_job(run, argv, environ, log=LOG)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
