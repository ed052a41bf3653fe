"""Hyperparameter tuning on the local cloud, end to end (slow: two real training jobs, transform, hosting).

A stack with gtpipe:tuning (two trials over the learning rate, one at a time) takes an augmented manifest:
the run goes ChooseTraining -> Tune, the local SageMaker runs the trials as training jobs, the best trial's
model is the one created, evaluated and deployed, and the run's report lists both trials with the best marked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from local.drivers.runs import execution_history
from tests.local_cloud.conftest import Dataset, follow_dropped, jsonl, running_cloud, small_context
from training.datasets import augmented_manifest_line

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 600.0
TUNING = {
    "ranges": {"learning_rate": {"type": "continuous", "min": 0.001, "max": 0.2, "scaling": "Logarithmic"}},
    "maxJobs": 2,
    "maxParallelJobs": 1,
    "randomSeed": 3,
}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The test configuration with tuning, and a quality threshold of 0 (whichever trial wins is deployed)."""
    context = {**small_context(), "gtpipe:qualityThreshold": 0.0, "gtpipe:tuning": TUNING}
    with running_cloud(tmp_path_factory.mktemp("tuning-cloud"), context, "cdk.out-tuning") as local_cloud:
        yield local_cloud


def test_the_best_trial_is_deployed_and_the_report_lists_the_trials(cloud: Any, dataset: Dataset) -> None:
    # Given an augmented manifest dropped on a stack with gtpipe:tuning
    bucket = cloud.outputs["DataBucketName"]
    lines = [augmented_manifest_line(r, "category", job_name="truth") for r in dataset.labeled]
    put = cloud.client("s3").put_object(Bucket=bucket, Key="incoming/tuned.jsonl", Body=jsonl(lines))
    # When its run ends
    progress = follow_dropped(cloud, "incoming/tuned.jsonl", put.get("VersionId"), timeout=RUN_TIMEOUT)
    run = dict(progress.run or {})
    assert run.get("status") == "SUCCEEDED", run
    history = execution_history(cloud.client("stepfunctions"), run["execution_arn"])
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    cloud.wait_idle(30)
    # Then it tuned instead of training once
    assert entered[entered.index("Split") + 1 : entered.index("Split") + 5] == [
        "ChooseTraining",
        "Tune",
        "DescribeBestTrainingJob",
        "CreateModel",
    ]
    assert "Train" not in entered
    sagemaker = cloud.client("sagemaker")
    tuning_name = hashlib.md5(run["run_id"].encode()).hexdigest()  # the Tune state's States.Hash
    tuning = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning_name)
    assert tuning["HyperParameterTuningJobStatus"] == "Completed"
    assert tuning["TrainingJobStatusCounters"]["Completed"] == 2
    trials = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=tuning_name
    )["TrainingJobSummaries"]
    values = {t["TrainingJobName"]: t["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for t in trials}
    best = tuning["BestTrainingJob"]["TrainingJobName"]
    assert values[best] == max(values.values()) and len(values) == 2
    rates = {t["TunedHyperParameters"]["learning_rate"] for t in trials}
    print(f"[tuning] trials {values} (learning rates {sorted(rates)}); best {best}")
    # and the best trial's model is the one serving
    endpoint = sagemaker.describe_endpoint(EndpointName=cloud.outputs["EndpointName"])
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    assert model["PrimaryContainer"]["ModelDataUrl"] == f"s3://{bucket}/models/{best}/output/model.tar.gz"
    assert model["ModelName"].startswith(run["run_id"])
    # and the report lists both trials with their learning rates, the best one marked
    report_key = f"reports/{run['run_id']}/index.html"
    page = cloud.client("s3").get_object(Bucket=bucket, Key=report_key)["Body"].read().decode()
    assert "Hyperparameter tuning: 2 trials" in page
    assert f"{best} <strong>(best)</strong>" in page
    for trial in trials:
        assert trial["TrainingJobName"] in page and trial["TunedHyperParameters"]["learning_rate"] in page
