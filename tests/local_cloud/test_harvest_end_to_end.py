"""Harvest → relabel → retrain on the local cloud, end to end (slow: two trainings, transforms, hosting).

Run 1 trains on upright digits and serves. The API then sees a shifted stream: rotated digits (capture on,
every answer kept), and three users correct a wrong answer. Drift monitoring is on: the monitor's window
(fired after the stream) breaches the embedding threshold, and the embedding drift alarm goes to ALARM and
notifies the topic (the drift scenario's helpers, tests/local_cloud/drift_scenario.py). The harvest schedule fires: the harvester takes
the corrections, the least confident answers (balanced over predicted classes) and a random sample within its
budget, copies the images under images/feedback/ and drops incoming/feedback-<day>.manifest. That run is
labeled by the simulated workforce (the truth of the rotated digits), trains on the label set's cumulative
dataset (run 1's data plus the new labels) starting from run 1's serving model (incremental training), passes the champion/challenger gate against run 1's model, and
deploys. The accuracy on held-out rotated digits (asked with capture off) rises; the human answers spent are
in the ledger. The loop itself is :func:`local.drivers.lifecycle.run_loop` (also ``make demo LOOP=1``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local.drivers.lifecycle import LOOP_CONTEXT, LoopSizes, run_loop
from local.drivers.runs import get_run
from tests.local_cloud.conftest import Inbox, running_cloud, small_context
from tests.local_cloud.drift_scenario import DRIFT_ALARMS, alarm_notifications

pytestmark = pytest.mark.slow

SIZES = LoopSizes(upright=300, stream=240, held_out=150, corrections=3)
BUDGET = LOOP_CONTEXT["gtpipe:harvest"]["budget"]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The test configuration with the harvester and drift monitoring on and every answer captured
    (samplePercent 100); alarms are evaluated only when the loop asks (no alarm timer)."""
    context = {**small_context(), **LOOP_CONTEXT}
    with running_cloud(
        tmp_path_factory.mktemp("harvest-cloud"), context, "cdk.out-harvest", alarm_tick_seconds=0
    ) as local_cloud:
        yield local_cloud


def manifest_refs(cloud: Any, bucket: str, key: str) -> list[str]:
    body = cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return [json.loads(line)["source-ref"] for line in body.splitlines() if line.strip()]


def test_a_harvest_of_the_shifted_stream_retrains_a_better_model(
    cloud: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    bucket = str(cloud.outputs["DataBucketName"])
    inbox = Inbox.subscribe(cloud, "loop-inbox")
    # given a model trained on upright digits serving a rotated stream, three of its answers corrected
    # when the drift monitor measures the stream's window, the harvest schedule fires and the harvest's run ends
    loop = run_loop(cloud, tmp_path_factory.mktemp("harvest-data"), sizes=SIZES, say=print)
    print(
        f"[harvest] drift: {loop.drift.describe()}; accuracy on held-out rotated digits: before {loop.before:.3f}, after {loop.after:.3f}; "
        f"harvest {loop.harvest.get('by_reason')}, label counters {loop.second.get('label_counters')}, "
        f"labeling cost {loop.second.get('labeling_cost')}, "
        f"champion {(loop.second.get('metrics') or {}).get('champion')}, seconds {loop.seconds}"
    )
    assert loop.first.get("status") == "SUCCEEDED", loop.first
    assert all(item.captured for item in loop.sent) and len(loop.corrected) == 3
    # then the window held every request the loop made (the held-out digits asked once, the stream) and
    # breached the embedding threshold (rotation keeps the pixels' statistics, so the input shift may not
    # breach); the embedding drift alarm went to ALARM and every drift alarm in ALARM notified the topic
    drift = loop.drift
    assert drift.summary["run_id"] == loop.first["run_id"]
    assert drift.summary["metrics"]["WindowRequests"] == SIZES.held_out + SIZES.stream, drift.summary
    assert "EmbeddingDistance" in drift.summary["breaches"], drift.summary
    assert "Gtpipe-drift-embedding" in drift.alarming, drift.states
    assert set(drift.alarming) <= set(DRIFT_ALARMS)
    notified = alarm_notifications(inbox, "ALARM")
    assert set(drift.alarming) <= set(notified), notified
    assert notified["Gtpipe-drift-embedding"]["Trigger"]["MetricName"] == "EmbeddingDistance"
    # then the harvest dropped one feedback manifest of at most the budget: the corrections first, then
    # more least-confident answers than sampled ones
    harvest = loop.harvest
    picked = harvest["picked"]
    assert harvest["manifest_key"].startswith("incoming/feedback-") and 0 < picked <= BUDGET
    assert harvest["by_reason"]["corrected"] == 3
    assert harvest["by_reason"]["uncertain"] >= harvest["by_reason"].get("sample", 0)
    assert {p["inference_id"] for p in harvest["picks"][:3]} == {i.inference_id for i in loop.corrected}
    assert len(manifest_refs(cloud, bucket, harvest["manifest_key"])) == picked
    # and its run was labeled by people, trained on the cumulative dataset and deployed
    second = loop.second
    assert second.get("status") == "SUCCEEDED", second
    assert "Label" in loop.second_states and "TransformChampion" in loop.second_states
    split = {
        name: manifest_refs(cloud, bucket, f"splits/{second['run_id']}/{name}.manifest")
        for name in ("train", "validation")
    }
    both = split["train"] + split["validation"]
    assert len(both) == SIZES.upright + picked
    assert sum("/images/feedback/" in ref for ref in both) == picked
    assert {r.source_ref for r in loop.upright} == {ref for ref in both if "/images/feedback/" not in ref}
    # and it trained incrementally from run 1's serving model: its training job had the 'model' channel of
    # that model's artifact (gtpipe:harvest.warmStart, on by default), and its ledger item says so
    assert "TrainIncremental" in loop.second_states and "Train" not in loop.second_states
    sagemaker = cloud.client("sagemaker")
    first_job = sagemaker.describe_training_job(TrainingJobName=f"{loop.first['run_id']}-train-0")
    job = sagemaker.describe_training_job(TrainingJobName=f"{second['run_id']}-train-0")
    [model] = [channel for channel in job["InputDataConfig"] if channel["ChannelName"] == "model"]
    assert model["ContentType"] == "application/x-sagemaker-model"
    assert model["DataSource"]["S3DataSource"]["S3Uri"] == first_job["ModelArtifacts"]["S3ModelArtifacts"]
    assert second["warm_start"]["source_run_id"] == loop.first["run_id"] and second["dataset"]["cumulative"]
    # and the retrained model passed champion/challenger against run 1's model and now serves
    champion = second["metrics"]["champion"]
    assert champion["compared"] is True and champion["passed"] is True
    assert champion["source_run_id"] == loop.first["run_id"]
    serving = get_run(cloud.client("dynamodb"), cloud.outputs["RunsTableName"], "@serving")
    assert serving is not None and serving["source_run_id"] == second["run_id"]
    # and the human answers spent are recorded: every harvested image labeled by people
    counters = second["label_counters"]
    assert counters["human"] == picked and counters["machine"] == 0
    assert second["labeling_cost"]["actual_usd"] > 0
    # and the accuracy on the shifted stream rose
    assert loop.before < loop.after
