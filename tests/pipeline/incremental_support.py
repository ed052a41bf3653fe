"""What a warm-started feedback run adds to the sample state (tests/pipeline/test_definition_contract.py):
the split's dataset version and warm-start decision, and the training job's hyperparameters."""

from __future__ import annotations

from typing import Any


def split_extras(run_id: str) -> dict[str, Any]:
    """``$.split.dataset`` and ``$.split.warm_start`` of a cumulative run whose serving model is compatible."""
    model_uri = "s3://gtpipe-data-bucket/models/earlier-0123456789abcdef-train-0/output/model.tar.gz"
    return {
        "dataset": {
            "cumulative": True,
            "base": {"train_version_id": "v1", "validation_version_id": "v1"},
            "added": {"train": 8, "validation": 2},
            "version": {
                "train_uri": "s3://gtpipe-data-bucket/datasets/lf1-0123/train.manifest",
                "train_version_id": f"{run_id}-v2",
                "validation_uri": "s3://gtpipe-data-bucket/datasets/lf1-0123/validation.manifest",
                "validation_version_id": f"{run_id}-v2",
            },
        },
        "warm_start": {
            "model_uri": model_uri,
            "source_run_id": "earlier-0123456789abcdef",
            "model_name": "earlier-0123456789abcdef-model-0",
        },
    }


def training_hyperparameters() -> dict[str, str]:
    """``$.training.hyperparameters``: the training job's (DescribeTrainingJob ``HyperParameters``)."""
    return {"num_classes": "10", "num_training_samples": "80", "epochs": "10"}


def with_incremental(run_id: str, part: dict[str, Any]) -> dict[str, Any]:
    """``part`` (split, training, ... results) with :func:`split_extras` and :func:`training_hyperparameters`."""
    part["split"].update(split_extras(run_id))
    part["training"]["hyperparameters"] = training_hyperparameters()
    return part
