"""Champion/challenger on the local cloud, end to end (slow: real training, transforms and hosting).

Run 1 trains on the true labels of the images and serves. Run 2 trains on the same images with labels
shuffled (seeded): its model learns nothing, yet the fixed quality threshold is 0 here, so only the
champion/challenger gate can refuse it. Its own validation split carries the same corrupted labels, so the
two models are compared on the golden manifest (the held-out images with their true labels, under
golden/, never trained on): the challenger is worse by more than the margin, so it is REJECTED with that
reason, nothing is deployed and run 1's model keeps serving.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from typing import Any

import pytest

from local.drivers.runs import execution_history, get_run
from tests.local_cloud.conftest import Dataset, Inbox, follow_dropped, jsonl, running_cloud, small_context
from training.datasets import augmented_manifest_line

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 420.0
SHUFFLE_SEED = 20240607
GOLDEN_KEY = "golden/digits.manifest"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The test configuration with a quality threshold of 0 (every model passes the fixed gate) and the
    champion/challenger gate on (its default) with a golden manifest."""
    context = {
        **small_context(),
        "gtpipe:qualityThreshold": 0.0,
        "gtpipe:championChallenger": {"goldenManifest": GOLDEN_KEY},
    }
    with running_cloud(tmp_path_factory.mktemp("champion-cloud"), context, "cdk.out-champion") as local_cloud:
        yield local_cloud


def drop(cloud: Any, key: str, records: list[Any], job_name: str) -> tuple[dict[str, Any], list[str]]:
    """Drop an augmented manifest of ``records`` and follow its run: the ledger item and the states entered."""
    lines = [augmented_manifest_line(r, "category", job_name=job_name) for r in records]
    put = cloud.client("s3").put_object(Bucket=cloud.outputs["DataBucketName"], Key=key, Body=jsonl(lines))
    progress = follow_dropped(cloud, key, put.get("VersionId"), timeout=RUN_TIMEOUT)
    arn = (progress.run or {}).get("execution_arn")
    history = execution_history(cloud.client("stepfunctions"), arn) if arn else []
    cloud.wait_idle(30)
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    return dict(progress.run or {}), entered


def serving(cloud: Any) -> dict[str, Any]:
    item = get_run(cloud.client("dynamodb"), cloud.outputs["RunsTableName"], "@serving")
    assert item is not None
    return item


def test_a_worse_challenger_is_refused_and_the_champion_keeps_serving(cloud: Any, dataset: Dataset) -> None:
    # given a golden manifest: the held-out images with their true labels
    golden = [augmented_manifest_line(r, "category", job_name="golden") for r in dataset.holdout]
    cloud.client("s3").put_object(Bucket=cloud.outputs["DataBucketName"], Key=GOLDEN_KEY, Body=jsonl(golden))
    # and run 1: the true labels of the images; it deploys (nothing served before)
    inbox = Inbox.subscribe(cloud, "champion-notifications")
    champion_run, entered = drop(cloud, "incoming/champion.jsonl", dataset.labeled, "truth")
    assert champion_run["status"] == "SUCCEEDED", champion_run
    print(f"[champion] run 1 validation accuracy {champion_run['metrics']['metric_value']}")
    assert "HasChampion" in entered and "TransformChampion" not in entered
    before = serving(cloud)
    assert before["source_run_id"] == champion_run["run_id"]
    endpoint_config = cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.outputs["EndpointName"])[
        "EndpointConfigName"
    ]
    # when run 2 trains on the same images with shuffled labels (it passes the fixed threshold of 0)
    others = list(dataset.labeled)
    shuffled = list(others)
    random.Random(SHUFFLE_SEED).shuffle(shuffled)
    corrupted = [
        dataclasses.replace(record, label=other.label, class_name=other.class_name)
        for record, other in zip(others, shuffled, strict=True)
    ]
    challenger_run, entered = drop(cloud, "incoming/corrupted.jsonl", corrupted, "shuffled")
    run_id = challenger_run["run_id"]
    metrics = challenger_run["metrics"]
    print(f"[champion] {metrics['champion']}")
    # then both models were scored and the gate refused the challenger as worse than the serving model
    assert challenger_run["status"] == "REJECTED", challenger_run
    assert entered[-9:] == [
        "HasChampion",
        "PrepareGolden",
        "TransformGolden",
        "TransformChampion",
        "CompareChampion",
        "ChampionGate",
        "ReportOnRejection",
        "RecordRejected",
        "Rejected",
    ], entered
    champion = metrics["champion"]
    assert champion["compared"] is True and champion["passed"] is False
    assert champion["source_run_id"] == champion_run["run_id"]
    assert champion["on"] == "golden manifest" and champion["images"] == len(dataset.holdout)
    assert champion["challenger_value"] < champion["champion_value"] - champion["margin_points"] / 100
    assert challenger_run["rejection_reason"].startswith("worse than the serving model: accuracy ")
    # and nothing was deployed: no endpoint config for run 2, @serving and the endpoint unchanged
    configs = cloud.client("sagemaker").list_endpoint_configs(NameContains=run_id)
    assert configs["EndpointConfigs"] == []
    assert serving(cloud)["source_run_id"] == champion_run["run_id"]
    endpoint = cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.outputs["EndpointName"])
    assert endpoint["EndpointConfigName"] == endpoint_config and endpoint["EndpointStatus"] == "InService"
    # and the notification says why
    notices = [n for n in inbox.drain() if n["run_id"] == run_id]
    assert [n["status"] for n in notices] == ["REJECTED"], notices
    assert "worse than the serving model" in notices[0]["subject"]
    assert notices[0]["reason"] == challenger_run["rejection_reason"]
