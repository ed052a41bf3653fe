"""``gtpipe doctor``: what a first ``cdk deploy`` and a first run need from the account, checked beforehand.

Each check is a pure function of injected boto3 clients and the configuration (``cdk.json``'s context read
by ``infra/config.py``, as ``cdk synth`` reads it) and returns :class:`CheckResult` records; the command
builds the clients (``--local``: the local cloud's ``outputs.json``; AWS: the standard chain, which also
honours ``AWS_ENDPOINT_URL``) and prints one line per result:

    OK    region: ...
    FAIL  apigateway-cloudwatch-role: ...
          fix: ...

A FAIL is a blocker (the deploy or the first run would fail); a WARN could not be checked or may bite
later. The exit code is :attr:`~gtpipe_cli.errors.Exit.PREFLIGHT_FAILED` when anything FAILs.

Facts come from their one home in the project: the region table from ``infra/constructs/regional.py``,
the Powertools layer ARN from ``infra/constructs/lambda_function.py``, the instance-storage rule from
``gtpipe_shared.aws_limits``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TextIO

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)
from gtpipe_shared import aws_limits

from gtpipe_cli.errors import CliError, Exit
from gtpipe_cli.target import TargetOptions, aws_session, local_session

if TYPE_CHECKING:
    from infra.config import StackConfig

Status = Literal["OK", "WARN", "FAIL"]

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
QUOTAS_DOCS: Final = "https://docs.aws.amazon.com/sagemaker/latest/dg/regions-quotas.html"
LIST_QUOTAS_DOCS: Final = (
    "https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_ListServiceQuotas.html"
)
POWERTOOLS_DOCS: Final = "https://docs.powertools.aws.dev/lambda/python/latest/#lambda-layer"
CONFIG_DOCS: Final = "README.md, Configuration reference"

# Error codes that mean "this caller or this endpoint cannot answer", not "the answer is no".
_UNCHECKABLE_CODES: Final = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "NoSuchResourceException",
        "ServiceException",
        "InternalFailure",
        "InternalServerError",
        "NotImplemented",
        "NotImplementedError",
        "TooManyRequestsException",
        "ThrottlingException",
        "UnknownOperationException",
        "InvalidAction",
        "404",
        "500",
        "501",
    }
)
_CLIENT_CONFIG: Final = Config(retries={"mode": "standard", "max_attempts": 3})


@dataclass(frozen=True)
class CheckResult:
    """One line of the doctor's report; ``fix`` (and ``docs``) say what to do when not OK."""

    status: Status
    check: str
    finding: str
    fix: str | None = None
    docs: str | None = None

    def lines(self) -> list[str]:
        """``<STATUS>  <check>: <finding>`` and, when not OK, an indented ``fix:`` line."""
        lines = [f"{self.status:<4}  {self.check}: {self.finding}"]
        if self.status != "OK" and self.fix:
            lines.append(f"      fix: {self.fix}" + (f" ({self.docs})" if self.docs else ""))
        return lines


@dataclass(frozen=True)
class InstanceUse:
    """One configured SageMaker instance type, where it is configured, and the quota usage it needs."""

    role: Literal["training", "endpoint", "transform"]
    context_key: str
    instance_type: str
    count: int
    max_count: int

    @property
    def quota_name(self) -> str:
        """The Service Quotas name of its quota, e.g. ``ml.g4dn.xlarge for training job usage``."""
        usage = {"training": "training job", "endpoint": "endpoint", "transform": "transform job"}[self.role]
        return f"{self.instance_type} for {usage} usage"


def error_code(error: ClientError) -> str:
    """The AWS error code of ``error``."""
    return str(error.response.get("Error", {}).get("Code", "Error"))


def _uncheckable(error: Exception) -> str | None:
    """Why a call could not be answered (denied, not offered here), or None for an answer to act on."""
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return None  # the whole doctor cannot run: main() reports it once
    if isinstance(error, EndpointConnectionError):
        return f"no endpoint answers at {error.kwargs.get('endpoint_url')}"
    if isinstance(error, ClientError):
        code = error_code(error)
        status = str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        if code in _UNCHECKABLE_CODES or status in ("403", "404", "500", "501"):
            message = " ".join(str(error.response.get("Error", {}).get("Message", "")).split())
            if message.startswith("<"):  # an HTML error page: the endpoint does not offer the operation
                return f"HTTP {status or code}: the endpoint does not answer this operation"
            return f"{code}" + (f": {message[:160]}" if message else "")
        return None
    if isinstance(error, BotoCoreError):
        return type(error).__name__
    return None


def _cannot_check(error: Exception, name: str, cannot: str, fix: str, docs: str) -> CheckResult:
    """WARN ``<cannot> (<why>)`` for a call that could not be answered; re-raises an error that stops the
    whole doctor (see ``_uncheckable``)."""
    why = _uncheckable(error)
    if why is None:
        raise error
    return CheckResult("WARN", name, f"{cannot} ({why})", fix, docs)


# --- the configuration -------------------------------------------------------------------------------------


def read_context(cdk_json: Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """``cdk.json``'s context with ``-c KEY=VALUE`` overrides, as the CDK CLI hands them to the app.

    Values stay strings as ``cdk -c`` passes them; the configuration reader parses JSON lists and objects.
    """
    try:
        context = dict(json.loads(cdk_json.read_text()).get("context", {}))
    except FileNotFoundError:
        raise CliError(
            f"{cdk_json} not found: run gtpipe doctor in the gtpipe checkout or pass --cdk-json",
            Exit.INPUT_MISSING,
        ) from None
    except (OSError, ValueError, AttributeError) as error:
        raise CliError(f"cannot read the context of {cdk_json}: {error}", Exit.INPUT_MISSING) from None
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"-c {item!r}: expected KEY=VALUE, e.g. -c gtpipe:apiAuth=iam", Exit.USAGE)
        context[key] = value
    return context


def load_config(context: Mapping[str, Any]) -> tuple[StackConfig | None, CheckResult]:
    """The typed configuration as synth builds it, and the ``configuration`` result (FAIL: what synth says)."""
    from infra.config import ConfigError, StackConfig

    try:
        config = StackConfig.from_context(context.get)
    except ConfigError as error:
        return None, CheckResult(
            "FAIL",
            "configuration",
            f"cdk synth would stop: {error}",
            "correct the value in cdk.json or the -c option",
            CONFIG_DOCS,
        )
    return config, CheckResult(
        "OK",
        "configuration",
        f"{config.task_type}, labeling backend {config.labeling_backend}, stacks {config.stack_prefix}Data/"
        f"{config.stack_prefix}Pipeline",
    )


def instance_uses(config: StackConfig) -> list[InstanceUse]:
    """The instance types the configuration runs SageMaker jobs and the endpoint on."""
    return [
        InstanceUse(
            "training",
            "gtpipe:training.instanceType",
            config.training.instance_type,
            config.training.instance_count,
            config.training.instance_count,
        ),
        InstanceUse(
            "endpoint",
            "gtpipe:endpoint.instanceType",
            config.endpoint.instance_type,
            config.endpoint.instance_count,
            config.endpoint.max_instance_count or config.endpoint.instance_count,
        ),
        InstanceUse("transform", "gtpipe:transformInstanceType", config.transform_instance_type, 1, 1),
    ]


def raw_instance_uses(context: Mapping[str, Any]) -> list[InstanceUse]:
    """The instance types named by the context, for a configuration synth refuses (the storage and quota
    checks still apply to them); defaults are the typed configuration's."""
    from gtpipe_shared.config import EndpointConfig, TrainingConfig, TransformConfig

    def section(key: str) -> Mapping[str, Any]:
        value = context.get(f"gtpipe:{key}")
        if isinstance(value, str) and value.strip().startswith("{"):
            try:
                value = json.loads(value)
            except ValueError:
                return {}
        return value if isinstance(value, Mapping) else {}

    def number(value: Any, default: int) -> int:
        try:
            return int(value)
        except (TypeError, ValueError):
            return default

    training, endpoint = section("training"), section("endpoint")
    transform = context.get("gtpipe:transformInstanceType")
    train_count = number(training.get("instanceCount", TrainingConfig().instance_count), 1)
    endpoint_count = number(endpoint.get("instanceCount", EndpointConfig().instance_count), 1)
    return [
        InstanceUse(
            "training",
            "gtpipe:training.instanceType",
            str(training.get("instanceType") or TrainingConfig().instance_type),
            train_count,
            train_count,
        ),
        InstanceUse(
            "endpoint",
            "gtpipe:endpoint.instanceType",
            str(endpoint.get("instanceType") or EndpointConfig().instance_type),
            endpoint_count,
            number(endpoint.get("maxInstanceCount", max(2, endpoint_count)), endpoint_count),
        ),
        InstanceUse(
            "transform",
            "gtpipe:transformInstanceType",
            str(transform or TransformConfig().instance_type),
            1,
            1,
        ),
    ]


# --- 1. region ---------------------------------------------------------------------------------------------


def check_region(region: str, supported: Mapping[str, Mapping[str, str]]) -> CheckResult:
    """The stack maps the region's Ground Truth Lambda and built-in algorithm ECR accounts
    (``supported``: ``infra/constructs/regional.SUPPORTED_REGIONS``); elsewhere ``Fn::FindInMap`` fails the
    deploy."""
    accounts = supported.get(region)
    if accounts:
        return CheckResult(
            "OK",
            "region",
            f"{region}: Ground Truth Lambdas (account {accounts.get('GroundTruthLambdaAccount')}) and the "
            f"image-classification/object-detection images (account {accounts.get('AlgorithmAccount')}) "
            "are mapped",
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
        why = _uncheckable(error)
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
        return _cannot_check(
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


# --- 4. SageMaker instance quotas ----------------------------------------------------------------------------


def sagemaker_quotas(service_quotas: Any) -> dict[str, float]:
    """``{quota name: value}`` of SageMaker: the applied values over AWS's defaults."""
    found: dict[str, float] = {}
    for operation in ("list_aws_default_service_quotas", "list_service_quotas"):
        for page in service_quotas.get_paginator(operation).paginate(ServiceCode="sagemaker"):
            for quota in page.get("Quotas", []):
                if "QuotaName" in quota and "Value" in quota:
                    found[str(quota["QuotaName"])] = float(quota["Value"])
    return found


def check_quotas(service_quotas: Any, uses: Iterable[InstanceUse]) -> list[CheckResult]:
    """One result per configured instance type: FAIL when its quota is below the instances a run starts
    (0 in many accounts for GPU types), WARN when below the endpoint's autoscaling maximum or unknown."""
    uses = list(uses)
    try:
        quotas = sagemaker_quotas(service_quotas)
    except (ClientError, BotoCoreError) as error:
        why = _uncheckable(error)
        if why is None:
            raise
        return [
            CheckResult(
                "WARN",
                f"quota {use.role}",
                f"cannot read {use.quota_name!r} from Service Quotas ({why})",
                "allow servicequotas:ListServiceQuotas and ListAWSDefaultServiceQuotas, or look it up in the "
                "Service Quotas console (Amazon SageMaker)",
                LIST_QUOTAS_DOCS,
            )
            for use in uses
        ]
    results: list[CheckResult] = []
    for use in uses:
        check = f"quota {use.role}"
        request = (
            f"request an increase of {use.quota_name!r} to at least {use.max_count} (Service Quotas > "
            f"Amazon SageMaker), or set {use.context_key} to a type with quota"
        )
        value = quotas.get(use.quota_name)
        if value is None:
            results.append(
                CheckResult(
                    "WARN",
                    check,
                    f"no quota named {use.quota_name!r} in this region: the type may not be offered here",
                    f"check the type in the SageMaker pricing page for the region, or set {use.context_key}",
                    QUOTAS_DOCS,
                )
            )
        elif value < use.count:
            results.append(
                CheckResult(
                    "FAIL",
                    check,
                    f"{use.quota_name} is {value:g}; a run needs {use.count}",
                    request,
                    QUOTAS_DOCS,
                )
            )
        elif value < use.max_count:
            results.append(
                CheckResult(
                    "WARN",
                    check,
                    f"{use.quota_name} is {value:g}; autoscaling may want {use.max_count}",
                    request,
                    QUOTAS_DOCS,
                )
            )
        else:
            results.append(CheckResult("OK", check, f"{use.quota_name} is {value:g}"))
    return results


# --- 5. instance storage vs. volume keys ---------------------------------------------------------------------


def volume_keys_sent(config: StackConfig) -> dict[str, bool]:
    """Per role (training, transform, endpoint): whether the deployed state machine definition sends a
    volume key (``VolumeKmsKeyId`` / the endpoint configuration's ``KmsKeyId``), read from the definition
    synth builds (``infra/constructs/definition.py``)."""
    from infra.constructs import definition

    document = definition.fitted_definition(config)
    sent = {role: False for _, role in definition._VOLUME_KEYS.values()}
    for state in definition._states(document["States"]):
        integration = definition._integration(str(state.get("Resource", "")))
        if integration not in definition._VOLUME_KEYS:
            continue
        path, role = definition._VOLUME_KEYS[integration]
        parent: Any = state.get("Parameters", {})
        for key in path[:-1]:
            parent = parent.get(key, {}) if isinstance(parent, Mapping) else {}
        if isinstance(parent, Mapping) and path[-1] in parent:
            sent[role] = True
    return sent


def check_instance_storage(
    uses: Iterable[InstanceUse],
    has_local_storage: Callable[[str], bool],
    keys_sent: Mapping[str, bool] | None,
) -> CheckResult:
    """SageMaker refuses a volume key for instance types with local NVMe storage (``has_local_storage``:
    ``gtpipe_shared.aws_limits.instance_has_local_storage``); ``keys_sent`` says per role whether the stack
    sends one (:func:`volume_keys_sent`; None: unknown, the configuration is invalid)."""
    name = "instance-storage-vs-kms"
    docs = aws_limits.VOLUME_KEY_DOCS
    nvme: list[InstanceUse] = []
    for use in uses:
        try:
            if has_local_storage(use.instance_type):
                nvme.append(use)
        except ValueError:
            return CheckResult(
                "FAIL",
                name,
                f"{use.context_key} {use.instance_type!r} is not a SageMaker instance type",
                "use an ml.<family>.<size> type",
            )
    if not nvme:
        return CheckResult("OK", name, "EBS-backed instance types: the data key encrypts their volumes")
    listed = ", ".join(f"{use.role} {use.instance_type}" for use in nvme)
    if keys_sent is None:
        return CheckResult(
            "WARN",
            name,
            f"{listed}: local NVMe storage; whether the stack sends a volume key is unknown (invalid "
            "configuration)",
            "fix the configuration first",
            docs,
        )
    keyed = [use for use in nvme if keys_sent.get(use.role, True)]
    if keyed:
        return CheckResult(
            "FAIL",
            name,
            ", ".join(f"{use.context_key} {use.instance_type}" for use in keyed)
            + ": local NVMe storage, and the state machine sends a volume KMS key for it, which SageMaker "
            "refuses (ValidationException)",
            "choose an EBS-backed type such as ml.p3.2xlarge or ml.m5.xlarge",
            docs,
        )
    return CheckResult(
        "OK",
        name,
        f"{listed}: local NVMe storage, encrypted by the instance's hardware; the stack sends no volume key "
        "for it",
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
        return _cannot_check(
            error,
            name,
            f"cannot check {layer_arn}",
            "allow lambda:GetLayerVersion on the layer, or compare with the Powertools docs",
            POWERTOOLS_DOCS,
        )
    return CheckResult("OK", name, f"{layer_arn} exists")


# --- the command ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clients:
    """The clients the checks use."""

    apigateway: Any
    sagemaker: Any
    service_quotas: Any
    lambda_: Any


def run_checks(
    clients: Clients,
    context: Mapping[str, Any],
    *,
    region: str,
    partition: str = "aws",
    supported_regions: Mapping[str, Mapping[str, str]] | None = None,
    layer_template: str | None = None,
) -> list[CheckResult]:
    """Every check, in order; the region table and layer ARN template default to the stack's own."""
    config, configured = load_config(context)
    if supported_regions is None:
        from infra.constructs.regional import SUPPORTED_REGIONS

        supported_regions = SUPPORTED_REGIONS
    if layer_template is None:
        from infra.constructs.lambda_function import POWERTOOLS_LAYER

        layer_template = POWERTOOLS_LAYER
    uses = instance_uses(config) if config is not None else raw_instance_uses(context)
    version = config.powertools_layer_version if config is not None else _raw_layer_version(context)
    return [
        configured,
        check_region(region, supported_regions),
        check_apigateway_role(clients.apigateway, config),
        check_workforce(clients.sagemaker, config),
        *check_quotas(clients.service_quotas, uses),
        check_instance_storage(
            uses,
            aws_limits.instance_has_local_storage,
            volume_keys_sent(config) if config is not None else None,
        ),
        check_powertools_layer(
            clients.lambda_, powertools_layer_arn(layer_template, partition, region, version)
        ),
    ]


def _raw_layer_version(context: Mapping[str, Any]) -> int:
    from infra.config import StackConfig

    try:
        return int(context.get("gtpipe:powertoolsLayerVersion") or StackConfig.powertools_layer_version)
    except (TypeError, ValueError):
        return StackConfig.powertools_layer_version


def doctor_session(options: TargetOptions) -> tuple[boto3.session.Session, str | None, str]:
    """The session, endpoint URL and description of where the doctor looks: the local cloud's
    ``outputs.json`` (deployed or not) with ``--local``, else the standard chain (``AWS_ENDPOINT_URL`` is
    honoured by boto3 itself)."""
    if not options.local:
        session = aws_session(options.region, options.profile)
        return session, None, f"region {session.region_name}"
    _, outputs, session = local_session(Path(options.state_dir))
    endpoint = str(outputs["AwsEndpointUrl"])
    return session, endpoint, f"the local cloud at {endpoint} (region {session.region_name})"


def doctor(
    options: TargetOptions, out: TextIO, *, cdk_json: Path = Path("cdk.json"), context: Sequence[str] = ()
) -> int:
    """``gtpipe doctor``: print every check; PREFLIGHT_FAILED when one FAILs."""
    values = read_context(cdk_json, context)
    session, endpoint, where = doctor_session(options)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint, config=_CLIENT_CONFIG)

    identity = client("sts").get_caller_identity()  # no credentials: one error line, exit 77
    region = str(session.region_name)
    out.write(f"gtpipe doctor: account {identity.get('Account')}, {where}, context from {cdk_json}\n")
    clients = Clients(client("apigateway"), client("sagemaker"), client("service-quotas"), client("lambda"))
    partition = str(session.get_partition_for_region(region))
    results = run_checks(clients, values, region=region, partition=partition)
    for result in results:
        out.write("\n".join(result.lines()) + "\n")
    failed = [result for result in results if result.status == "FAIL"]
    warned = sum(result.status == "WARN" for result in results)
    if failed:
        out.write(
            f"{len(failed)} blocker(s): {', '.join(r.check for r in failed)}; fix them before "
            "`cdk deploy` or a run\n"
        )
        return Exit.PREFLIGHT_FAILED
    out.write(f"no blockers ({warned} warning(s))\n")
    return Exit.OK
