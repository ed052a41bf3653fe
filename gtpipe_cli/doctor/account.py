"""Checks 1-3 and 6: the account and region settings a first deploy needs (region mapping, API Gateway's
CloudWatch role, the Ground Truth workforce, the Powertools layer)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError
from gtpipe_shared.tasks import TASKS

from gtpipe_cli.doctor.results import CheckResult, cannot_check, error_code, uncheckable

if TYPE_CHECKING:
    from infra.config import StackConfig


REGIONS_DOCS: Final = (
    "https://docs.aws.amazon.com/sagemaker/latest/dg-ecr-paths/sagemaker-algo-docker-registry-paths.html"
)
APIGATEWAY_ROLE_DOCS: Final = (
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html"
)
APIGATEWAY_ACCOUNT_DOCS: Final = (
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigateway-account.html"
)
WORKFORCE_DOCS: Final = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_Workforce.html"
POWERTOOLS_DOCS: Final = "https://docs.powertools.aws.dev/lambda/python/latest/#lambda-layer"


# --- 1. region ---------------------------------------------------------------------------------------------


def check_region(region: str, supported: Mapping[str, Mapping[str, str]]) -> CheckResult:
    """The stack maps the region's Ground Truth Lambda and built-in algorithm ECR accounts
    (``supported``: ``infra/constructs/regional.SUPPORTED_REGIONS``); elsewhere ``Fn::FindInMap`` fails the
    deploy."""
    accounts = supported.get(region)
    if accounts:
        algorithms = "/".join(spec.algorithm for spec in TASKS.values())
        return CheckResult(
            "OK",
            "region",
            f"{region}: Ground Truth Lambdas (account {accounts.get('GroundTruthLambdaAccount')}) and the "
            f"{algorithms} images (account {accounts.get('AlgorithmAccount')}) are mapped",
        )
    return CheckResult(
        "FAIL",
        "region",
        f"{region} is not one of the regions gtpipe maps ({', '.join(sorted(supported))}); the stack's "
        "Fn::FindInMap fails the deploy there",
        "deploy to a mapped region (--region / AWS_REGION), or add the region's Ground Truth and algorithm "
        "registry accounts to infra/constructs/regional.py from AWS's Docker registry path pages",
        REGIONS_DOCS,
    )


# --- 2. API Gateway account CloudWatch role ------------------------------------------------------------------


def check_apigateway_role(apigateway: Any, config: StackConfig | None) -> CheckResult:
    """``GetAccount``'s ``cloudwatchRoleArn``: REST API stages with access logging need it (one per
    account and region). ``gtpipe:apiGateway.accountRole`` ``create`` (the default) has the stack set it
    (``AWS::ApiGateway::Account``, replacing any role already set); ``existing`` relies on the account's."""
    name = "apigateway-cloudwatch-role"
    creates = config is None or config.api_gateway_account_role == "create"
    try:
        role = apigateway.get_account().get("cloudwatchRoleArn")
    except (ClientError, BotoCoreError) as error:
        why = uncheckable(error)
        if why is None:
            raise
        if creates:
            return CheckResult("OK", name, f"the stack sets it (account settings not readable: {why})")
        return CheckResult(
            "WARN",
            name,
            f"cannot read the account settings ({why}); gtpipe:apiGateway.accountRole is existing",
            "allow apigateway:GET on arn:aws:apigateway:<region>::/account, or check in the console "
            "(API Gateway > Settings)",
            APIGATEWAY_ROLE_DOCS,
        )
    if role and creates:
        return CheckResult(
            "WARN",
            name,
            f"set ({role}), and the stack will replace it with its own role (AWS::ApiGateway::Account is one "
            "per account and region)",
            'keep the account\'s role: -c gtpipe:apiGateway=\'{"accountRole": "existing"}\'',
            APIGATEWAY_ACCOUNT_DOCS,
        )
    if role:
        return CheckResult("OK", name, f"set ({role})")
    if creates:
        return CheckResult(
            "OK", name, "not set yet; the stack sets it (gtpipe:apiGateway.accountRole create)"
        )
    return CheckResult(
        "FAIL",
        name,
        "not set in this account and region, and gtpipe:apiGateway.accountRole is existing: the API stage's "
        "access logging fails the deploy (CloudWatch Logs role ARN must be set in account settings)",
        'let the stack set it (gtpipe:apiGateway={"accountRole": "create"}), or set it once: a role trusting '
        "apigateway.amazonaws.com with AmazonAPIGatewayPushToCloudWatchLogs, then `aws apigateway "
        "update-account --patch-operations op=replace,path=/cloudwatchRoleArn,value=<role ARN>`",
        APIGATEWAY_ACCOUNT_DOCS,
    )


# --- 3. Ground Truth private workforce -----------------------------------------------------------------------


def check_workforce(sagemaker: Any, config: StackConfig | None) -> CheckResult:
    """``ListWorkforces``: one private workforce per account and region, bound to one Cognito user pool (or
    an OIDC provider). The stack's ``create-private`` workteam on its own user pool needs none to exist."""
    name = "ground-truth-workforce"
    if config is None:
        return CheckResult(
            "WARN", name, "not checked: the configuration is invalid", "fix the configuration first"
        )
    if config.labeling_backend != "ground-truth":
        return CheckResult("OK", name, f"not used (labeling backend {config.labeling_backend})")
    if config.workforce.type == "vendor":
        return CheckResult("OK", name, f"not used (vendor workteam {config.workforce.workteam_arn})")
    try:
        workforces = [
            workforce
            for page in sagemaker.get_paginator("list_workforces").paginate()
            for workforce in page.get("Workforces", [])
        ]
    except (ClientError, BotoCoreError) as error:
        return cannot_check(
            error,
            name,
            "cannot list the private workforces",
            "allow sagemaker:ListWorkforces, or look in the console (Ground Truth > Labeling workforces > "
            "Private)",
            WORKFORCE_DOCS,
        )
    if not workforces:
        if config.workforce.type == "create-private":
            return CheckResult(
                "OK", name, "no private workforce yet; the stack's workteam creates it on its user pool"
            )
        return CheckResult(
            "WARN",
            name,
            f"no private workforce in this region, but the configuration uses workteam "
            f"{config.workforce.workteam_arn}",
            "check that the workteam ARN is in this account and region",
            WORKFORCE_DOCS,
        )
    workforce = workforces[0]
    cognito = workforce.get("CognitoConfig") or {}
    pool = cognito.get("UserPool")
    bound = (
        f"user pool {pool}"
        if cognito
        else ("an OIDC identity provider" if workforce.get("OidcConfig") else "an identity provider")
    )
    found = f"private workforce {workforce.get('WorkforceName')} exists, bound to {bound}"
    if config.workforce.workteam_arn:
        return CheckResult(
            "OK", name, f"{found}; the configuration uses workteam {config.workforce.workteam_arn}"
        )
    joined = config.workforce.existing_workforce
    if joined is not None and joined.user_pool == pool:
        return CheckResult("OK", name, f"{found}; the stack's workteam joins it")
    join = (
        'join it: gtpipe:workforce={"type": "create-private", "existingWorkforce": {"userPool": '
        f'"{pool}", "userPoolClient": "{cognito.get("ClientId")}"}}}}'
        if cognito
        else 'use a workteam of it: gtpipe:workforce={"type": "private", "workteamArn": "..."}'
    )
    if joined is not None:
        return CheckResult(
            "FAIL",
            name,
            f"{found}, but gtpipe:workforce.existingWorkforce.userPool is {joined.user_pool}",
            join,
            WORKFORCE_DOCS,
        )
    return CheckResult(
        "FAIL",
        name,
        f"{found}: a region has one, so the stack cannot create a workteam on a new user pool",
        f'{join}; or gtpipe:labelingBackend "builtin"',
        WORKFORCE_DOCS,
    )


# --- 6. Powertools layer ----------------------------------------------------------------------------------


def powertools_layer_arn(template: str, partition: str, region: str, version: int) -> str:
    """The Powertools layer version the stack attaches (``template``: ``POWERTOOLS_LAYER``)."""
    return template.format(partition=partition, region=region, version=version)


def check_powertools_layer(lambda_client: Any, layer_arn: str) -> CheckResult:
    """``GetLayerVersionByArn`` of the configured public Powertools layer version in the region."""
    name = "powertools-layer"
    try:
        lambda_client.get_layer_version_by_arn(Arn=layer_arn)
    except (ClientError, BotoCoreError) as error:
        if isinstance(error, ClientError) and error_code(error) == "ResourceNotFoundException":
            return CheckResult(
                "FAIL",
                name,
                f"{layer_arn} does not exist: every function's deploy fails",
                "set gtpipe:powertoolsLayerVersion to a version published in this region",
                POWERTOOLS_DOCS,
            )
        return cannot_check(
            error,
            name,
            f"cannot check {layer_arn}",
            "allow lambda:GetLayerVersion on the layer, or compare with the Powertools docs",
            POWERTOOLS_DOCS,
        )
    return CheckResult("OK", name, f"{layer_arn} exists")
