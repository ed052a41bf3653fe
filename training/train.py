"""``python -m training.train``: the built-in image-classification algorithm's contract, run locally.

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
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from training.artifact import read_model_channel, write_code_dir
from training.contracts import (
    CHECKPOINTS_DIR,
    CLASSES_FILE,
    HYPERPARAMETERS_FILE,
    METRICS_FILE,
    MODEL_CONFIG_FILE,
    MODEL_FORMAT_VERSION,
    WEIGHTS_FILE,
)
from training.errors import DataError
from training.hyperparameters import Hyperparameters, parse_hyperparameters
from training.images import ImageSpec
from training.job import (
    FAILURE_REASON_LIMIT,
    TrainingPaths,
    log_hyperparameters,
    log_loaded,
    read_raw_hyperparameters,
    run_job,
    write_json,
)
from training.manifest import load_channel_images, merge_class_names, read_channel_manifest

if TYPE_CHECKING:  # torch is imported lazily, once inputs are valid
    import torch

    from training.model import Architecture

__all__ = ["FAILURE_REASON_LIMIT", "TrainingPaths", "main", "read_raw_hyperparameters", "run"]

LOG = logging.getLogger("training.train")
_UNNAMED_CLASSES_WARNING = "no class-name metadata for class index(es) %s; naming them by index"


def _load_model_channel(
    paths: TrainingPaths, hps: Hyperparameters, arch: Architecture
) -> dict[str, torch.Tensor] | None:
    """State for incremental training from the optional ``model`` channel, or None."""
    if not paths.model_channel.is_dir():
        if hps.use_pretrained_model:
            LOG.warning(
                "use_pretrained_model=1: no pretrained weights are available offline for this network "
                "(provide a 'model' channel holding an earlier model.tar.gz to start from one); "
                "training from random initialisation"
            )
        return None
    from training.model import Architecture
    from training.trainer import load_initial_state

    config, state = read_model_channel(
        paths.model_channel,
        algorithm=None,
        not_a_model=f"the 'model' channel ({paths.model_channel}) holds no model.tar.gz from this algorithm",
    )
    saved = Architecture.from_json_dict(config["architecture"])
    try:
        merged, fresh = load_initial_state(arch, saved, state)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    LOG.info(
        "Initialising from the model channel (incremental training); re-initialised: %s", fresh or "none"
    )
    return merged


def run(paths: TrainingPaths, raw_hyperparameters: Mapping[str, object]) -> dict[str, Any]:
    """Validate inputs, train, and write the model directory and metrics. Returns the metrics."""
    job_started = time.perf_counter()
    hps = parse_hyperparameters(raw_hyperparameters)
    log_hyperparameters(LOG, hps)

    train_manifest, val_manifest = (
        read_channel_manifest(
            folder,
            name,
            num_classes=hps.num_classes,
            multi_label=hps.multi_label,
            skip_bad_records=hps.skip_bad_records,
        )
        for folder, name in ((paths.train_channel, "train"), (paths.validation_channel, "validation"))
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
    train_images = load_channel_images(train_manifest, spec, skip_bad_records=hps.skip_bad_records)
    val_images = load_channel_images(val_manifest, spec, skip_bad_records=hps.skip_bad_records)
    log_loaded(LOG, hps.num_training_samples, len(train_images.labels), len(val_images.labels))

    # Inputs are valid: only now pay for importing torch.
    import torch

    from training.model import Architecture
    from training.trainer import fit

    arch = Architecture.for_input(hps.num_layers, hps.image_shape, hps.num_classes)
    initial_state = _load_model_channel(paths, hps, arch)
    result = fit(
        hps,
        arch,
        train_images.arrays,
        train_images.labels,
        val_images.arrays,
        val_images.labels,
        initial_state=initial_state,
    )

    best = result.epochs[result.best_epoch].values
    last = result.epochs[-1]
    metrics: dict[str, Any] = {
        "final": dict(best),
        "best_epoch": result.best_epoch,
        "last_epoch": last.epoch,
        "epochs_run": len(result.epochs),
        "stopped_early": result.stopped_early,
        "curves": {name: [e.values.get(name) for e in result.epochs] for name in last.values},
        "epoch_seconds": [round(e.seconds, 4) for e in result.epochs],
        "train_seconds": round(result.train_seconds, 3),
        "total_seconds": round(time.perf_counter() - job_started, 3),
        "num_training_samples": len(train_images.labels),
        "num_validation_samples": len(val_images.labels),
        "skipped_records": train_images.skipped + val_images.skipped,
        "class_names": classes,
        "label_attribute": train_manifest.label_attribute,
        "validation_confusion_matrix": result.confusion_matrix,
        "device": result.device,
    }
    LOG.info(
        "Best epoch %d: validation accuracy %f (train %.1f s on %s)",
        result.best_epoch,
        best["validation:accuracy"],
        result.train_seconds,
        result.device,
    )

    model_config = {
        "format_version": MODEL_FORMAT_VERSION,
        "algorithm": "image-classification",
        "architecture": arch.to_json_dict(),
        "image": {"channels": channels, "height": height, "width": width, "resize": hps.resize},
        "normalization": {"mean": result.mean, "std": result.std},
        "multi_label": hps.multi_label,
        "classes": classes,
        "label_attribute": train_manifest.label_attribute,
        "best_epoch": result.best_epoch,
        "hyperparameters": hps.to_json_dict(),
        "framework": {"torch": torch.__version__},
    }
    model_dir = paths.model_dir
    model_dir.mkdir(parents=True, exist_ok=True)
    torch.save(result.state_dict, model_dir / WEIGHTS_FILE)
    for epoch, state in result.checkpoints.items():
        (model_dir / CHECKPOINTS_DIR).mkdir(exist_ok=True)
        torch.save(state, model_dir / CHECKPOINTS_DIR / f"epoch-{epoch:04d}.pt")
    write_json(model_dir / CLASSES_FILE, classes)
    write_json(model_dir / MODEL_CONFIG_FILE, model_config)
    write_json(model_dir / HYPERPARAMETERS_FILE, {k: str(v) for k, v in raw_hyperparameters.items()})
    write_json(model_dir / METRICS_FILE, metrics)
    write_code_dir(model_dir)
    paths.output_data_dir.mkdir(parents=True, exist_ok=True)
    write_json(paths.output_data_dir / METRICS_FILE, metrics)
    return metrics


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run a training job; write ``failure`` and return non-zero on error (never raises).

    ``argv`` holds optional ``--name value`` hyperparameters (none by default: a caller's own command
    line is never read); ``environ`` defaults to ``os.environ`` (see :func:`training.job.run_job`).
    """
    return run_job(run, argv, environ, log=LOG)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
