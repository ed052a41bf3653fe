"""Deploy-time checks that make the local deployment fail where a deployment to AWS fails.

moto accepts what AWS refuses in three places this project has hit (issue 14). :func:`check_resource` runs
before the deployer creates each resource and raises :class:`DeployRejected` with AWS's error text:

- ``AWS::Logs::LogGroup`` with ``KmsKeyId``: CloudWatch Logs refuses the key unless its key policy lets
  ``logs.<region>.amazonaws.com`` use it for the log group's encryption context
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html).
- ``AWS::Lambda::Function``: more than 4 KB of environment variables is an InvalidParameterValueException
  (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
- ``AWS::CloudWatch::Alarm`` whose action is an SNS topic encrypted with a customer managed key: AWS creates
  the alarm, and every notification fails because CloudWatch cannot use the key
  (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
  No alarm ever fires locally (no metrics), so this *fidelity check* refuses the deployment instead: the
  outcome on AWS, alarms that never notify, is only visible when it is too late.
- ``AWS::ApiGateway::Stage`` (and a ``Deployment``'s ``StageDescription``) with access logging or execution
  logging while the region's API Gateway account has no CloudWatch Logs role (moto's ``GetAccount``; a fresh
  account has none): "CloudWatch Logs role ARN must be set in account settings to enable logging"
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html). A stage that relies on an
  ``AWS::ApiGateway::Account`` of its own stack without depending on it is refused too: CloudFormation creates
  the two in parallel, so the stage can run first.
- ``AWS::SageMaker::Workteam`` with Cognito members: one private workforce per account and region, bound to one
  user pool and app client (https://docs.aws.amazon.com/sagemaker/latest/dg/API_CreateWorkforce.html). The
  first Cognito workteam creates it (:class:`AccountState`); a workteam on another pool or client is a
  ValidationException. SageMaker's exact wording for it is not published; the text here names the conflict.

:class:`AccountState` is the account's state that moto does not keep (the private workforce); a fresh account
by default, see ``CloudSettings`` in local/cloud.py for starting with an existing workforce or API Gateway role.

Key policies are evaluated by :func:`service_allowed`, a small evaluator for the statements a service
principal can match: ``Principal`` ``Service``/``*``, ``Action``/``NotAction`` with wildcards, Allow and
Deny, and the String/Arn/Bool condition operators (with ``IfExists``). Anything else in a matching
statement fails loudly rather than being guessed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from gtpipe_shared.aws_limits import lambda_environment_problem

from .cfn import Environment, TemplateError, property_text

LOGS_KMS_DOCS = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html"
API_LOGGING_DOCS = (
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html"
    "#set-up-access-logging-permissions"
)
API_ACCOUNT_DOCS = "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-apigateway-account.html"
WORKFORCE_DOCS = "https://docs.aws.amazon.com/sagemaker/latest/dg/API_CreateWorkforce.html"
API_LOGGING_REFUSED = "CloudWatch Logs role ARN must be set in account settings to enable logging"
SNS_KMS_DOCS = (
    "https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services"
)
# What each service does with the key (a statement must allow all of them).
LOGS_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
CLOUDWATCH_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


class DeployRejected(TemplateError):
    """AWS would refuse to create this resource (or, for alarms, it would never work): AWS's error text."""


class PolicyNotEvaluated(TemplateError):
    """A matching key policy statement uses something the local evaluator does not model."""


# --- account state ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrivateWorkforce:
    """The region's private workforce: the Cognito user pool and app client it is bound to."""

    user_pool: str
    client_id: str
    name: str = "default"


@dataclass
class AccountState:
    """What the local account holds beyond moto's resources. A fresh account: no private workforce (the API
    Gateway CloudWatch Logs role lives in moto's API Gateway account, see :func:`api_gateway_logging_role`)."""

    private_workforce: PrivateWorkforce | None = None


def api_gateway_logging_role(clients: Callable[[str], Any]) -> str | None:
    """The region's API Gateway CloudWatch Logs role ARN (GetAccount ``cloudwatchRoleArn``), or None."""
    return clients("apigateway").get_account().get("cloudwatchRoleArn") or None


def set_api_gateway_logging_role(clients: Callable[[str], Any], role_arn: str) -> None:
    """UpdateAccount ``/cloudwatchRoleArn``: what ``AWS::ApiGateway::Account`` does."""
    clients("apigateway").update_account(
        patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": role_arn}]
    )


# --- key policy evaluation -------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _principal_matches(principal: Any, service: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    if "*" in _as_list(principal.get("AWS")):
        return True
    return service in _as_list(principal.get("Service"))


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    def matches(patterns: Any) -> bool:
        return any(fnmatchcase(action.lower(), str(p).lower()) for p in _as_list(patterns))

    if "NotAction" in statement:
        return not matches(statement["NotAction"])
    return matches(statement.get("Action"))


def _condition_value_matches(operator: str, actual: str, expected: list[Any]) -> bool:
    if operator in ("StringEquals", "ArnEquals", "StringNotEquals", "ArnNotEquals"):
        return actual in [str(e) for e in expected]
    if operator in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return actual.lower() in [str(e).lower() for e in expected]
    if operator in ("StringLike", "ArnLike", "StringNotLike", "ArnNotLike"):
        return any(fnmatchcase(actual, str(e)) for e in expected)
    if operator == "Bool":
        return actual.lower() in [str(e).lower() for e in expected]
    raise PolicyNotEvaluated(f"key policy condition operator {operator} is not evaluated by the local cloud")


def _conditions_match(conditions: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    context_lower = {key.lower(): value for key, value in context.items()}
    for raw_operator, entries in conditions.items():
        if raw_operator.startswith(("ForAnyValue:", "ForAllValues:")):
            raise PolicyNotEvaluated(
                f"key policy condition {raw_operator} is not evaluated by the local cloud"
            )
        if_exists = raw_operator.endswith("IfExists")
        operator = raw_operator.removesuffix("IfExists")
        negated = "Not" in operator
        for key, expected in entries.items():
            actual = context_lower.get(key.lower())
            if actual is None:
                if not (if_exists or negated):
                    return False
                continue
            found = _condition_value_matches(operator, actual, _as_list(expected))
            if found == negated:
                return False
    return True


def service_allowed(
    policy: Mapping[str, Any], service: str, actions: Sequence[str], context: Mapping[str, str]
) -> bool:
    """Whether key ``policy`` lets ``service`` (a service principal) perform every one of ``actions`` on
    the key with request ``context`` (condition keys). An explicit Deny wins; the account-root statement
    does not grant a service principal anything (only IAM principals of the account)."""
    allowed = dict.fromkeys(actions, False)
    for statement in _as_list(policy.get("Statement")):
        if not _principal_matches(statement.get("Principal"), service):
            continue
        for action in actions:
            if not _action_matches(statement, action):
                continue
            if not _conditions_match(statement.get("Condition") or {}, context):
                continue
            if statement.get("Effect") == "Deny":
                return False
            allowed[action] = True
    return all(allowed.values())


# --- the checks ------------------------------------------------------------------------------------------


def _key_policy(clients: Callable[[str], Any], key_id: str) -> dict[str, Any] | None:
    kms = clients("kms")
    try:
        arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
        return dict(json.loads(kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"]))
    except Exception:  # a missing key gets the same answer as a refused one on AWS
        return None


def check_log_group(
    clients: Callable[[str], Any], env: Environment, name: str, props: Mapping[str, Any]
) -> None:
    """CreateLogGroup with ``KmsKeyId``: CloudWatch Logs uses the key as ``logs.<region>.amazonaws.com``
    with the encryption context ``aws:logs:arn`` = the log group's ARN."""
    key_id = props.get("KmsKeyId")
    if not key_id:
        return
    group_arn = f"arn:{env.partition}:logs:{env.region}:{env.account_id}:log-group:{name}"
    policy = _key_policy(clients, str(key_id))
    service = f"logs.{env.region}.amazonaws.com"
    context = {"kms:EncryptionContext:aws:logs:arn": group_arn}
    if policy is None or not service_allowed(policy, service, LOGS_KEY_ACTIONS, context):
        raise DeployRejected(
            'Resource handler returned message: "The specified KMS key does not exist or is not allowed to be '
            f"used with Arn '{group_arn}' (Service: CloudWatchLogs, Status Code: 400)\" "
            f"[the key policy must allow {service}: {LOGS_KMS_DOCS}]"
        )


def check_alarm(clients: Callable[[str], Any], env: Environment, name: str, props: Mapping[str, Any]) -> None:
    """Every SNS action of the alarm: a topic encrypted with a customer managed key needs a key policy
    that lets ``cloudwatch.amazonaws.com`` use the key (fidelity check; see the module docstring)."""
    alarm_arn = f"arn:{env.partition}:cloudwatch:{env.region}:{env.account_id}:alarm:{name}"
    actions = [*_as_list(props.get("AlarmActions")), *_as_list(props.get("OKActions"))]
    actions += _as_list(props.get("InsufficientDataActions"))
    for topic_arn in dict.fromkeys(str(a) for a in actions if ":sns:" in str(a)):
        attributes = clients("sns").get_topic_attributes(TopicArn=topic_arn)["Attributes"]
        key_id = attributes.get("KmsMasterKeyId")
        if not key_id:
            continue
        if str(key_id).endswith("alias/aws/sns"):
            problem = "the topic uses the AWS managed key alias/aws/sns, whose policy CloudWatch cannot use"
        else:
            policy = _key_policy(clients, str(key_id))
            context = {"aws:SourceAccount": env.account_id, "aws:SourceArn": alarm_arn}
            if policy is not None and service_allowed(
                policy, "cloudwatch.amazonaws.com", CLOUDWATCH_KEY_ACTIONS, context
            ):
                continue
            problem = f"the policy of key {key_id} does not allow cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey*"
        raise DeployRejected(
            f"alarm {name} publishes to the KMS-encrypted topic {topic_arn} but {problem}. AWS creates such an "
            f"alarm and every notification it sends fails (local fidelity check; {SNS_KMS_DOCS})"
        )


def check_lambda_environment(props: Mapping[str, Any]) -> None:
    """CreateFunction: at most 4 KB of environment variables, measured as Lambda measures them."""
    variables = (props.get("Environment") or {}).get("Variables") or {}
    problem = lambda_environment_problem({str(k): property_text(v) for k, v in variables.items()})
    if problem:
        raise DeployRejected(
            f'Resource handler returned message: "{problem}" (Service: Lambda, Status Code: 400) [InvalidParameterValueException]'
        )


def stage_logging(stage: Mapping[str, Any]) -> str | None:
    """What in a stage's settings (``AWS::ApiGateway::Stage`` properties or a ``StageDescription``) needs the
    account's CloudWatch Logs role: access logging, or execution logging (``LoggingLevel`` INFO/ERROR, data
    trace) at the stage or in any method setting; None when nothing does."""
    if (stage.get("AccessLogSetting") or {}).get("DestinationArn"):
        return "access logging (AccessLogSetting)"
    settings = [stage, *_as_list(stage.get("MethodSettings"))]
    for setting in settings:
        if str(setting.get("LoggingLevel") or "OFF").upper() != "OFF":
            return f"execution logging (LoggingLevel {setting['LoggingLevel']})"
        if property_text(setting.get("DataTraceEnabled", False)).lower() == "true":
            return "execution logging (DataTraceEnabled)"
    return None


def check_api_stage(
    clients: Callable[[str], Any], stage: Mapping[str, Any], *, unawaited_account: str | None = None
) -> None:
    """A stage that logs needs the account's CloudWatch Logs role when it is created. ``unawaited_account``:
    an ``AWS::ApiGateway::Account`` of the same stack that set the role but that the stage does not depend on
    (CloudFormation would create both at once)."""
    logging = stage_logging(stage)
    if logging is None:
        return
    if unawaited_account is not None:
        raise DeployRejected(
            f"the stage enables {logging} and relies on {unawaited_account} (AWS::ApiGateway::Account) for the "
            "account's CloudWatch Logs role, but does not depend on it: CloudFormation creates both at once and "
            f'the stage can fail with "{API_LOGGING_REFUSED}"; add DependsOn (local fidelity check; {API_LOGGING_DOCS})'
        )
    if api_gateway_logging_role(clients) is None:
        raise DeployRejected(
            f'Resource handler returned message: "{API_LOGGING_REFUSED} (Service: ApiGateway, Status Code: 400)" '
            f"(HandlerErrorCode: InvalidRequest) [the stage enables {logging}; the account and region have no API "
            f"Gateway CloudWatch Logs role: {API_LOGGING_DOCS}, {API_ACCOUNT_DOCS}]"
        )


def workteam_cognito(props: Mapping[str, Any]) -> tuple[str, str] | None:
    """The (user pool, app client) of a workteam's Cognito member definitions; None for an OIDC workteam.
    Raises :class:`DeployRejected` when they differ (CreateWorkteam requires one pool and client)."""
    members = [
        m["CognitoMemberDefinition"]
        for m in _as_list(props.get("MemberDefinitions"))
        if isinstance(m, Mapping) and m.get("CognitoMemberDefinition")
    ]
    # CloudFormation's names (the API's are UserPool and ClientId).
    pairs = {(str(m.get("CognitoUserPool")), str(m.get("CognitoClientId"))) for m in members}
    if len(pairs) > 1:
        raise DeployRejected(
            'Resource handler returned message: "All of the CognitoMemberDefinition objects that make up the '
            'member definition must have the same ClientId and UserPool values." (Service: SageMaker, Status '
            "Code: 400) [ValidationException]"
        )
    return next(iter(pairs)) if pairs else None


def check_workteam(env: Environment, account: AccountState, props: Mapping[str, Any]) -> None:
    """A Cognito workteam joins the region's private workforce: its pool and client must be the workforce's."""
    cognito = workteam_cognito(props)
    workforce = account.private_workforce
    if cognito is None or workforce is None or cognito == (workforce.user_pool, workforce.client_id):
        return
    raise DeployRejected(
        f"Resource handler returned message: \"The workteam's Cognito user pool {cognito[0]} (client "
        f"{cognito[1]}) is not the user pool {workforce.user_pool} (client {workforce.client_id}) of the private "
        f"workforce '{workforce.name}' in {env.region}: an account has one private workforce per region\" "
        f"(Service: SageMaker, Status Code: 400) [ValidationException; join the existing workforce "
        f"(gtpipe:workforce.existingWorkforce): {WORKFORCE_DOCS}]"
    )


def check_resource(
    clients: Callable[[str], Any],
    env: Environment,
    resource_type: str,
    name: str,
    props: Mapping[str, Any],
    *,
    account: AccountState | None = None,
    unawaited_account: str | None = None,
) -> None:
    """Raise :class:`DeployRejected` where AWS would refuse ``props`` (resolved) for ``resource_type``;
    ``name`` is the physical name the deployer gives the resource; ``account``: the account's state (fresh
    when None); ``unawaited_account``: see :func:`check_api_stage`."""
    if resource_type == "AWS::ApiGateway::Stage":
        check_api_stage(clients, props, unawaited_account=unawaited_account)
    elif resource_type == "AWS::ApiGateway::Deployment" and props.get("StageName"):
        check_api_stage(clients, props.get("StageDescription") or {}, unawaited_account=unawaited_account)
    elif resource_type == "AWS::SageMaker::Workteam":
        check_workteam(env, account or AccountState(), props)
    elif resource_type == "AWS::Logs::LogGroup":
        check_log_group(clients, env, name, props)
    elif resource_type == "AWS::CloudWatch::Alarm":
        check_alarm(clients, env, name, props)
    elif resource_type == "AWS::Lambda::Function":
        check_lambda_environment(props)
