"""gtpipe_shared.incremental: what @serving records of the serving model and whether a feedback run may
warm-start from it (same label set, algorithm and network, as SageMaker's incremental training requires)."""

from __future__ import annotations

from typing import Any

from gtpipe_shared.incremental import (
    architecture,
    architecture_fingerprint,
    serving_model,
    training_data_update,
    warm_start_decision,
)

IC = "image-classification"
IMAGE = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
ARTIFACT = "s3://bucket/models/first-train-0/output/model.tar.gz"
HYPERPARAMETERS = {"num_layers": "18", "image_shape": "3,28,28", "num_classes": "3", "epochs": "4"}


def serving(**model: Any) -> dict[str, Any]:
    """An @serving item of the run ``first`` (cat, dog, bird) serving a model trained with HYPERPARAMETERS."""
    recorded = serving_model(
        {"model_artifacts": ARTIFACT, "image": IMAGE, "hyperparameters": HYPERPARAMETERS}, IC
    )
    return {
        "run_id": "@serving",
        "source_run_id": "first",
        "model_name": "first-model-0",
        "task_type": IC,
        "class_names": ["cat", "dog", "bird"],
        "serving_model": {**recorded, **model},
    }


def decide(item: dict[str, Any] | None, **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "enabled": True,
        "cumulative": True,
        "task_type": IC,
        "class_names": ["cat", "dog", "bird"],
        "training_image": IMAGE,
        "hyperparameters": {**HYPERPARAMETERS, "epochs": "2", "num_training_samples": "120"},
    }
    settings.update(overrides)
    return warm_start_decision(item, **settings)


def test_the_architecture_is_the_network_s_hyperparameters_only() -> None:
    # Given two hyperparameter sets differing in epochs and batch size only / Then one architecture
    other = {**HYPERPARAMETERS, "epochs": "9", "mini_batch_size": "8"}
    assert architecture(IC, HYPERPARAMETERS) == {
        "num_layers": "18",
        "image_shape": "3,28,28",
        "num_classes": "3",
    }
    assert architecture_fingerprint(IC, HYPERPARAMETERS) == architecture_fingerprint(IC, other)
    # and another num_layers, or the detection algorithm's network names, give another fingerprint
    assert architecture_fingerprint(IC, {**HYPERPARAMETERS, "num_layers": "50"}) != architecture_fingerprint(
        IC, HYPERPARAMETERS
    )
    assert architecture("object-detection", {"base_network": "resnet-50", "num_layers": "18"}) == {
        "base_network": "resnet-50"
    }


def test_serving_records_a_run_s_model_and_a_rollback_s_package() -> None:
    # Given a run's $.training (hyperparameters) and a rollback's (the package's fingerprint)
    run = serving_model({"model_artifacts": ARTIFACT, "image": IMAGE, "hyperparameters": HYPERPARAMETERS}, IC)
    fingerprint = architecture_fingerprint(IC, HYPERPARAMETERS)
    rollback = serving_model({"model_artifacts": ARTIFACT, "image": IMAGE, "architecture": fingerprint}, IC)
    # Then both record the artifact, image and the same network; nothing without an artifact
    assert run == {
        "model_artifacts": ARTIFACT,
        "training_image": IMAGE,
        "architecture": fingerprint,
        "hyperparameters": {"num_layers": "18", "image_shape": "3,28,28", "num_classes": "3"},
    }
    assert rollback == {"model_artifacts": ARTIFACT, "training_image": IMAGE, "architecture": fingerprint}
    assert serving_model({"image": IMAGE}, IC) == {} and serving_model(None, IC) == {}


def test_a_compatible_serving_model_is_the_warm_start() -> None:
    # Given the label set's serving model, same image and network / When a feedback run decides
    # Then it warm-starts from the serving model's artifact (epochs and sample count may differ)
    assert decide(serving()) == {
        "model_uri": ARTIFACT,
        "source_run_id": "first",
        "model_name": "first-model-0",
    }


def test_each_incompatibility_trains_from_scratch_saying_why() -> None:
    # Given a serving model that differs in one way at a time / Then the run trains from scratch, and why
    assert "warm start is off" in decide(serving(), enabled=False)["reason"]
    assert "not a cumulative run" in decide(serving(), cumulative=False)["reason"]
    assert decide(None)["reason"] == "no model serves"
    changed = decide(serving(), class_names=["cat", "dog", "fish"])["reason"]
    assert "another label set" in changed
    assert "another label set" in decide(serving(), class_names=["dog", "cat", "bird"])["reason"]
    assert "with image other:1" in decide(serving(training_image="other:1"))["reason"]
    deeper = decide(serving(), hyperparameters={**HYPERPARAMETERS, "num_layers": "50"})["reason"]
    assert deeper == "the network differs from the serving model's: num_layers 18 -> 50"
    # a rollback's record names no hyperparameters: the difference is still found, by the fingerprint
    rollback = serving(hyperparameters=None)
    assert (
        "num_layers/image_shape/num_classes"
        in decide(rollback, hyperparameters={**HYPERPARAMETERS, "image_shape": "3,32,32"})["reason"]
    )
    assert "not recorded" in decide(serving(architecture=None))["reason"]
    earlier = serving()
    del earlier["serving_model"]
    assert "artifact is not recorded" in decide(earlier)["reason"]


def test_the_ledger_update_records_the_dataset_version_and_the_decision() -> None:
    # Given a split's dataset answer and a decision / Then one conditional SET of both on the run's item
    dataset = {"cumulative": True, "version": {"train_version_id": "v2", "validation_version_id": "v3"}}
    update = training_data_update(dataset, {"reason": "no model serves"}, "2026-01-01T00:00:00.000000Z")
    kwargs = update.kwargs("run-1")
    assert kwargs["ConditionExpression"] == "attribute_exists(run_id)"
    assert kwargs["ExpressionAttributeValues"][":dataset"] == dataset
    assert kwargs["ExpressionAttributeValues"][":warm"] == {"reason": "no model serves"}


def test_a_package_carries_its_network_for_a_rollback_s_serving_record() -> None:
    from gtpipe_shared.model_registry import package_architecture, package_metadata

    # Given a run's state at registration (its training job's hyperparameters) / When its package's metadata
    # is built and read back, as a rollback does
    state = {
        "run_id": "first",
        "config": {"task_type": IC},
        "training": {"model_artifacts": ARTIFACT, "image": IMAGE, "hyperparameters": HYPERPARAMETERS},
    }
    metadata = package_metadata(state)
    # Then the fingerprint is the one @serving compares with, within SageMaker's metadata characters
    assert package_architecture({"CustomerMetadataProperties": metadata}) == architecture_fingerprint(
        IC, HYPERPARAMETERS
    )
    # and a state without training hyperparameters (an older run) leaves it out
    assert package_architecture({"CustomerMetadataProperties": package_metadata({"run_id": "x"})}) is None
