"""Label-error finding in the pipeline harness: the label_errors test double and the setting's switch.

The double stands in for lambdas/label_errors (its own tests: tests/lambdas/test_handler_label_errors.py):
the contract here is the payloads the state machine sends and the answers' shapes."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

LABEL_ERRORS = {"folds": 2, "max_share": 0.1}
OBJECTS = 9  # the double's training set
ACCURACY_BEFORE, ACCURACY_AFTER = 0.9, 0.95  # the double's validation accuracy of Train's and Retrain's jobs


def enable_label_errors(configure_builtin: Callable[[], None], **settings: Any) -> None:
    """Turn gtpipe:labelErrors on in PIPELINE_CONFIG for the next drops, as synth writes it: the builtin
    backend with its review stage and ``config.label_errors`` (the harness fixture restores the variable)."""
    configure_builtin()
    config = json.loads(os.environ["PIPELINE_CONFIG"])
    config["labeling"]["review"] = {"confidence_threshold": 0.8, "qa_sample_percent": 5.0, "max_rounds": 2}
    config["label_errors"] = {**LABEL_ERRORS, **settings}
    os.environ["PIPELINE_CONFIG"] = json.dumps(config)


def label_errors_double(doubles: Any) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The label_errors double: ``prepare`` answers one fold per ``folds`` (each training on 9 - 9/folds
    objects) and Train's job back, ``flag`` flags ``doubles.label_errors_flagged`` objects (0: no review
    manifest), ``correct`` a corrected manifest, ``accuracy`` Train's job 0.9 and another served job 0.95."""

    def label_errors(event: dict[str, Any], context: Any) -> dict[str, Any]:
        doubles.calls.append(("label_errors", event))
        if event["action"] == "accuracy":
            retrained = event["served_job_name"] != event["train_job_name"]
            after = ACCURACY_AFTER if retrained else None
            change = round(ACCURACY_AFTER - ACCURACY_BEFORE, 4) if retrained else None
            return {
                "metric": "validation:accuracy",
                "before": ACCURACY_BEFORE,
                "after": after,
                "change": change,
            }
        run, bucket = event["run_id"], event["data_bucket"]
        base = f"s3://{bucket}/splits/{run}/label-errors/"
        if event["action"] == "prepare":
            count = int(event["folds"])
            folds = [
                {
                    **fold_uris(bucket, run, fold),
                    "hyperparameters": {
                        **event["hyperparameters"],
                        "num_training_samples": str(OBJECTS - OBJECTS // count),
                    },
                }
                for fold in range(count)
            ]
            return {"folds": folds, "objects": OBJECTS, "train_job_name": event["train_job_name"]}
        if event["action"] == "flag":
            flagged = int(doubles.label_errors_flagged)
            review = f"s3://{bucket}/labeling/{run}/label-errors-review.manifest" if flagged else None
            return {
                "objects": OBJECTS,
                "assessed": OBJECTS,
                "flagged": flagged,
                "issues_uri": f"{base}issues.json",
                "review_manifest_uri": review,
            }
        summary = {"objects": 9, "flagged": 2, "confirmed": 1, "kept": 1, "unreviewed": 0}
        dataset = {"train_uri": event["dataset_train_uri"], "train_version_id": "v2", "replaced": 1}
        return {"train_uri": f"{base}train.manifest", "summary": summary, "dataset": dataset}

    return label_errors


def fold_uris(bucket: str, run_id: str, fold: int) -> dict[str, Any]:
    """One fold as label_errors' ``prepare`` answers it."""
    base = f"s3://{bucket}/splits/{run_id}/label-errors/fold-{fold}/"
    return {
        "fold": fold,
        "train_uri": f"{base}train.manifest",
        "images_uri": f"{base}images.manifest",
        "output_uri": f"s3://{bucket}/transform/{run_id}/label-errors/fold-{fold}/",
    }


def with_label_errors(run_id: str, state: dict[str, Any], bucket: str = "gtpipe-data-bucket") -> None:
    """A run with gtpipe:labelErrors after every label-error step (the contract tests' sample state)."""
    state["config"]["label_errors"] = dict(LABEL_ERRORS)
    base = f"s3://{bucket}/splits/{run_id}/label-errors/"
    output = f"s3://{bucket}/labeling/{run_id}-lerev-0/manifests/output/output.manifest"
    hyperparameters = {**state["split"]["hyperparameters"], "num_training_samples": "40"}
    state["label_errors"] = {
        "folds": [
            {**fold_uris(bucket, run_id, fold), "hyperparameters": hyperparameters}
            for fold in range(LABEL_ERRORS["folds"])
        ],
        "objects": 80,
        "train_job_name": f"{run_id}-train-0",
        "flags": {
            "objects": 80,
            "assessed": 80,
            "flagged": 4,
            "issues_uri": f"{base}issues.json",
            "review_manifest_uri": f"s3://{bucket}/labeling/{run_id}/label-errors-review.manifest",
        },
        "review": {"output_uri": output, "counters": {"TotalLabeled": 4}},
        "corrected": {
            "train_uri": f"{base}train.manifest",
            "summary": {"flagged": 4, "confirmed": 3},
            "dataset": {"train_uri": f"s3://{bucket}/datasets/lf1-0123/train.manifest", "replaced": 3},
        },
        "accuracy": {"metric": "validation:accuracy", "before": 0.9, "after": 0.95, "change": 0.05},
    }
