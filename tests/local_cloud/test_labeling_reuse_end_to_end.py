"""Model reuse for labeling on the local cloud, end to end (slow: labeling jobs train models).

Run A labels digits with automated labeling (the dataset is over the lowered minimum), which ends with a
final active-learning model; the ledger records it under the label set's fingerprint. Run B, on other
digits with the same task type and class names, starts its labeling job from that model
(``InitialActiveLearningModelArn``), so the model labels the objects it is sure of and people label fewer
than in the control: the same labeling job without the model. The cost of both runs is recorded, human
and machine apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from local.drivers.demo import upload_dataset
from local.drivers.demo_tasks import TASKS, digit_reference, write_reference_answers
from local.drivers.runs import RunProgress
from tests.local_cloud.conftest import follow_dropped, jsonl, running_cloud, small_context
from training.datasets import DigitRecord, write_digits_dataset

pytestmark = pytest.mark.slow

FIRST, SECOND = 400, 200
RUN_TIMEOUT = 600.0


def reuse_context() -> dict[str, Any]:
    """The test configuration with model reuse (which turns automated labeling on) and batches of 100.

    Why the second run's threshold is reached, whatever the machine: the first run's final model is
    trained on 100 human labels; on the second run's 100 validation objects it agrees with 87 and its
    first disagreement, in confidence order, is the 52nd object, far past the 18 agreeing objects the
    95% rule needs (with batches of 60 and 10 epochs it was the 1st to 13th: a coin flip decided by
    floating-point noise). Run ids (seeded S3 versions), labelers and training threads are fixed too.

    The gate is off: this module is about labeling, not the deployed model's quality.
    """
    return {
        **small_context(),
        "gtpipe:qualityThreshold": 0.0,
        # this module is about labeling with a reused model; the second run's model is not compared with the
        # first's (champion/challenger is tested in test_champion_challenger_end_to_end.py)
        "gtpipe:championChallenger": {"enabled": False},
        "gtpipe:labeling": {"workersPerObject": 3, "reuseModel": True, "maxConcurrentTaskCount": 100},
    }


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with running_cloud(
        tmp_path_factory.mktemp("reuse-cloud"),
        reuse_context(),
        "cdk.out-tests-reuse",
        labeling_auto_min_objects=200,
    ) as local_cloud:
        yield local_cloud


@pytest.fixture(scope="module")
def digits(cloud: Any, tmp_path_factory: pytest.TempPathFactory) -> list[DigitRecord]:
    bucket = str(cloud.outputs["DataBucketName"])
    records = write_digits_dataset(
        tmp_path_factory.mktemp("digits"),
        bucket=bucket,
        prefix=TASKS["image-classification"].image_prefix,
        limit=FIRST + SECOND,
        seed=3,
    )
    upload_dataset(cloud, bucket, records)
    write_reference_answers(cloud.settings.reference_labels_path, [digit_reference(r) for r in records])
    return records


def drop(cloud: Any, key: str, records: list[DigitRecord]) -> RunProgress:
    body = jsonl([{"source-ref": r.source_ref} for r in records])
    put = cloud.client("s3").put_object(Bucket=cloud.outputs["DataBucketName"], Key=key, Body=body)
    progress = follow_dropped(cloud, key, put.get("VersionId"), timeout=RUN_TIMEOUT)
    cloud.wait_idle(30)
    return progress


@pytest.fixture(scope="module")
def runs(cloud: Any, digits: list[DigitRecord]) -> tuple[RunProgress, RunProgress]:
    first = drop(cloud, "incoming/first.manifest", digits[:FIRST])
    second = drop(cloud, "incoming/second.manifest", digits[FIRST:])
    return first, second


def test_first_run_auto_labels_and_records_its_final_model(runs: tuple[RunProgress, RunProgress]) -> None:
    first = runs[0].run or {}
    # Given a dataset over the automated-labeling minimum and no earlier model
    assert runs[0].run_status == "SUCCEEDED", first.get("failure")
    # Then the labeling job ended with a final active-learning model, recorded under the label set
    assert first["final_active_learning_model_arn"].startswith("arn:aws:sagemaker:")
    assert first["labeling_fingerprint"].startswith("lf1-")
    assert not first.get("reused_model_arn")
    counters = first["label_counters"]
    assert (
        counters["human"] + counters["machine"] + counters["failed"] + counters.get("unlabeled", 0) == FIRST
    )
    # And the cost is recorded human and machine apart, next to the estimate
    cost = first["labeling_cost"]
    assert cost["estimated_usd"] == pytest.approx(FIRST * (0.08 + 3 * 0.012), abs=0.01)
    assert cost["actual_usd"] == pytest.approx(cost["human_usd"] + cost["machine_usd"], abs=0.01)


CREATE_LABELING_JOB_FIELDS = (
    "LabelAttributeName",
    "InputConfig",
    "OutputConfig",
    "RoleArn",
    "LabelCategoryConfigS3Uri",
    "StoppingConditions",
    "LabelingJobAlgorithmsConfig",
    "HumanTaskConfig",
)


@pytest.fixture(scope="module")
def control(cloud: Any, runs: tuple[RunProgress, RunProgress]) -> dict[str, Any]:
    """The second run's labeling job again, as the pipeline created it but without the first run's model
    (the seed notebook's control job): DescribeLabelingJob once it completed."""
    second = runs[1].run or {}
    job_name = str(second["labeling_job_arn"]).rsplit("/", 1)[-1]
    sagemaker = cloud.client("sagemaker")
    job = sagemaker.describe_labeling_job(LabelingJobName=job_name)
    request = {field: job[field] for field in CREATE_LABELING_JOB_FIELDS if field in job}
    request["LabelingJobAlgorithmsConfig"].pop("InitialActiveLearningModelArn")
    name = f"{job_name[:50]}-control"
    sagemaker.create_labeling_job(LabelingJobName=name, **request)
    return dict(cloud.sagemaker.wait_for_job("labeling", name, timeout=RUN_TIMEOUT))


def test_second_run_starts_from_the_first_runs_model_and_needs_fewer_human_labels(
    cloud: Any, runs: tuple[RunProgress, RunProgress], control: dict[str, Any]
) -> None:
    first, second = (run.run or {} for run in runs)
    assert runs[1].run_status == "SUCCEEDED", second.get("failure")
    # Then the second run recorded the first run's final model as the one its labeling started from
    assert second["reused_model_arn"] == first["final_active_learning_model_arn"]
    assert second["reused_model_source_run_id"] == runs[0].run_id
    assert second["labeling_fingerprint"] == first["labeling_fingerprint"]
    # And its labeling job was created with that model as InitialActiveLearningModelArn
    job_name = str(second["labeling_job_arn"]).rsplit("/", 1)[-1]
    job = cloud.client("sagemaker").describe_labeling_job(LabelingJobName=job_name)
    config = job["LabelingJobAlgorithmsConfig"]
    assert config["InitialActiveLearningModelArn"] == first["final_active_learning_model_arn"]
    # And every object is accounted for
    counters = second["label_counters"]
    print("reuse", counters, "control", control["LabelCounters"])
    assert (
        counters["human"] + counters["machine"] + counters["failed"] + counters.get("unlabeled", 0) == SECOND
    )
    # And the reused model labeled objects, so people labeled fewer than in the same job without it
    assert control["LabelingJobStatus"] == "Completed", control.get("FailureReason")
    assert counters["machine"] > 0
    assert counters["human"] < control["LabelCounters"]["HumanLabeled"]
    # And, human and machine labels priced apart, the labeling cost less than estimated (all by people)
    cost = second["labeling_cost"]
    assert cost["actual_usd"] == pytest.approx(cost["human_usd"] + cost["machine_usd"], abs=0.01)
    assert cost["actual_usd"] < cost["estimated_usd"]
