"""The pipeline's state stays within Step Functions' 256 KiB payload quota for the largest configuration the
product accepts (issue 14): the real definition runs in the local interpreter, which fails an execution
with ``States.DataLimitExceeded`` (and refuses an execution input) over the quota as AWS does
(https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html#service-limits-task-executions).
"""

from __future__ import annotations

import json
import os

import pytest
from gtpipe_shared.aws_limits import CLASS_LIST_MAX_JSON_BYTES, class_list_json_bytes, class_list_problem
from gtpipe_shared.config import ConfigError as FunctionConfigError
from gtpipe_shared.config import load_pipeline_config

from infra.config import MAX_LABEL_CATEGORIES, ConfigError, StackConfig
from local.sagemaker import fail, succeed
from local.sfn.payload_limits import max_payload_bytes, payload_bytes
from tests.infra.conftest import project_context
from tests.pipeline.harness import HAPPY_PATH, LABEL_COUNTERS, Pipeline, input_manifest
from tests.pipeline.harness import pipeline as pipeline  # fixtures, re-exported
from tests.pipeline.harness import pipeline_config as pipeline_config


def largest_class_list(count: int = MAX_LABEL_CATEGORIES) -> list[str]:
    """``count`` unique names whose JSON is exactly :data:`CLASS_LIST_MAX_JSON_BYTES` long."""
    names = [f"{index:04d}" for index in range(count)]
    spare = CLASS_LIST_MAX_JSON_BYTES - class_list_json_bytes(names)
    names = [name + "x" * (spare // count) for name in names]
    names[-1] += "x" * (CLASS_LIST_MAX_JSON_BYTES - class_list_json_bytes(names))
    assert (
        class_list_problem(names) is None and class_list_problem([*names[:-1], names[-1] + "x"]) is not None
    )
    return names


def test_the_largest_accepted_class_list_runs_the_happy_path_within_the_quota(pipeline: Pipeline) -> None:
    # given the most label categories the configuration accepts, their names as long as the budget allows
    config = json.loads(os.environ["PIPELINE_CONFIG"])
    config["label_categories"] = largest_class_list()
    os.environ["PIPELINE_CONFIG"] = json.dumps(config)
    pipeline.runner.script("labeling", succeed(outputs={"LabelCounters": LABEL_COUNTERS}))
    # when a manifest is dropped and the run goes the whole way
    started = pipeline.drop("incoming/many-classes.manifest", input_manifest())
    described, entered = pipeline.wait(started["run_id"], timeout=60)
    # then it succeeds, and the largest state it carried is within the quota
    assert (described["status"], described.get("error"), described.get("cause")) == ("SUCCEEDED", None, None)
    assert entered == HAPPY_PATH
    assert payload_bytes(described["output"]) <= max_payload_bytes()


def test_the_largest_accepted_class_list_fails_a_run_within_the_quota(pipeline: Pipeline) -> None:
    # given the largest class list and a training job that fails with the longest reason SageMaker reports
    config = json.loads(os.environ["PIPELINE_CONFIG"])
    config["label_categories"] = largest_class_list()
    os.environ["PIPELINE_CONFIG"] = json.dumps(config)
    pipeline.runner.script("labeling", succeed(outputs={"LabelCounters": LABEL_COUNTERS}))
    pipeline.runner.script("training", fail("AlgorithmError: " + "y" * 1000))
    # when the run fails at training
    started = pipeline.drop("incoming/many-classes-failing.manifest", input_manifest())
    described, entered = pipeline.wait(started["run_id"], timeout=60)
    # then the failure path (which hands the whole state to the report) runs to its end: no DataLimitExceeded
    assert described["status"] == "FAILED"
    assert described.get("error") != "States.DataLimitExceeded", described.get("cause")
    assert entered[-4:] == ["FailedTraining", "ReportOnFailure", "RecordFailure", "PipelineFailed"]


def test_a_class_list_one_byte_over_the_budget_is_refused_at_synth_and_by_start_run() -> None:
    # given the largest accepted class list with one more character
    names = largest_class_list()
    names[-1] += "x"
    # when synth reads it from cdk.json's context / then it names the budget
    with pytest.raises(ConfigError, match=r"labelCategories: the label categories take 49153 bytes"):
        StackConfig.from_context(project_context(labelCategories=names).get)
    # and when start_run's configuration model reads it / then it refuses it too
    raw = json.dumps({"data_bucket": "bucket", "label_categories": names})
    with pytest.raises(FunctionConfigError, match=r"more than 49152"):
        load_pipeline_config(raw)
