"""The label set's tuning jobs in the runs ledger (warm start): recorded per run, the newest finished one of the
same label set and signature found, never the run itself."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from gtpipe_shared.config import PipelineConfig, load_pipeline_config
from gtpipe_shared.tuning_ledger import (
    KEPT,
    find_parent_tuning_job,
    index_id,
    plan_tuning,
    record_tuning_job,
    tuning_job_name,
)
from start_run import handler

from tests.lambdas.conftest import Cloud, FakeContext, input_line, pipeline_config, s3_event

TUNING = {
    "objective_metric": "validation:accuracy",
    "parameter_ranges": {
        "ContinuousParameterRanges": [
            {"Name": "learning_rate", "MinValue": "0.001", "MaxValue": "0.3", "ScalingType": "Auto"}
        ]
    },
    "max_jobs": 2,
    "max_parallel_jobs": 1,
    "warm_start": True,
}


def tuned_config(classes: list[str] | None = None, **tuning: Any) -> dict[str, Any]:
    config = pipeline_config()
    config["tuning"] = {**TUNING, **tuning}
    if classes is not None:
        config["label_categories"] = classes
    return config


def load(config: dict[str, Any]) -> PipelineConfig:
    return load_pipeline_config(json.dumps(config))


def finish(cloud: Cloud, run_id: str, status: str) -> None:
    cloud.runs().put_item(Item={"run_id": run_id, "status": status})


def test_the_tuning_job_name_is_the_tune_state_s_md5_of_the_run_id() -> None:
    assert tuning_job_name("demo-1") == hashlib.md5(b"demo-1").hexdigest()
    assert len(tuning_job_name("x" * 80)) == 32


def test_the_newest_finished_run_of_the_same_label_set_is_the_parent(cloud: Cloud) -> None:
    config = load(tuned_config())
    runs = cloud.runs()
    # Given three earlier tuning runs of the label set: succeeded, rejected by the gate, still running
    for run_id, at in (("r1", "2026-01-01"), ("r2", "2026-01-02"), ("r3", "2026-01-03")):
        record_tuning_job(runs, config, run_id, at)
    finish(cloud, "r1", "SUCCEEDED")
    finish(cloud, "r2", "REJECTED")
    finish(cloud, "r3", "RUNNING")
    # When a new run looks for its parent / Then the newest whose tuning job completed: r2's, not r3's
    assert find_parent_tuning_job(runs, config, "r4") == tuning_job_name("r2")
    # And a failed run is never a parent (it may have failed while tuning)
    finish(cloud, "r2", "FAILED")
    assert find_parent_tuning_job(runs, config, "r4") == tuning_job_name("r1")
    # And a run is never its own parent
    assert find_parent_tuning_job(runs, config, "r1") is None


def test_another_label_set_or_signature_has_no_parent(cloud: Cloud) -> None:
    runs = cloud.runs()
    config = load(tuned_config())
    record_tuning_job(runs, config, "r1", "2026-01-01")
    finish(cloud, "r1", "SUCCEEDED")
    # Given another class list, another objective, or another tuned type of the same name / Then no parent
    other_classes = load(tuned_config(classes=["cat", "dog"]))
    assert index_id(other_classes) != index_id(config)
    assert find_parent_tuning_job(runs, other_classes, "r2") is None
    loss = load(tuned_config(objective_metric="validation:loss", objective_type="Minimize"))
    assert find_parent_tuning_job(runs, loss, "r2") is None
    retyped = load(
        tuned_config(
            parameter_ranges={
                "IntegerParameterRanges": [{"Name": "learning_rate", "MinValue": "1", "MaxValue": "3"}]
            }
        )
    )
    assert find_parent_tuning_job(runs, retyped, "r2") is None
    # and the same settings find it
    assert find_parent_tuning_job(runs, load(tuned_config()), "r2") == tuning_job_name("r1")


def test_the_index_keeps_the_newest_entries(cloud: Cloud) -> None:
    runs = cloud.runs()
    config = load(tuned_config())
    # Given more runs than the index keeps / When each is recorded / Then only the newest KEPT remain
    for number in range(KEPT + 3):
        record_tuning_job(runs, config, f"r{number:02d}", f"2026-01-{number + 1:02d}")
    jobs = runs.get_item(Key={"run_id": index_id(config)})["Item"]["jobs"]
    assert [job["run_id"] for job in jobs] == [f"r{n:02d}" for n in range(3, KEPT + 3)]


def test_without_warm_start_no_parent_is_looked_up_but_the_run_is_recorded(cloud: Cloud) -> None:
    runs = cloud.runs()
    record_tuning_job(runs, load(tuned_config()), "r1", "2026-01-01")
    finish(cloud, "r1", "SUCCEEDED")
    off = load(tuned_config(warm_start=False))
    assert plan_tuning(runs, off, "r2", "2026-01-02") == {"tuning_job_name": tuning_job_name("r2")}
    on = load(tuned_config())
    assert plan_tuning(runs, on, "r3", "2026-01-03") == {
        "tuning_job_name": tuning_job_name("r3"),
        "tuning_parent_job_name": tuning_job_name("r1"),
    }
    assert plan_tuning(runs, load(pipeline_config()), "r4", "2026-01-04") == {}


def test_start_run_warm_starts_from_the_previous_run_s_tuning_job(
    cloud: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINE_CONFIG", json.dumps(tuned_config()))

    def drop(key: str) -> dict[str, Any]:
        body = ("\n".join(input_line(i) for i in range(3)) + "\n").encode()
        response = cloud.put(key, body)
        event = s3_event(key, response["VersionId"], response["ETag"].strip('"'), size=len(body))
        return handler.lambda_handler(event, context)

    def execution_tuning(run_id: str) -> dict[str, Any]:
        execution = next(e for e in cloud.executions() if e["name"] == run_id)
        started = json.loads(cloud.sfn.describe_execution(executionArn=execution["executionArn"])["input"])
        return dict(started["config"]["tuning"])

    # Given a first tuning run: no earlier tuning job, so no parent (Tune)
    first = drop("incoming/first.manifest")
    assert "parent_tuning_jobs" not in execution_tuning(first["run_id"])
    assert cloud.run(first["run_id"])["tuning_job_name"] == tuning_job_name(first["run_id"])
    # When it succeeds and a second manifest of the same label set arrives
    cloud.runs().update_item(
        Key={"run_id": first["run_id"]},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": "SUCCEEDED"},
    )
    second = drop("incoming/second.manifest")
    # Then its execution warm-starts from the first run's tuning job (TuneWarmStart), and the ledger says so
    parent = {"HyperParameterTuningJobName": tuning_job_name(first["run_id"])}
    assert execution_tuning(second["run_id"])["parent_tuning_jobs"] == [parent]
    assert cloud.run(second["run_id"])["tuning_parent_job_name"] == tuning_job_name(first["run_id"])


def test_a_failed_parent_lookup_tunes_cold_and_says_why(cloud: Cloud) -> None:
    from botocore.exceptions import ClientError

    runs = cloud.runs()

    class FailingReads:
        """The runs table whose reads fail (throttled); writes go through."""

        def get_item(self, **_: Any) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "GetItem")

        def update_item(self, **kwargs: Any) -> dict[str, Any]:
            return dict(runs.update_item(**kwargs))

    # Given warmStart and a ledger that cannot be read / When the run plans its tuning
    attributes = plan_tuning(FailingReads(), load(tuned_config()), "r1", "2026-01-01")
    # Then it tunes without a parent, records why, and is still recorded for the next run
    assert (
        "tuning_parent_job_name" not in attributes
        and "ThrottlingException" in attributes["tuning_lookup_error"]
    )
    assert runs.get_item(Key={"run_id": index_id(load(tuned_config()))})["Item"]["jobs"][0]["run_id"] == "r1"
