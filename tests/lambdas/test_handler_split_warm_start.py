"""split (split/warm_start.py) against moto: a feedback run's split decides the warm start from the @serving
item that Publish wrote, and the run's ledger item records that decision and the dataset version it trains on."""

from __future__ import annotations

from typing import Any

import pytest
from gtpipe_shared import ledger
from notify import handler as notify
from split import handler as split_handler

from tests.lambdas.conftest import (
    DATA_BUCKET,
    Cloud,
    FakeContext,
    classification_line,
    load_event,
    put_running_run,
)

FIRST = "labeling/first/manifests/output/output.manifest"
FEEDBACK = "labeling/feedback/manifests/output/output.manifest"
IMAGE = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
ARTIFACT = f"s3://{DATA_BUCKET}/models/first-0123-train-0/output/model.tar.gz"


def split(context: FakeContext, run_id: str, manifest: str, source: str, **extra: Any) -> dict[str, Any]:
    payload = {
        **load_event("split_payload.json"),
        "run_id": run_id,
        "manifest_uri": f"s3://{DATA_BUCKET}/{manifest}",
        "source_manifest_uri": f"s3://{DATA_BUCKET}/{source}",
        "training_image": IMAGE,
        **extra,
    }
    return split_handler.lambda_handler(payload, context)


def publish(
    context: FakeContext, run_id: str, hyperparameters: dict[str, str], class_names: list[str]
) -> None:
    """Publish as the state machine sends it: the run's $.training (DescribeTrainingJob's hyperparameters)."""
    answer = notify.lambda_handler(
        {
            "action": "publish",
            "run_id": run_id,
            "endpoint_name": "gtpipe-endpoint",
            "endpoint_config_name": f"{run_id}-epc-0",
            "model_name": f"{run_id}-model-0",
            "class_names": class_names,
            "metrics": {"metric_name": "accuracy", "metric_value": 0.9},
            "task_type": "image-classification",
            "training": {"model_artifacts": ARTIFACT, "image": IMAGE, "hyperparameters": hyperparameters},
        },
        context,
    )
    assert answer["status"] == "PUBLISHED"


@pytest.fixture
def first_served(cloud: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A first run (30 labels) split, trained and published: its training data is the dataset's version."""
    monkeypatch.setenv("WARM_START", "on")
    put_running_run(cloud, "first-0123")
    cloud.put(FIRST, "".join(classification_line(i, i % 3) + "\n" for i in range(30)))
    first = split(context, "first-0123", FIRST, "incoming/digits.manifest")
    publish(context, "first-0123", dict(first["hyperparameters"]), ["cat", "dog", "bird"])
    cloud.put(FEEDBACK, "".join(classification_line(100 + i, i % 3) + "\n" for i in range(15)))
    put_running_run(cloud, "feedback-0123", input_key="incoming/feedback-2026-01-03.manifest")
    return first


def test_a_feedback_run_warm_starts_from_the_serving_model_and_the_ledger_says_so(
    cloud: Cloud, context: FakeContext, first_served: dict[str, Any]
) -> None:
    # Given the first run serves (its @serving item records its artifact, image and network)
    serving = ledger.from_dynamo(cloud.run("@serving"))
    assert serving["serving_model"]["model_artifacts"] == ARTIFACT
    # and the first run's ledger item records the dataset version it trained on, and that it started cold
    first_item = ledger.from_dynamo(cloud.run("first-0123"))
    assert first_item["dataset"]["version"] == first_served["dataset"]["version"]
    assert "not a cumulative run" in first_item["warm_start"]["reason"]
    # When a feedback run of the same label set is split
    second = split(context, "feedback-0123", FEEDBACK, "incoming/feedback-2026-01-03.manifest")
    # Then it warm-starts from the serving model's artifact
    assert second["dataset"]["cumulative"] is True
    assert second["warm_start"] == {
        "model_uri": ARTIFACT,
        "source_run_id": "first-0123",
        "model_name": "first-0123-model-0",
    }
    # and its ledger item records that and the dataset version it trains on (built on the first run's)
    item = ledger.from_dynamo(cloud.run("feedback-0123"))
    assert item["warm_start"] == second["warm_start"]
    assert item["dataset"]["version"]["train_version_id"] == second["dataset"]["version"]["train_version_id"]
    assert (
        item["dataset"]["base"]["train_version_id"] == first_served["dataset"]["version"]["train_version_id"]
    )


def test_a_changed_network_or_warm_start_off_trains_from_scratch_and_the_ledger_says_why(
    cloud: Cloud, context: FakeContext, first_served: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the first run serves / When the feedback run's training has another num_layers
    second = split(
        context,
        "feedback-0123",
        FEEDBACK,
        "incoming/feedback-2026-01-03.manifest",
        hyperparameters={"epochs": "10", "num_layers": "50"},
    )
    # Then it trains from scratch, naming the difference, in its answer and its ledger item
    assert "model_uri" not in second["warm_start"]
    assert "num_layers" in second["warm_start"]["reason"]
    assert ledger.from_dynamo(cloud.run("feedback-0123"))["warm_start"] == second["warm_start"]
    # and with warm start off (WARM_START off), the same run says so
    monkeypatch.setenv("WARM_START", "off")
    again = split(context, "feedback-0123", FEEDBACK, "incoming/feedback-2026-01-03.manifest")
    assert again["warm_start"] == {"reason": "warm start is off (gtpipe:harvest.warmStart)"}
