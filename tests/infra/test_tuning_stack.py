"""gtpipe:tuning in the synthesized stack: the state machine role may run its tuning jobs (and only then),
the definition fits the training instance type, and start_run's configuration carries the section."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.conftest import Synthesized
from tests.infra.test_iam_findings import by_sid, rendered
from tests.infra.test_security import as_list, role_statements

TUNING_ACTIONS = {
    "sagemaker:CreateHyperParameterTuningJob",
    "sagemaker:DescribeHyperParameterTuningJob",
    "sagemaker:StopHyperParameterTuningJob",
    "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
}


def machine_statements(synth: Synthesized) -> dict[str, dict[str, Any]]:
    return by_sid(role_statements(synth, "PipelineStateMachineRole"))


def definition(synth: Synthesized) -> dict[str, Any]:
    machine = next(iter(synth.main.find_resources("AWS::StepFunctions::StateMachine").values()))
    body = machine["Properties"]["DefinitionString"]
    return json.loads(body if isinstance(body, str) else "".join(str(p) for p in body["Fn::Join"][1]))


def test_with_tuning_the_machine_runs_tuning_jobs_of_this_account_only(synth_tuning: Synthesized) -> None:
    # Given gtpipe:tuning / When synthesized / Then the role may create, describe, stop and list tuning jobs
    statements = machine_statements(synth_tuning)
    jobs = statements["RunSageMakerJobs"]
    assert set(as_list(jobs["Action"])) >= TUNING_ACTIONS
    assert not any("*" in action for action in as_list(jobs["Action"]))
    assert any(":hyper-parameter-tuning-job/*" in rendered(r) for r in as_list(jobs["Resource"]))
    # and the .sync integration's managed rule for tuning jobs, next to training's and transform's
    rules = statements["SyncIntegrationRules"]
    names = sorted(rendered(r).rsplit(":rule/", 1)[1].split('"')[0] for r in as_list(rules["Resource"]))
    assert "StepFunctionsGetEventsForSageMakerTuningJobsRule" in names and len(names) == 3


def test_without_tuning_no_tuning_permission_is_granted(synth: Synthesized) -> None:
    statements = machine_statements(synth)
    assert not TUNING_ACTIONS & set(as_list(statements["RunSageMakerJobs"]["Action"]))
    assert "TuningJobsRule" not in rendered(statements["SyncIntegrationRules"])


def test_the_trials_get_no_volume_key_on_the_default_instance_storage_type(synth_tuning: Synthesized) -> None:
    # Given the default training type ml.g4dn.xlarge (NVMe instance storage) / Then neither Train nor Tune
    # sends a volume key, which SageMaker refuses for such types (infra/constructs/definition.py)
    text = json.dumps(definition(synth_tuning)["States"]["Tune"])
    assert "VolumeKmsKeyId" not in text and "VolumeSizeInGB" in text


def test_start_run_carries_the_tuning_section(synth_tuning: Synthesized) -> None:
    functions = synth_tuning.main.find_resources("AWS::Lambda::Function")
    start_run = next(f for f in functions.values() if f["Properties"]["Handler"].startswith("start_run."))
    config = rendered(start_run["Properties"]["Environment"]["Variables"]["PIPELINE_CONFIG"])
    assert "ContinuousParameterRanges" in config and "max_parallel_jobs" in config


def test_the_report_may_list_the_trials_only_with_tuning(
    synth_tuning: Synthesized, synth: Synthesized
) -> None:
    # Given gtpipe:tuning / Then the report function may list the trials of the stack's tuning jobs, and
    # without it the report has no such permission
    listing = by_sid(role_statements(synth_tuning, "PipelineReportFunctionRole"))["ListTuningTrials"]
    assert as_list(listing["Action"]) == ["sagemaker:ListTrainingJobsForHyperParameterTuningJob"]
    assert ":hyper-parameter-tuning-job/*" in rendered(listing["Resource"])
    assert "ListTuningTrials" not in by_sid(role_statements(synth, "PipelineReportFunctionRole"))
