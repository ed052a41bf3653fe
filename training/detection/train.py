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
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from training.artifact import read_model_channel, write_code_dir
from training.contracts import (
    CLASSES_FILE,
    HYPERPARAMETERS_FILE,
    METRICS_FILE,
    MODEL_CONFIG_FILE,
    MODEL_FORMAT_VERSION,
    WEIGHTS_FILE,
)
from training.detection.data import load_detection_images, read_detection_manifest
from training.detection.hyperparameters import (
    ALGORITHM,
    DetectionHyperparameters,
    parse_detection_hyperparameters,
)
from training.errors import DataError
from training.job import TrainingPaths, log_hyperparameters, log_loaded, run_job, write_json
from training.manifest import merge_class_names

if TYPE_CHECKING:  # torch is imported lazily, once inputs are valid
    import torch

    from training.detection.model import DetectorArchitecture

LOG = logging.getLogger("training.detection.train")
_UNNAMED_CLASSES_WARNING = "no class-map name for class id(s) %s; naming them by number"

HANDLERS_MODULE = "training.detection.inference"


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
        algorithm=ALGORITHM,
        not_a_model=(
            f"the 'model' channel ({paths.model_channel}) holds no model.tar.gz of the {ALGORITHM} algorithm"
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
    job_started = time.perf_counter()
    hps = parse_detection_hyperparameters(raw_hyperparameters)
    log_hyperparameters(LOG, hps)

    train_manifest, val_manifest = (
        read_detection_manifest(
            folder,
            name,
            num_classes=hps.num_classes,
            label_width=hps.label_width,
            skip_bad_records=hps.skip_bad_records,
        )
        for folder, name in ((paths.train_channel, "train"), (paths.validation_channel, "validation"))
    )
    if train_manifest.box_count == 0:
        raise DataError("channel 'train' holds no bounding boxes; object detection needs labelled objects")
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
    train_images = load_detection_images(
        train_manifest, hps.image_shape, skip_bad_records=hps.skip_bad_records
    )
    val_images = load_detection_images(val_manifest, hps.image_shape, skip_bad_records=hps.skip_bad_records)
    log_loaded(LOG, hps.num_training_samples, len(train_images.boxes), len(val_images.boxes))

    # Inputs are valid: only now pay for importing torch.
    import torch

    from training.detection.model import DetectorArchitecture
    from training.detection.trainer import MAX_DETECTIONS, MIN_SCORE, fit

    arch = DetectorArchitecture.create(hps.base_network, hps.num_classes, hps.image_shape)
    initial_state = _load_model_channel(paths, hps, arch)
    result = fit(
        hps,
        arch,
        train_images.arrays,
        train_images.boxes,
        val_images.arrays,
        val_images.boxes,
        initial_state=initial_state,
        host=os.environ.get("SM_CURRENT_HOST", "algo-1"),
    )

    best = result.epochs[result.best_epoch].values
    last = result.epochs[-1]
    metrics: dict[str, Any] = {
        "final": dict(best),
        "validation_ap_per_class": {
            name: (None if ap is None else round(ap, 6))
            for name, ap in zip(classes, result.per_class_ap or [None] * len(classes), strict=True)
        },
        "best_epoch": result.best_epoch,
        "last_epoch": last.epoch,
        "epochs_run": len(result.epochs),
        "stopped_early": result.stopped_early,
        "curves": {name: [e.values.get(name) for e in result.epochs] for name in last.values},
        "epoch_seconds": [round(e.seconds, 4) for e in result.epochs],
        "train_seconds": round(result.train_seconds, 3),
        "total_seconds": round(time.perf_counter() - job_started, 3),
        "num_training_samples": len(train_images.boxes),
        "num_validation_samples": len(val_images.boxes),
        "skipped_records": train_images.skipped + val_images.skipped,
        "class_names": classes,
        "label_attribute": train_manifest.label_attribute,
        "frozen_parameters": len(result.frozen),
        "device": result.device,
    }
    LOG.info(
        "Best epoch %d: validation mAP %f (train %.1f s on %s)",
        result.best_epoch,
        best["validation:mAP"],
        result.train_seconds,
        result.device,
    )
    model_config = {
        "format_version": MODEL_FORMAT_VERSION,
        "algorithm": ALGORITHM,
        "architecture": arch.to_json_dict(),
        "image": {"channels": 3, "height": hps.image_shape, "width": hps.image_shape, "resize": "stretch"},
        "normalization": {"mean": result.mean, "std": result.std},
        "postprocess": {
            "nms_threshold": hps.nms_threshold,
            "min_score": MIN_SCORE,
            "max_detections": MAX_DETECTIONS,
        },
        "classes": classes,
        "label_attribute": train_manifest.label_attribute,
        "best_epoch": result.best_epoch,
        "hyperparameters": hps.to_json_dict(),
        "framework": {"torch": torch.__version__},
    }
    model_dir = paths.model_dir
    model_dir.mkdir(parents=True, exist_ok=True)
    torch.save(result.state_dict, model_dir / WEIGHTS_FILE)
    write_json(model_dir / CLASSES_FILE, classes)
    write_json(model_dir / MODEL_CONFIG_FILE, model_config)
    write_json(model_dir / HYPERPARAMETERS_FILE, {k: str(v) for k, v in raw_hyperparameters.items()})
    write_json(model_dir / METRICS_FILE, metrics)
    write_code_dir(model_dir, HANDLERS_MODULE)
    paths.output_data_dir.mkdir(parents=True, exist_ok=True)
    write_json(paths.output_data_dir / METRICS_FILE, metrics)
    return metrics


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run a detection training job; write ``failure`` and return non-zero on error (never raises).

    ``argv`` holds optional ``--name value`` hyperparameters (none by default); ``environ`` defaults to
    ``os.environ`` (see :func:`training.job.run_job`).
    """
    return run_job(run, argv, environ, log=LOG)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
