"""Every Failed* state of state_machines/pipeline.asl.json is entered by an execution.

The states come from the definition itself, so a new Failed* state without a scenario below fails
``test_every_failure_state_is_entered_and_recorded``. Each scenario breaks one step through the harness of
tests/pipeline/harness.py (scripted SageMaker outcomes, test double Lambdas, the real start_run and notify
handlers on moto) and checks that the execution went from that step into its Failed* state and on to
PipelineFailed, and that the ledger and the notification name the step, the error and the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.sagemaker import JobKind, fail, succeed
from local.sfn import active_handle
from tests.pipeline.harness import (
    FUNCTIONS,
    LABEL_COUNTERS,
    ROOT,
    Pipeline,
    augmented_manifest,
    input_manifest,
    make_doubles,
)
from tests.pipeline.harness import pipeline as pipeline  # fixture
from tests.pipeline.harness import pipeline_config as pipeline_config  # fixture
from tests.pipeline.label_errors_support import enable_label_errors

DEFINITION = json.loads((ROOT / "state_machines" / "pipeline.asl.json").read_text())


def all_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state of a States object, those inside Parallel branches and Map processors included."""
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from all_states(branch["States"])
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from all_states(processor["States"])


FAILURE_STATES = sorted(name for name, _ in all_states(DEFINITION["States"]) if name.startswith("Failed"))


class SplitError(Exception):
    """Named like lambdas/split's error: the Step Functions error name is the exception class name."""


class EvaluationError(Exception):
    """Named like lambdas/evaluate's error."""


class EndpointRolledBack(Exception):
    """Named like lambdas/endpoint's error."""


class RegistryError(Exception):
    """Named like gtpipe_shared.model_registry's error."""


class LabelErrorsError(Exception):
    """Named like lambdas/label_errors' error."""


def throttled(operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "ledger write throttled"}},
        operation,
    )


def failing_function(
    function: str, error: Exception, when: Callable[[dict[str, Any]], bool] = lambda event: True
) -> Callable[[Pipeline], None]:
    """Arrange: ``function``'s handler raises ``error`` for the events ``when`` selects, as before otherwise."""

    def arrange(pipeline: Pipeline) -> None:
        original = make_doubles(pipeline.doubles, pipeline.sfn, pipeline.sagemaker)[FUNCTIONS[function]]

        def handler(event: dict[str, Any], context: Any) -> Any:
            if when(event):
                raise error
            return original(event, context)

        active_handle().lambdas.register(FUNCTIONS[function], handler)

    return arrange


def for_action(action: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event.get("action") == action


def sagemaker_refuses(operation: str, code: str, message: str, times: int) -> Callable[[Pipeline], None]:
    """Arrange: the next ``times`` calls of a SageMaker request-response ``operation`` answer ``code``."""
    return lambda pipeline: pipeline.sagemaker.inject_error(operation, code, message, times=times)


def job_fails(kind: JobKind, reason: str) -> Callable[[Pipeline], None]:
    """Arrange: the next SageMaker job of ``kind`` fails with ``reason``."""

    def arrange(pipeline: Pipeline) -> None:
        pipeline.runner.script(kind, fail(reason))

    return arrange


def labeling_succeeds_then(arrange: Callable[[Pipeline], None]) -> Callable[[Pipeline], None]:
    """Arrange: the Ground Truth job completes, then ``arrange``."""

    def both(pipeline: Pipeline) -> None:
        pipeline.runner.script("labeling", succeed(outputs={"LabelCounters": LABEL_COUNTERS}))
        arrange(pipeline)

    return both


def reviewer_rejects(reason: str) -> Callable[[Pipeline], None]:
    """Arrange: manual approval, and a reviewer who rejects the package with ``reason``."""

    def arrange(pipeline: Pipeline) -> None:
        pipeline.configure_registry(approval="manual")
        pipeline.doubles.approval_decision = ("Rejected", reason)

    return arrange


def with_label_errors(arrange: Callable[[Pipeline], None]) -> Callable[[Pipeline], None]:
    """Arrange: a stack with gtpipe:labelErrors, then ``arrange``."""

    def both(pipeline: Pipeline) -> None:
        enable_label_errors(pipeline.configure_builtin)
        arrange(pipeline)

    return both


def deployment_fails(pipeline: Pipeline) -> None:
    pipeline.doubles.endpoint_outcome = ("EndpointFailed", "Update rolled back: invocation errors alarm")


@dataclass(frozen=True)
class Scenario:
    """A fault that ends a run in one Failed* state, and what the ledger must then say."""

    caught_by: str  # the state whose Catch leads into the Failed* state
    step: str  # the ledger's failure.step
    error: str  # the ledger's failure.error (the Step Functions error name)
    reason: str  # part of the ledger's failure.cause
    arrange: Callable[[Pipeline], None]
    labeling: bool = False  # drop an unlabeled manifest (Ground Truth labeling) instead of an augmented one
    # Start the execution otherwise than by a dropped manifest (a rollback); returns its run id.
    start: Callable[[Pipeline], str] | None = None


def start_rollback_of_a_foreign_package(pipeline: Pipeline) -> str:
    """``gtpipe deploy --package`` of another stack's package: the rollback execution is started as the CLI
    starts it (the CLI itself would refuse first: tests/pipeline/test_rollback.py)."""
    run_id = "rollback-v1-0123456789ab"
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/other-models-0123/1"
    pipeline.sfn.start_execution(
        stateMachineArn=pipeline.state_machine_arn,
        name=run_id,
        input=json.dumps({"run_id": run_id, "rollback": {"package_arn": arn}}),
    )
    return run_id


SCENARIOS = {
    "FailedLabeling": Scenario(
        "Label",
        "labeling",
        "States.TaskFailed",
        "workteam has no members",
        job_fails("labeling", "ClientError: workteam has no members"),
        labeling=True,
    ),
    "FailedRecord": Scenario(
        "RecordLabeling",
        "record",
        "ClientError",
        "ledger write throttled",
        labeling_succeeds_then(failing_function("notify", throttled("UpdateItem"), for_action("labeled"))),
        labeling=True,
    ),
    "FailedSplit": Scenario(
        "Split",
        "split",
        "SplitError",
        "only 1 class present in the labels",
        failing_function("split", SplitError("only 1 class present in the labels")),
    ),
    "FailedTraining": Scenario(
        "Train",
        "training",
        "States.TaskFailed",
        "AlgorithmError: out of memory",
        job_fails("training", "AlgorithmError: out of memory"),
    ),
    "FailedLabelErrors": Scenario(
        "FlagLabelErrors",
        "labelerrors",
        "LabelErrorsError",
        "no usable out-of-fold prediction",
        with_label_errors(
            failing_function(
                "label_errors",
                LabelErrorsError("no usable out-of-fold prediction for any of 9 objects"),
                for_action("flag"),
            )
        ),
    ),
    "FailedModel": Scenario(
        "CreateModel",
        "model",
        "SageMaker.AmazonSageMakerException",
        "Could not access model data",
        # 1 attempt + 5 retries of AmazonSageMakerException
        sagemaker_refuses("CreateModel", "ValidationException", "Could not access model data", times=6),
    ),
    "FailedTransform": Scenario(
        "Transform",
        "transform",
        "States.TaskFailed",
        "ClientError: unsupported content type",
        job_fails("transform", "ClientError: unsupported content type"),
    ),
    "FailedEvaluation": Scenario(
        "Evaluate",
        "evaluation",
        "EvaluationError",
        "no usable transform output",
        failing_function("evaluate", EvaluationError("no usable transform output")),
    ),
    "FailedRegistration": Scenario(
        "RegisterModel",
        "registration",
        "RegistryError",
        "the run's state has no split.class_names",
        failing_function(
            "registry", RegistryError("the run's state has no split.class_names"), for_action("register")
        ),
    ),
    "FailedApproval": Scenario(
        "WaitForApproval",
        "approval",
        "ModelRejected",
        "cats labeled as dogs in batch 3",
        reviewer_rejects("cats labeled as dogs in batch 3"),
    ),
    "FailedEndpointConfig": Scenario(
        "CreateEndpointConfig",
        "endpointconfig",
        "SageMaker.ResourceLimitExceededException",
        "ml.m5.large for endpoint usage",
        # 1 attempt + 6 retries of ResourceLimitExceededException
        sagemaker_refuses(
            "CreateEndpointConfig",
            "ResourceLimitExceeded",
            "The account-level service limit 'ml.m5.large for endpoint usage' is 0 Instances",
            times=7,
        ),
    ),
    "FailedDeployment": Scenario(
        "DeployEndpoint",
        "deployment",
        "EndpointFailed",
        "Update rolled back: invocation errors alarm",
        deployment_fails,
    ),
    "FailedVerification": Scenario(
        "VerifyEndpoint",
        "verification",
        "EndpointRolledBack",
        "endpoint gtpipe-endpoint rolled back",
        failing_function(
            "endpoint", EndpointRolledBack("endpoint gtpipe-endpoint rolled back"), for_action("verify")
        ),
    ),
    "FailedRollback": Scenario(
        "PrepareRollback",
        "rollback",
        "RollbackRefused",
        "not one of this stack's groups",
        lambda pipeline: None,
        start=start_rollback_of_a_foreign_package,
    ),
    "FailedPublish": Scenario(
        "Publish",
        "publish",
        "ClientError",
        "ledger write throttled",
        failing_function("notify", throttled("TransactWriteItems"), for_action("publish")),
    ),
}


def test_scenarios_are_the_failure_states_of_the_definition() -> None:
    # Given the Failed* states of the definition / Then each has a scenario and no scenario is stale
    assert FAILURE_STATES, "the definition has no Failed* state"
    assert sorted(SCENARIOS) == FAILURE_STATES
    # and each scenario's step catches into its state
    states = dict(all_states(DEFINITION["States"]))
    for name, scenario in SCENARIOS.items():
        catchers = states[scenario.caught_by].get("Catch", [])
        assert name in [catcher["Next"] for catcher in catchers], (name, scenario.caught_by)


@pytest.mark.parametrize("state", FAILURE_STATES)
def test_every_failure_state_is_entered_and_recorded(pipeline: Pipeline, state: str) -> None:
    if state not in SCENARIOS:
        pytest.fail(f"no scenario drives an execution into {state}: add one to SCENARIOS")
    scenario = SCENARIOS[state]
    # Given the scenario's fault
    scenario.arrange(pipeline)
    # When a manifest is dropped
    lines = input_manifest() if scenario.labeling else augmented_manifest()
    if scenario.start is not None:
        run_id = scenario.start(pipeline)
    else:
        run_id = pipeline.drop("incoming/faulty.manifest", lines)["run_id"]
    described, entered = pipeline.wait(run_id)
    # Then the execution went from the failing step into the Failed* state, on to PipelineFailed, and FAILED
    assert described["status"] == "FAILED"
    assert state in entered, entered
    assert entered[entered.index(state) - 1] == scenario.caught_by, entered
    after = {
        "FailedLabeling": ["SkipReport"],
        "FailedRollback": ["SkipReport"],
        # a failed deployment is rolled back first (tests/pipeline/test_endpoint_cleanup.py)
        "FailedDeployment": ["CleanUpEndpoint", "ReportOnFailure"],
        "FailedVerification": ["CleanUpEndpoint", "ReportOnFailure"],
        "FailedPublish": ["CleanUpEndpoint", "ReportOnFailure"],
    }.get(state, ["ReportOnFailure"])
    assert entered[entered.index(state) :] == [state, *after, "RecordFailure", "PipelineFailed"]
    # and the ledger records the step, the error and the reason
    run = pipeline.ledger(run_id)
    assert run["status"] == "FAILED"
    assert run["failure"]["step"] == scenario.step
    assert run["failure"]["error"] == scenario.error
    assert scenario.reason in run["failure"]["cause"]
    # and a failure after labeling is reported, with the failure in the state the report reads
    reported = [
        (call["outcome"], call["state"]["failure"]["step"]) for call in pipeline.doubles.called("report")
    ]
    nothing_to_report = state in ("FailedLabeling", "FailedRollback")
    assert reported == ([] if nothing_to_report else [("failed", scenario.step)])
    # and one notification says the run failed at that step, for that reason
    notifications = pipeline.notifications()
    assert [(n["run_id"], n["status"], n["step"], n["error"]) for n in notifications] == [
        (run_id, "FAILED", scenario.step, scenario.error)
    ]
    assert notifications[0]["reason"] == run["failure"]["cause"]
    # and a failed run never publishes its model
    assert pipeline.ledger("@serving") == {}
