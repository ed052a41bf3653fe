"""The state machine's role authorizes each service integration call (issue 14: IAM enforced locally).

Step Functions calls Lambda and SageMaker with the credentials of the state machine's role
(``StateCredentials.role_arn``). :func:`lambda_requests` and :func:`sagemaker_requests` are what IAM evaluates
for one Task, following "IAM policies for Amazon SageMaker AI" and "Lambda" in the Step Functions developer guide
(https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html,
https://docs.aws.amazon.com/step-functions/latest/dg/lambda-iam.html): the action on the resource, ``iam:PassRole``
of the role handed to SageMaker (condition ``iam:PassedToService``), and for ``.sync`` the Describe/Stop actions,
``sagemaker:ListTags`` and the managed EventBridge rule of training and transform jobs.

:class:`Authorizer` is what :func:`local.sfn.install` accepts as ``principals`` (``local.iam_auth.Principals``):
``refusal`` answers AWS's AccessDenied message, or None when every request is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from local.iam_policy import Request

SESSION = "StepFunctions"
_PASSED_TO_SAGEMAKER = {"iam:PassedToService": "sagemaker.amazonaws.com"}
_NAME_KEYS = {
    "TrainingJob": ("TrainingJobName", "training-job"),
    "TransformJob": ("TransformJobName", "transform-job"),
    "HyperParameterTuningJob": ("HyperParameterTuningJobName", "hyper-parameter-tuning-job"),
    "LabelingJob": ("LabelingJobName", "labeling-job"),
    "Model": ("ModelName", "model"),
    "EndpointConfig": ("EndpointConfigName", "endpoint-config"),
    "Endpoint": ("EndpointName", "endpoint"),
}
# The managed rules AWS publishes for .sync jobs (none for labeling jobs).
_MANAGED_RULES = {
    "TrainingJob": "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
    "TransformJob": "StepFunctionsGetEventsForSageMakerTransformJobsRule",
    # The tuning jobs' rule as the AWS Step Functions Data Science SDK's documented execution policy names it.
    "HyperParameterTuningJob": "StepFunctionsGetEventsForSageMakerTuningJobsRule",
}


class Authorizer(Protocol):
    """AWS's AccessDenied text unless ``role_arn`` may make every one of ``requests`` (then None)."""

    def refusal(self, role_arn: str, session: str, requests: list[Request]) -> str | None: ...


def lambda_requests(function_arn: str) -> list[Request]:
    """What invoking a function from a Task needs."""
    return [Request("lambda:InvokeFunction", function_arn)]


def sagemaker_requests(
    action: str, params: Mapping[str, Any], *, sync: bool, region: str, account: str
) -> list[Request]:
    """What the SageMaker optimized integration ``action`` (``createTrainingJob``...), or an aws-sdk
    ``describe*`` action, needs."""
    operation = action[:1].upper() + action[1:]
    verb, noun = "", operation
    # Create/Update (optimized integrations) and Describe (aws-sdk:sagemaker:describe*) name their resource.
    for prefix in ("Create", "Update", "Describe"):
        if operation.startswith(prefix):
            verb, noun = prefix, operation.removeprefix(prefix)
    key, kind = _NAME_KEYS.get(noun, ("", ""))
    name = str(params.get(key, "*")).lower()  # SageMaker lower-cases names in ARNs
    arn = f"arn:aws:sagemaker:{region}:{account}:{kind}/{name}" if kind else "*"
    requests = [Request(f"sagemaker:{operation}", arn)]
    if params.get("Tags"):
        requests.append(Request("sagemaker:AddTags", arn))
    # A tuning job passes its trials' role inside TrainingJobDefinition.
    definition = params.get("TrainingJobDefinition")
    for holder in (params, definition if isinstance(definition, Mapping) else {}):
        for role_key in ("RoleArn", "ExecutionRoleArn"):
            if holder.get(role_key):
                requests.append(Request("iam:PassRole", str(holder[role_key]), _PASSED_TO_SAGEMAKER))
    if sync and verb == "Create":
        requests += [Request(f"sagemaker:{v}{noun}", arn) for v in ("Describe", "Stop")]
        requests.append(Request("sagemaker:ListTags", arn))
        rule = _MANAGED_RULES.get(noun)
        if rule:
            rule_arn = f"arn:aws:events:{region}:{account}:rule/{rule}"
            requests += [Request(f"events:{v}", rule_arn) for v in ("PutTargets", "PutRule", "DescribeRule")]
    return requests
