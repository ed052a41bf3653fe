"""Deploys a CDK cloud assembly into the local cloud, the way CloudFormation would deploy it to AWS.

Stacks are deployed in dependency order; each stack's resources in reference order
(:meth:`local.cfn.TemplateResolver.resource_order`). Every resource type is either

- **emulated** (:data:`EMULATED_TYPES`): created in moto through its API (S3, DynamoDB, SNS, SQS, KMS,
  Step Functions, EventBridge, API Gateway, Cognito user pools with their clients, groups and users), or
  registered with the local runtimes (Lambda functions in
  :class:`local.lambda_runtime.LambdaRuntime` and the :class:`local.sfn.LambdaRegistry`; the REST API
  in an :class:`local.api_model.RestApiModel` served over HTTPS by :mod:`local.apigateway`);
- **accepted but not emulated** (:data:`NOT_EMULATED`, each with its reason): it answers ``Ref`` and
  ``Fn::GetAtt`` with the names/ARNs CloudFormation would return, and has no local behaviour;
- or **refused**: any other type fails the deployment with :class:`local.cfn.TemplateError`.

Cognito: the template's properties that the ``cognito-idp`` API takes under the same name are passed to
moto (others, such as ``EnabledMfas`` or ``UserPoolTier``, are recorded in ``not_emulated`` of the stack);
``Ref``/``Fn::GetAtt`` answer moto's pool and client ids. API Gateway ``COGNITO_USER_POOLS`` authorizers
are served by :mod:`local.apigateway`. Scheduled EventBridge rules (``rate(...)``) are created in moto and
fired by :mod:`local.schedules`; ``cron(...)`` schedules are refused. Lambda environment values that name
an AWS service endpoint listed in ``endpoint_rewrites`` (the Cognito endpoint the web app calls) are
rewritten to the local endpoint.

Names follow CloudFormation: an explicit name property wins, otherwise
``<stack>-<logical id>-<suffix>`` within the service's length limit (the suffix is derived from the
stack and logical ID, so names are stable between local deployments).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from local.sfn import LambdaRegistry

from .api_model import (
    ApiKeyModel,
    AuthorizerModel,
    MethodModel,
    RestApiModel,
    StageModel,
    Throttle,
    UsagePlanModel,
)
from .cfn import (
    CloudAssembly,
    Environment,
    ResourceState,
    StackArtifact,
    TemplateError,
    TemplateResolver,
    property_text,
)
from .fidelity import (
    AccountState,
    PrivateWorkforce,
    api_gateway_logging_role,
    check_resource,
    set_api_gateway_logging_role,
    workteam_cognito,
)
from .iam_roles import DeployedIam
from .lambda_runtime import FunctionSpec, LambdaRuntime
from .schedules import schedule_minutes

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class NotEmulated:
    """A resource type accepted without local behaviour: why, and what it answers to Ref/GetAtt."""

    reason: str
    ref: Callable[[str, dict[str, Any], Environment], str]
    attributes: Callable[[str, dict[str, Any], Environment], dict[str, Any]] = lambda name, props, env: {}


def _arn(env: Environment, service: str, resource: str, region: bool = True, account: bool = True) -> str:
    return (
        f"arn:{env.partition}:{service}:{env.region if region else ''}:{env.account_id if account else ''}:"
        f"{resource}"
    )


_IAM_NOT_ENFORCED = (
    "no IAM API locally: the role's identity policies are recorded (local/iam_roles.py) and enforced on every "
    "request its principal signs (local/iam_auth.py)"
)
_RESOURCE_POLICY = (
    "not evaluated on requests clients sign (the TLS-only statements would deny the plain-HTTP loopback "
    "endpoint); queue and topic policies are recorded and evaluated for service deliveries (local/iam_resource.py)"
)
_COGNITO_DOMAIN = (
    "hosted UI domains are not served locally (the Ground Truth portal is simulated; the builtin labeling app "
    "signs in through the cognito-idp API)"
)

NOT_EMULATED: Final[dict[str, NotEmulated]] = {
    "AWS::CDK::Metadata": NotEmulated("CDK version analytics for AWS", lambda n, p, e: n),
    "AWS::IAM::Role": NotEmulated(
        _IAM_NOT_ENFORCED,
        lambda n, p, e: p.get("RoleName") or n,
        lambda n, p, e: {
            "Arn": _arn(e, "iam", f"role{p.get('Path', '/')}{p.get('RoleName') or n}", region=False),
            "RoleId": "AROA" + hashlib.sha256(n.encode()).hexdigest()[:17].upper(),
        },
    ),
    "AWS::IAM::Policy": NotEmulated(_IAM_NOT_ENFORCED, lambda n, p, e: n),
    "AWS::IAM::ManagedPolicy": NotEmulated(
        _IAM_NOT_ENFORCED,
        lambda n, p, e: _arn(e, "iam", f"policy/{p.get('ManagedPolicyName') or n}", region=False),
        lambda n, p, e: {
            "PolicyArn": _arn(e, "iam", f"policy/{p.get('ManagedPolicyName') or n}", region=False)
        },
    ),
    "AWS::Logs::LogGroup": NotEmulated(
        "function output is written to .local/logs/<function>.log (the local CloudWatch Logs stand-in); "
        "the state machine's and the API's log groups receive nothing",
        lambda n, p, e: p.get("LogGroupName") or n,
        lambda n, p, e: {"Arn": _arn(e, "logs", f"log-group:{p.get('LogGroupName') or n}:*")},
    ),
    "AWS::Lambda::LayerVersion": NotEmulated(
        "local functions import the project's virtual environment, which pins the packages the layers carry "
        "(the report's matplotlib); the layer's own zip is not unpacked",
        lambda n, p, e: _arn(e, "lambda", f"layer:{p.get('LayerName') or n}:1"),
    ),
    "AWS::Lambda::Permission": NotEmulated(
        "recorded (local/iam_roles.py): EventBridge invokes a function only with a permission for the rule; "
        "other principals' (API Gateway, S3) are not evaluated",
        lambda n, p, e: n,
    ),
    "AWS::S3::BucketPolicy": NotEmulated(_RESOURCE_POLICY, lambda n, p, e: n),
    "AWS::SQS::QueuePolicy": NotEmulated(_RESOURCE_POLICY, lambda n, p, e: n),
    "AWS::SNS::TopicPolicy": NotEmulated(_RESOURCE_POLICY, lambda n, p, e: n),
    "AWS::CloudWatch::Alarm": NotEmulated(
        "no metrics are produced locally, so alarms could never change state (blue/green auto-rollback on "
        "alarms is not exercised)",
        lambda n, p, e: p.get("AlarmName") or n,
        lambda n, p, e: {"Arn": _arn(e, "cloudwatch", f"alarm:{p.get('AlarmName') or n}")},
    ),
    "AWS::CloudWatch::Dashboard": NotEmulated(
        "no CloudWatch console locally", lambda n, p, e: p.get("DashboardName") or n
    ),
    "AWS::Cognito::UserPoolDomain": NotEmulated(_COGNITO_DOMAIN, lambda n, p, e: str(p.get("Domain") or n)),
}
"""Types accepted without local behaviour, with the reason (see :func:`describe_support`)."""

NATIVE_CUSTOM_RESOURCES: Final[dict[str, str]] = {
    "Custom::S3BucketNotifications": (
        "applied directly with PutBucketNotificationConfiguration; CDK's provider Lambda (inline code) that "
        "does this on AWS is accepted but not run"
    ),
}
"""CDK custom resources whose effect the deployer applies itself."""


@dataclass
class StackDeployment:
    """One deployed stack."""

    name: str
    resources: dict[str, ResourceState] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    not_emulated: dict[str, str] = field(default_factory=dict)


@dataclass
class Deployment:
    """Everything a local deployment created."""

    environment: Environment
    stacks: dict[str, StackDeployment] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    apis: dict[str, RestApiModel] = field(default_factory=dict)
    exports: dict[str, Any] = field(default_factory=dict)
    iam: DeployedIam = field(default_factory=DeployedIam)
    """The roles with their identity policies, and the Lambda permissions (local/iam_roles.py)."""

    def output(self, name: str) -> Any:
        """An output by name (the last stack that declares it wins); KeyError if none does."""
        for stack in reversed(list(self.stacks.values())):
            if name in stack.outputs:
                return stack.outputs[name]
        raise KeyError(name)


Handler = Callable[["_StackContext", str, dict[str, Any]], ResourceState]


@dataclass
class _StackContext:
    stack: StackArtifact
    resolver: TemplateResolver
    deployment: Deployment
    result: StackDeployment

    @property
    def name(self) -> str:
        return self.stack.name


def generated_name(stack: str, logical_id: str, max_length: int, *, lowercase: bool = False) -> str:
    """A CloudFormation-style physical name ``<stack>-<logical id>-<suffix>`` within ``max_length``."""
    digest = base64.b32encode(hashlib.sha256(f"{stack}/{logical_id}".encode()).digest()).decode()
    suffix = digest[:12]
    budget = max_length - len(suffix) - 2
    stack_part = stack[: max(1, budget // 2)] if len(stack) + len(logical_id) > budget else stack
    logical_part = logical_id[: max(1, budget - len(stack_part))]
    name = f"{stack_part}-{logical_part}-{suffix}"
    return name.lower() if lowercase else name


class LocalDeployer:
    """Creates the resources of a cloud assembly in the local cloud (see module docstring).

    ``clients(service)`` returns a boto3 client for the local endpoint.
    """

    def __init__(
        self,
        clients: Callable[[str], Any],
        environment: Environment,
        runtime: LambdaRuntime,
        registry: LambdaRegistry,
        *,
        work_dir: Path | None = None,
        endpoint_rewrites: Mapping[str, str] | None = None,
        account: AccountState | None = None,
        iam: DeployedIam | None = None,
    ) -> None:
        self.clients = clients
        # Filled as roles deploy, so functions run during the deployment already act with their role.
        self.iam = iam if iam is not None else DeployedIam()
        # The account's private workforce (local/fidelity.py); the API Gateway role lives in moto.
        self.account = account if account is not None else AccountState()
        self.environment = environment
        self.endpoint_rewrites = dict(endpoint_rewrites or {})
        self.runtime = runtime
        self.registry = registry
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="gtpipe-deploy-"))
        self.handlers: dict[str, Handler] = {
            "AWS::KMS::Key": self._kms_key,
            "AWS::KMS::Alias": self._kms_alias,
            "AWS::S3::Bucket": self._s3_bucket,
            "Custom::S3BucketNotifications": self._s3_bucket_notifications,
            "AWS::DynamoDB::Table": self._dynamodb_table,
            "AWS::SNS::Topic": self._sns_topic,
            "AWS::SNS::Subscription": self._sns_subscription,
            "AWS::SQS::Queue": self._sqs_queue,
            "AWS::Lambda::Function": self._lambda_function,
            "AWS::Lambda::EventInvokeConfig": self._lambda_event_invoke_config,
            "AWS::StepFunctions::StateMachine": self._state_machine,
            "AWS::Events::Rule": self._events_rule,
            "AWS::ApiGateway::RestApi": self._rest_api,
            "AWS::ApiGateway::Resource": self._api_resource,
            "AWS::ApiGateway::Method": self._api_method,
            "AWS::ApiGateway::RequestValidator": self._api_validator,
            "AWS::ApiGateway::Deployment": self._api_deployment,
            "AWS::ApiGateway::Stage": self._api_stage,
            "AWS::ApiGateway::ApiKey": self._api_key,
            "AWS::ApiGateway::UsagePlan": self._usage_plan,
            "AWS::ApiGateway::UsagePlanKey": self._usage_plan_key,
            "AWS::ApiGateway::Authorizer": self._api_authorizer,
            "AWS::ApiGateway::Account": self._api_account,
            "AWS::SageMaker::Workteam": self._workteam,
            "AWS::Cognito::UserPool": self._user_pool,
            "AWS::Cognito::UserPoolClient": self._user_pool_client,
            "AWS::Cognito::UserPoolGroup": self._user_pool_group,
            "AWS::Cognito::UserPoolUser": self._user_pool_user,
            "AWS::Cognito::UserPoolUserToGroupAttachment": self._user_to_group,
        }

    # -- driver --------------------------------------------------------------------------------------

    def deploy(self, assembly: CloudAssembly) -> Deployment:
        """Deploy every stack of the assembly; raises :class:`TemplateError` on anything unsupported.

        All templates are checked for unsupported resource types before anything is created.
        """
        stacks = assembly.stacks_in_order()
        for stack in stacks:
            self.check_types(stack)
        deployment = Deployment(environment=self.environment, iam=self.iam)
        for stack in stacks:
            self._deploy_stack(stack, deployment)
        return deployment

    def check_types(self, stack: StackArtifact) -> None:
        """Fail naming every resource type of ``stack`` that is neither emulated nor accepted."""
        unknown = sorted(
            {
                f"{resource['Type']} ({logical_id})"
                for logical_id, resource in stack.template.get("Resources", {}).items()
                if resource["Type"] not in self.handlers and resource["Type"] not in NOT_EMULATED
            }
        )
        if unknown:
            raise TemplateError(
                f"{stack.name}: resource types not supported by the local cloud: {', '.join(unknown)}. "
                f"Emulated: {', '.join(sorted(self.handlers))}; accepted without emulation: "
                f"{', '.join(sorted(NOT_EMULATED))}"
            )

    def _deploy_stack(self, stack: StackArtifact, deployment: Deployment) -> None:
        resolver = TemplateResolver(
            stack.template, stack_name=stack.name, environment=self.environment, exports=deployment.exports
        )
        result = StackDeployment(name=stack.name)
        context = _StackContext(stack, resolver, deployment, result)
        providers = self._custom_resource_providers(stack)
        # Whether a logging stage may count on this stack's AWS::ApiGateway::Account (local/fidelity.py).
        api_accounts = [
            name
            for name, r in stack.template.get("Resources", {}).items()
            if r["Type"] == "AWS::ApiGateway::Account"
        ]
        role_before = api_gateway_logging_role(self.clients) if api_accounts else None
        for logical_id in resolver.resource_order():
            resource = stack.template["Resources"][logical_id]
            resource_type = resource["Type"]
            path = f"Resources.{logical_id}.Properties"
            properties = resolver.resolve(resource.get("Properties", {}), path)
            unawaited = None
            if role_before is None and resource_type in (
                "AWS::ApiGateway::Stage",
                "AWS::ApiGateway::Deployment",
            ):
                awaited = _transitive_dependencies(resolver, logical_id)
                unawaited = next((a for a in api_accounts if a not in awaited), None)
            self._check_fidelity(stack.name, logical_id, resource_type, properties, unawaited)
            if resource_type == "AWS::Lambda::Function" and logical_id in providers:
                state = self._provider_function(context, logical_id, properties, providers[logical_id])
            elif resource_type in self.handlers:
                try:
                    state = self.handlers[resource_type](context, logical_id, properties)
                except TemplateError:
                    raise
                except Exception as error:
                    raise TemplateError(
                        f"{stack.name}: creating {logical_id} ({resource_type}) failed: {error}"
                    ) from error
            else:
                spec = NOT_EMULATED[resource_type]
                state = ResourceState(
                    resource_type,
                    spec.ref(logical_id, properties, self.environment),
                    spec.attributes(logical_id, properties, self.environment),
                )
                result.not_emulated[logical_id] = f"{resource_type}: {spec.reason}"
            deployment.iam.record(resource_type, str(state.ref), state.attributes, properties)
            resolver.set_resource(logical_id, state)
            result.resources[logical_id] = state
        result.outputs = resolver.outputs()
        deployment.exports.update(resolver.exported())
        deployment.stacks[stack.name] = result

    def _check_fidelity(
        self,
        stack: str,
        logical_id: str,
        resource_type: str,
        props: dict[str, Any],
        unawaited: str | None = None,
    ) -> None:
        # Where AWS refuses what moto accepts (key policies, Lambda limits, account state): local/fidelity.py.
        spec = NOT_EMULATED.get(resource_type)
        name = spec.ref(logical_id, props, self.environment) if spec else logical_id
        try:
            check_resource(
                self.clients,
                self.environment,
                resource_type,
                name,
                props,
                account=self.account,
                unawaited_account=unawaited,
            )
        except TemplateError as error:
            raise type(error)(f"{stack}: creating {logical_id} ({resource_type}) failed: {error}") from None

    def _custom_resource_providers(self, stack: StackArtifact) -> dict[str, str]:
        # Provider functions of the custom resources applied natively: {function logical id: custom type}.
        providers: dict[str, str] = {}
        for resource in stack.template.get("Resources", {}).values():
            if resource["Type"] in NATIVE_CUSTOM_RESOURCES:
                token = resource.get("Properties", {}).get("ServiceToken", {})
                target = token.get("Fn::GetAtt", [None])[0] if isinstance(token, dict) else None
                if isinstance(target, str):
                    providers[target] = resource["Type"]
        return providers

    def _provider_function(
        self, ctx: _StackContext, logical_id: str, props: dict[str, Any], custom_type: str
    ) -> ResourceState:
        name = props.get("FunctionName") or generated_name(ctx.name, logical_id, 64)
        arn = _arn(self.environment, "lambda", f"function:{name}")
        ctx.result.not_emulated[logical_id] = (
            f"AWS::Lambda::Function: provider of {custom_type}, {NATIVE_CUSTOM_RESOURCES[custom_type]}"
        )
        return ResourceState("AWS::Lambda::Function", name, {"Arn": arn})

    # -- KMS -----------------------------------------------------------------------------------------

    def _kms_key(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        kms = self.clients("kms")
        kwargs: dict[str, Any] = {
            "Description": props.get("Description", ""),
            "KeyUsage": props.get("KeyUsage", "ENCRYPT_DECRYPT"),
            "KeySpec": props.get("KeySpec", "SYMMETRIC_DEFAULT"),
        }
        if "KeyPolicy" in props:
            policy = props["KeyPolicy"]
            kwargs["Policy"] = policy if isinstance(policy, str) else json.dumps(policy)
        metadata = kms.create_key(**kwargs)["KeyMetadata"]
        if props.get("EnableKeyRotation"):
            kms.enable_key_rotation(KeyId=metadata["KeyId"])
        return ResourceState(
            "AWS::KMS::Key", metadata["KeyId"], {"Arn": metadata["Arn"], "KeyId": metadata["KeyId"]}
        )

    def _kms_alias(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        self.clients("kms").create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
        return ResourceState("AWS::KMS::Alias", props["AliasName"])

    # -- S3 ------------------------------------------------------------------------------------------

    def _s3_bucket(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        s3 = self.clients("s3")
        name = props.get("BucketName") or generated_name(ctx.name, logical_id, 63, lowercase=True)
        kwargs: dict[str, Any] = {"Bucket": name}
        if self.environment.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.environment.region}
        s3.create_bucket(**kwargs)
        versioning = (props.get("VersioningConfiguration") or {}).get("Status")
        if versioning:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning})
        encryption = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration")
        if encryption:
            # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault.
            rules = [
                {
                    **{k: v for k, v in rule.items() if k != "ServerSideEncryptionByDefault"},
                    "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                }
                if "ServerSideEncryptionByDefault" in rule
                else rule
                for rule in encryption
            ]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
        notifications = props.get("NotificationConfiguration")
        if notifications:
            config: dict[str, Any] = {}
            eventbridge = notifications.get("EventBridgeConfiguration")
            if isinstance(eventbridge, dict) and eventbridge.get("EventBridgeEnabled", True):
                config["EventBridgeConfiguration"] = {}
            for key in ("QueueConfigurations", "TopicConfigurations", "LambdaConfigurations"):
                if notifications.get(key):
                    raise TemplateError(f"{ctx.name}: {logical_id}: S3 {key} are not supported locally")
            s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=config)
        if props.get("Tags"):
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": props["Tags"]})
        env = self.environment
        return ResourceState(
            "AWS::S3::Bucket",
            name,
            {
                "Arn": f"arn:{env.partition}:s3:::{name}",
                "DomainName": f"{name}.s3.{env.url_suffix}",
                "RegionalDomainName": f"{name}.s3.{env.region}.{env.url_suffix}",
                "DualStackDomainName": f"{name}.s3.dualstack.{env.region}.{env.url_suffix}",
                "WebsiteURL": f"http://{name}.s3-website-{env.region}.{env.url_suffix}",
            },
        )

    def _s3_bucket_notifications(
        self, ctx: _StackContext, logical_id: str, props: dict[str, Any]
    ) -> ResourceState:
        config = dict(props.get("NotificationConfiguration") or {})
        unsupported = [
            key
            for key in ("LambdaFunctionConfigurations", "QueueConfigurations", "TopicConfigurations")
            if config.get(key)
        ]
        if unsupported:
            raise TemplateError(
                f"{ctx.name}: {logical_id}: bucket notifications {unsupported} are not supported locally "
                "(EventBridge notifications are)"
            )
        self.clients("s3").put_bucket_notification_configuration(
            Bucket=props["BucketName"],
            NotificationConfiguration={k: v for k, v in config.items() if k == "EventBridgeConfiguration"},
        )
        return ResourceState("Custom::S3BucketNotifications", f"{props['BucketName']}-notifications")

    # -- DynamoDB ------------------------------------------------------------------------------------

    def _dynamodb_table(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        dynamodb = self.clients("dynamodb")
        name = props.get("TableName") or generated_name(ctx.name, logical_id, 255)
        kwargs: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if kwargs["BillingMode"] == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = props.get(
                "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
            )
        for key in (
            "GlobalSecondaryIndexes",
            "LocalSecondaryIndexes",
            "TableClass",
            "DeletionProtectionEnabled",
        ):
            if key in props:
                kwargs[key] = props[key]
        stream = props.get("StreamSpecification")
        if stream:
            kwargs["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        sse = props.get("SSESpecification")
        if sse:
            kwargs["SSESpecification"] = {
                k: v
                for k, v in {
                    "Enabled": sse.get("SSEEnabled", False),
                    "SSEType": sse.get("SSEType"),
                    "KMSMasterKeyId": sse.get("KMSMasterKeyId"),
                }.items()
                if v is not None
            }
        table = dynamodb.create_table(**kwargs)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        attributes = {"Arn": table["TableArn"]}
        if "LatestStreamArn" in table:
            attributes["StreamArn"] = table["LatestStreamArn"]
        return ResourceState("AWS::DynamoDB::Table", name, attributes)

    # -- SNS / SQS -----------------------------------------------------------------------------------

    def _sns_topic(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        sns = self.clients("sns")
        name = props.get("TopicName") or generated_name(ctx.name, logical_id, 256)
        attributes = {
            key: str(props[key])
            for key in ("DisplayName", "KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication")
            if key in props
        }
        arn = sns.create_topic(Name=name, Attributes=attributes)["TopicArn"]
        for subscription in props.get("Subscription", []):
            sns.subscribe(TopicArn=arn, Protocol=subscription["Protocol"], Endpoint=subscription["Endpoint"])
        return ResourceState("AWS::SNS::Topic", arn, {"TopicArn": arn, "TopicName": name})

    def _sns_subscription(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        response = self.clients("sns").subscribe(
            TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props.get("Endpoint", "")
        )
        return ResourceState("AWS::SNS::Subscription", response["SubscriptionArn"])

    def _sqs_queue(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        sqs = self.clients("sqs")
        fifo = bool(props.get("FifoQueue"))
        name = props.get("QueueName") or generated_name(ctx.name, logical_id, 75 if fifo else 80) + (
            ".fifo" if fifo else ""
        )
        attribute_names = (
            "DelaySeconds",
            "MaximumMessageSize",
            "MessageRetentionPeriod",
            "ReceiveMessageWaitTimeSeconds",
            "VisibilityTimeout",
            "KmsMasterKeyId",
            "KmsDataKeyReusePeriodSeconds",
            "FifoQueue",
            "ContentBasedDeduplication",
            "SqsManagedSseEnabled",
        )
        attributes = {key: property_text(props[key]) for key in attribute_names if key in props}
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = _arn(self.environment, "sqs", name)
        return ResourceState("AWS::SQS::Queue", url, {"Arn": arn, "QueueName": name, "QueueUrl": url})

    # -- Lambda --------------------------------------------------------------------------------------

    def _code_dir(self, ctx: _StackContext, logical_id: str, code: dict[str, Any]) -> Path:
        if "ImageUri" in code:
            raise TemplateError(
                f"{ctx.name}: {logical_id}: container image functions are not supported locally"
            )
        if "ZipFile" in code:
            target = self.work_dir / "inline" / ctx.name / logical_id
            target.mkdir(parents=True, exist_ok=True)
            (target / "index.py").write_text(code["ZipFile"])
            return target
        asset = ctx.stack.asset_for_object_key(str(code.get("S3Key")))
        if asset.source.is_dir():
            return asset.source
        if zipfile.is_zipfile(asset.source):
            target = self.work_dir / "zips" / asset.asset_hash
            if not target.exists():
                with zipfile.ZipFile(asset.source) as archive:
                    archive.extractall(target)
            return target
        raise TemplateError(
            f"{ctx.name}: {logical_id}: asset {asset.source} is neither a folder nor a zip file"
        )

    def _lambda_function(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        runtime = str(props.get("Runtime", ""))
        if not runtime.startswith("python3"):
            raise TemplateError(
                f"{ctx.name}: {logical_id}: runtime {runtime or props.get('PackageType')!r} is not supported "
                "locally (Python 3 functions only)"
            )
        name = props.get("FunctionName") or generated_name(ctx.name, logical_id, 64)
        arn = _arn(self.environment, "lambda", f"function:{name}")
        variables = (props.get("Environment") or {}).get("Variables") or {}
        spec = FunctionSpec(
            name=name,
            arn=arn,
            handler=str(props["Handler"]),
            code_dir=self._code_dir(ctx, logical_id, props["Code"]),
            environment={
                key: self._rewrite_endpoints(property_text(value)) for key, value in variables.items()
            },
            timeout_seconds=int(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            runtime=runtime,
            role_arn=str(props["Role"]) if props.get("Role") else None,
        )
        spec.async_config.dead_letter_arn = (props.get("DeadLetterConfig") or {}).get("TargetArn")
        function = self.runtime.add(spec)
        # Registered under the name and the ARN: tasks and targets may use either form.
        for key in (name, arn):
            self.registry.register(
                key, function, memory_mb=spec.memory_mb, timeout_seconds=spec.timeout_seconds
            )
        ctx.deployment.functions[name] = spec
        return ResourceState("AWS::Lambda::Function", name, {"Arn": arn})

    def _rewrite_endpoints(self, value: str) -> str:
        for aws_url, local_url in self.endpoint_rewrites.items():
            value = value.replace(aws_url, local_url)
        return value

    def _lambda_event_invoke_config(
        self, ctx: _StackContext, logical_id: str, props: dict[str, Any]
    ) -> ResourceState:
        from local.sfn import function_name_of

        name = function_name_of(str(props["FunctionName"]))
        spec = ctx.deployment.functions.get(name)
        if spec is None:
            raise TemplateError(f"{ctx.name}: {logical_id}: function {name} is not deployed")
        if "MaximumRetryAttempts" in props:
            spec.async_config.maximum_retry_attempts = int(props["MaximumRetryAttempts"])
        if "MaximumEventAgeInSeconds" in props:
            spec.async_config.maximum_event_age_seconds = int(props["MaximumEventAgeInSeconds"])
        on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        if on_failure:
            if ":sqs:" not in on_failure:
                raise TemplateError(
                    f"{ctx.name}: {logical_id}: only SQS on-failure destinations are supported"
                )
            spec.async_config.on_failure_arn = on_failure
        if (props.get("DestinationConfig") or {}).get("OnSuccess"):
            raise TemplateError(
                f"{ctx.name}: {logical_id}: on-success destinations are not supported locally"
            )
        return ResourceState("AWS::Lambda::EventInvokeConfig", f"{name}-{props.get('Qualifier', '$LATEST')}")

    # -- Step Functions ------------------------------------------------------------------------------

    def _state_machine(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        if "DefinitionString" in props:
            definition = str(props["DefinitionString"])
        elif "Definition" in props:
            definition = json.dumps(props["Definition"])
        elif "DefinitionS3Location" in props:
            location = props["DefinitionS3Location"]
            definition = ctx.stack.asset_for_object_key(str(location["Key"])).source.read_text()
        else:
            raise TemplateError(f"{ctx.name}: {logical_id}: state machine without a definition")
        for key, value in (props.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + key + "}", property_text(value))
        leftover = sorted(set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", definition)))
        if leftover:
            raise TemplateError(
                f"{ctx.name}: {logical_id}: definition placeholders without a DefinitionSubstitutions value: "
                f"{leftover}"
            )
        json.loads(definition)  # CloudFormation refuses a definition that is not JSON
        name = props.get("StateMachineName") or generated_name(ctx.name, logical_id, 80)
        response = self.clients("stepfunctions").create_state_machine(
            name=name,
            definition=definition,
            roleArn=props["RoleArn"],
            type=props.get("StateMachineType", "STANDARD"),
        )
        arn = response["stateMachineArn"]
        return ResourceState("AWS::StepFunctions::StateMachine", arn, {"Arn": arn, "Name": name})

    # -- EventBridge ---------------------------------------------------------------------------------

    def _events_rule(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        schedule = props.get("ScheduleExpression")
        if schedule is not None:
            try:
                schedule_minutes(str(schedule))
            except ValueError as error:
                raise TemplateError(f"{ctx.name}: {logical_id}: {error}") from None
        events = self.clients("events")
        name = props.get("Name") or generated_name(ctx.name, logical_id, 64)
        bus = props.get("EventBusName", "default")
        pattern = props.get("EventPattern")
        kwargs: dict[str, Any] = {
            "Name": name,
            "State": props.get("State", "ENABLED"),
            "Description": props.get("Description", ""),
            "EventBusName": bus,
        }
        if pattern is not None:
            kwargs["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
        if schedule is not None:
            kwargs["ScheduleExpression"] = str(schedule)
        arn = events.put_rule(**kwargs)["RuleArn"]
        targets = []
        for target in props.get("Targets", []):
            service = str(target["Arn"]).split(":")[2]
            if schedule is not None and service != "lambda":
                raise TemplateError(
                    f"{ctx.name}: {logical_id}: scheduled rules fire Lambda targets only locally, not {service!r}"
                )
            if service not in ("lambda", "sqs", "logs", "events"):
                raise TemplateError(
                    f"{ctx.name}: {logical_id}: targets of service {service!r} are not delivered locally "
                    "(supported: Lambda, SQS, CloudWatch Logs, event buses)"
                )
            targets.append({key: value for key, value in target.items() if key != "RoleArn" or value})
        if targets:
            events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
        return ResourceState("AWS::Events::Rule", name, {"Arn": arn})

    # -- Cognito -------------------------------------------------------------------------------------

    def _api_arguments(
        self,
        ctx: _StackContext,
        logical_id: str,
        operation: str,
        props: dict[str, Any],
        *,
        skip: tuple[str, ...],
    ) -> dict[str, Any]:
        # CloudFormation's Cognito properties mostly carry the API's parameter names: pass those, record
        # the rest (EnabledMfas, UserPoolTier, ...) as not emulated.
        members = (
            self.clients("cognito-idp").meta.service_model.operation_model(operation).input_shape.members
        )
        passed = {key: value for key, value in props.items() if key in members and key not in skip}
        ignored = sorted(key for key in props if key not in members and key not in skip)
        if ignored:
            ctx.result.not_emulated[logical_id] = f"{operation}: properties not applied locally: {ignored}"
        return passed

    def _user_pool(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        name = props.get("UserPoolName") or generated_name(ctx.name, logical_id, 128)
        kwargs = self._api_arguments(
            ctx, logical_id, "CreateUserPool", props, skip=("PoolName", "UserPoolName")
        )
        pool = self.clients("cognito-idp").create_user_pool(PoolName=name, **kwargs)["UserPool"]
        pool_id, env = pool["Id"], self.environment
        return ResourceState(
            "AWS::Cognito::UserPool",
            pool_id,
            {
                "Arn": pool["Arn"],
                "UserPoolId": pool_id,
                "ProviderName": f"cognito-idp.{env.region}.{env.url_suffix}/{pool_id}",
                "ProviderURL": f"https://cognito-idp.{env.region}.{env.url_suffix}/{pool_id}",
            },
        )

    def _user_pool_client(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        name = props.get("ClientName") or generated_name(ctx.name, logical_id, 128)
        kwargs = self._api_arguments(
            ctx, logical_id, "CreateUserPoolClient", props, skip=("ClientName", "UserPoolId")
        )
        client = self.clients("cognito-idp").create_user_pool_client(
            UserPoolId=props["UserPoolId"], ClientName=name, **kwargs
        )["UserPoolClient"]
        attributes = {"ClientId": client["ClientId"], "Name": name}
        if client.get("ClientSecret"):
            attributes["ClientSecret"] = client["ClientSecret"]
        return ResourceState("AWS::Cognito::UserPoolClient", client["ClientId"], attributes)

    def _user_pool_group(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        name = props.get("GroupName") or generated_name(ctx.name, logical_id, 128)
        kwargs = self._api_arguments(ctx, logical_id, "CreateGroup", props, skip=("GroupName", "UserPoolId"))
        self.clients("cognito-idp").create_group(UserPoolId=props["UserPoolId"], GroupName=name, **kwargs)
        return ResourceState("AWS::Cognito::UserPoolGroup", name)

    def _user_pool_user(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        # AWS e-mails an invitation with a temporary password; locally no e-mail is sent (MessageAction
        # SUPPRESS) and the user has a random temporary password nobody knows: the local cloud creates its
        # own users for people and simulated workers (local.cognito.create_user).
        username = props.get("Username") or next(
            (a["Value"] for a in props.get("UserAttributes") or [] if a.get("Name") == "email"), None
        )
        if not username:
            raise TemplateError(f"{ctx.name}: {logical_id}: a user needs a Username or an email attribute")
        from .cognito import new_password

        kwargs = self._api_arguments(
            ctx,
            logical_id,
            "AdminCreateUser",
            props,
            skip=("Username", "UserPoolId", "MessageAction", "DesiredDeliveryMediums", "TemporaryPassword"),
        )
        self.clients("cognito-idp").admin_create_user(
            UserPoolId=props["UserPoolId"],
            Username=str(username),
            TemporaryPassword=new_password(),
            MessageAction="SUPPRESS",
            **kwargs,
        )
        return ResourceState("AWS::Cognito::UserPoolUser", str(username))

    def _user_to_group(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        self.clients("cognito-idp").admin_add_user_to_group(
            UserPoolId=props["UserPoolId"], Username=props["Username"], GroupName=props["GroupName"]
        )
        return ResourceState(
            "AWS::Cognito::UserPoolUserToGroupAttachment", f"{props['GroupName']}-{props['Username']}"
        )

    # -- API Gateway ---------------------------------------------------------------------------------

    def _api(self, ctx: _StackContext, api_id: str) -> RestApiModel:
        api = ctx.deployment.apis.get(api_id)
        if api is None:
            raise TemplateError(f"{ctx.name}: REST API {api_id} is not deployed")
        return api

    def _rest_api(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        for key in ("Body", "BodyS3Location", "CloneFrom"):
            if key in props:
                raise TemplateError(
                    f"{ctx.name}: {logical_id}: RestApi {key} (OpenAPI import) is not supported"
                )
        apigateway = self.clients("apigateway")
        kwargs: dict[str, Any] = {"name": props.get("Name") or logical_id}
        if props.get("Description"):
            kwargs["description"] = props["Description"]
        if props.get("BinaryMediaTypes"):
            kwargs["binaryMediaTypes"] = props["BinaryMediaTypes"]
        if props.get("EndpointConfiguration"):
            kwargs["endpointConfiguration"] = {"types": props["EndpointConfiguration"].get("Types", ["EDGE"])}
        api_id = apigateway.create_rest_api(**kwargs)["id"]
        root = next(r["id"] for r in apigateway.get_resources(restApiId=api_id)["items"] if r["path"] == "/")
        model = RestApiModel(
            id=api_id,
            name=kwargs["name"],
            binary_media_types=list(props.get("BinaryMediaTypes", [])),
            root_resource_id=root,
            resource_paths={root: "/"},
        )
        ctx.deployment.apis[api_id] = model
        return ResourceState(
            "AWS::ApiGateway::RestApi", api_id, {"RootResourceId": root, "RestApiId": api_id}
        )

    def _api_resource(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        api = self._api(ctx, props["RestApiId"])
        parent_path = api.resource_paths[props["ParentId"]]
        resource_id = self.clients("apigateway").create_resource(
            restApiId=api.id, parentId=props["ParentId"], pathPart=props["PathPart"]
        )["id"]
        api.resource_paths[resource_id] = parent_path.rstrip("/") + "/" + props["PathPart"]
        return ResourceState("AWS::ApiGateway::Resource", resource_id, {"ResourceId": resource_id})

    def _api_method(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        api = self._api(ctx, props["RestApiId"])
        authorization = props.get("AuthorizationType", "NONE")
        if authorization not in ("NONE", "AWS_IAM", "COGNITO_USER_POOLS"):
            raise TemplateError(
                f"{ctx.name}: {logical_id}: authorization type {authorization} is not supported locally "
                "(NONE, AWS_IAM, COGNITO_USER_POOLS; API keys with any)"
            )
        authorizer_id = props.get("AuthorizerId")
        if authorization == "COGNITO_USER_POOLS" and authorizer_id not in api.authorizers:
            raise TemplateError(
                f"{ctx.name}: {logical_id}: COGNITO_USER_POOLS needs the AuthorizerId of a Cognito authorizer "
                f"of the same API (got {authorizer_id!r})"
            )
        integration = props.get("Integration") or {}
        integration_type = integration.get("Type", "MOCK")
        function_arn = None
        if integration_type == "AWS_PROXY":
            match = re.search(
                r":lambda:path/2015-03-31/functions/(.+)/invocations$", str(integration.get("Uri", ""))
            )
            if not match:
                raise TemplateError(
                    f"{ctx.name}: {logical_id}: AWS_PROXY integrations must target a Lambda function"
                )
            function_arn = match.group(1)
        elif integration_type != "MOCK":
            raise TemplateError(
                f"{ctx.name}: {logical_id}: integration type {integration_type} is not supported locally "
                "(AWS_PROXY to Lambda, MOCK)"
            )
        http_method = str(props["HttpMethod"]).upper()
        apigateway = self.clients("apigateway")
        method_kwargs: dict[str, Any] = {
            "restApiId": api.id,
            "resourceId": props["ResourceId"],
            "httpMethod": http_method,
            "authorizationType": authorization,
            "apiKeyRequired": bool(props.get("ApiKeyRequired", False)),
        }
        if props.get("RequestParameters"):
            method_kwargs["requestParameters"] = {k: bool(v) for k, v in props["RequestParameters"].items()}
        if props.get("RequestValidatorId"):
            method_kwargs["requestValidatorId"] = props["RequestValidatorId"]
        if authorization == "COGNITO_USER_POOLS":
            method_kwargs["authorizerId"] = authorizer_id
            if props.get("AuthorizationScopes"):
                method_kwargs["authorizationScopes"] = list(props["AuthorizationScopes"])
        apigateway.put_method(**method_kwargs)
        if integration_type == "AWS_PROXY":
            apigateway.put_integration(
                restApiId=api.id,
                resourceId=props["ResourceId"],
                httpMethod=http_method,
                type="AWS_PROXY",
                integrationHttpMethod=integration.get("IntegrationHttpMethod", "POST"),
                uri=integration["Uri"],
            )
        path = api.resource_paths[props["ResourceId"]]
        api.methods[(path, http_method)] = MethodModel(
            resource_id=props["ResourceId"],
            resource_path=path,
            http_method=http_method,
            authorization_type=authorization,
            api_key_required=bool(props.get("ApiKeyRequired", False)),
            integration_type=integration_type,
            function_arn=function_arn,
            request_parameters={k: bool(v) for k, v in (props.get("RequestParameters") or {}).items()},
            validator_id=props.get("RequestValidatorId"),
            authorizer_id=authorizer_id if authorization == "COGNITO_USER_POOLS" else None,
            authorization_scopes=list(props.get("AuthorizationScopes") or []),
        )
        return ResourceState("AWS::ApiGateway::Method", f"{api.id}-{props['ResourceId']}-{http_method}")

    def _api_authorizer(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        api = self._api(ctx, props["RestApiId"])
        kind = props.get("Type")
        if kind != "COGNITO_USER_POOLS":
            raise TemplateError(
                f"{ctx.name}: {logical_id}: authorizers of type {kind} are not supported locally "
                "(COGNITO_USER_POOLS)"
            )
        arns = [str(arn) for arn in props.get("ProviderARNs") or []]
        if not arns:
            raise TemplateError(f"{ctx.name}: {logical_id}: a Cognito authorizer needs ProviderARNs")
        identity_source = str(props.get("IdentitySource") or "method.request.header.Authorization")
        if not identity_source.startswith("method.request.header."):
            raise TemplateError(
                f"{ctx.name}: {logical_id}: IdentitySource {identity_source!r} is not a request header"
            )
        name = str(props.get("Name") or logical_id)
        authorizer_id = self.clients("apigateway").create_authorizer(
            restApiId=api.id,
            name=name,
            type="COGNITO_USER_POOLS",
            providerARNs=arns,
            identitySource=identity_source,
        )["id"]
        api.authorizers[authorizer_id] = AuthorizerModel(
            id=authorizer_id,
            name=name,
            type="COGNITO_USER_POOLS",
            provider_arns=tuple(arns),
            identity_source=identity_source,
        )
        return ResourceState("AWS::ApiGateway::Authorizer", authorizer_id, {"AuthorizerId": authorizer_id})

    def _api_validator(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        api = self._api(ctx, props["RestApiId"])
        body = bool(props.get("ValidateRequestBody", False))
        parameters = bool(props.get("ValidateRequestParameters", False))
        validator_id = self.clients("apigateway").create_request_validator(
            restApiId=api.id,
            name=props.get("Name", logical_id),
            validateRequestBody=body,
            validateRequestParameters=parameters,
        )["id"]
        api.validators[validator_id] = (body, parameters)
        return ResourceState(
            "AWS::ApiGateway::RequestValidator", validator_id, {"RequestValidatorId": validator_id}
        )

    def _api_deployment(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        api = self._api(ctx, props["RestApiId"])
        kwargs: dict[str, Any] = {"restApiId": api.id, "description": props.get("Description", "")}
        if props.get("StageName"):
            kwargs["stageName"] = props["StageName"]
        deployment_id = self.clients("apigateway").create_deployment(**kwargs)["id"]
        if props.get("StageName"):
            api.stages[props["StageName"]] = StageModel(name=props["StageName"], deployment_id=deployment_id)
        return ResourceState("AWS::ApiGateway::Deployment", deployment_id, {"DeploymentId": deployment_id})

    def _api_stage(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        api = self._api(ctx, props["RestApiId"])
        name = props["StageName"]
        self.clients("apigateway").create_stage(
            restApiId=api.id,
            stageName=name,
            deploymentId=props["DeploymentId"],
            description=props.get("Description", ""),
            tracingEnabled=bool(props.get("TracingEnabled", False)),
        )
        api.stages[name] = StageModel(
            name=name,
            deployment_id=props["DeploymentId"],
            method_settings=list(props.get("MethodSettings", [])),
        )
        return ResourceState("AWS::ApiGateway::Stage", name)

    def _api_account(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        """The region's API Gateway settings: UpdateAccount ``/cloudwatchRoleArn`` in moto (account-wide, so it
        outlives the stack as on AWS). The role itself is not checked (IAM is not evaluated locally)."""
        if props.get("CloudWatchRoleArn"):
            set_api_gateway_logging_role(self.clients, str(props["CloudWatchRoleArn"]))
        account_id = hashlib.sha256(f"{ctx.name}/{logical_id}".encode()).hexdigest()[:10]
        return ResourceState("AWS::ApiGateway::Account", account_id, {"Id": account_id})

    def _workteam(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        """The first Cognito workteam creates the region's private workforce from its pool (fidelity.py checks
        later ones). Labeling itself uses the simulated workforce (reference labels), whatever the workteam."""
        cognito = workteam_cognito(props)
        if cognito is not None and self.account.private_workforce is None:
            self.account.private_workforce = PrivateWorkforce(user_pool=cognito[0], client_id=cognito[1])
        name = str(props.get("WorkteamName") or logical_id)
        arn = _arn(self.environment, "sagemaker", f"workteam/private-crowd/{name}")
        return ResourceState("AWS::SageMaker::Workteam", arn, {"WorkteamArn": arn, "WorkteamName": name})

    def _api_key(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        # API keys are at least 20 characters; AWS generates 40 when the template sets none.
        value = str(props.get("Value") or secrets.token_urlsafe(30)[:40])
        name = props.get("Name") or generated_name(ctx.name, logical_id, 128)
        stage_keys = [
            {"restApiId": key["RestApiId"], "stageName": key["StageName"]}
            for key in props.get("StageKeys", [])
        ]
        key_id = self.clients("apigateway").create_api_key(
            name=name,
            description=props.get("Description", ""),
            enabled=bool(props.get("Enabled", True)),
            value=value,
            stageKeys=stage_keys,
        )["id"]
        model = ApiKeyModel(id=key_id, name=name, value=value, enabled=bool(props.get("Enabled", True)))
        for key in props.get("StageKeys", []):
            self._api(ctx, key["RestApiId"]).api_keys[key_id] = model
        for api in ctx.deployment.apis.values():
            api.api_keys.setdefault(key_id, model)
        return ResourceState("AWS::ApiGateway::ApiKey", key_id, {"APIKeyId": key_id})

    def _usage_plan(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        throttle = _throttle(props.get("Throttle"))
        stages = [(stage["ApiId"], stage["Stage"]) for stage in props.get("ApiStages", [])]
        kwargs: dict[str, Any] = {
            "name": props.get("UsagePlanName") or generated_name(ctx.name, logical_id, 128),
            "apiStages": [{"apiId": api_id, "stage": stage} for api_id, stage in stages],
        }
        if throttle:
            kwargs["throttle"] = {"rateLimit": throttle.rate_limit, "burstLimit": throttle.burst_limit}
        if props.get("Quota"):
            raise TemplateError(f"{ctx.name}: {logical_id}: usage plan quotas are not enforced locally")
        plan_id = self.clients("apigateway").create_usage_plan(**kwargs)["id"]
        plan = UsagePlanModel(id=plan_id, api_stages=stages, throttle=throttle)
        for api_id, _ in stages:
            self._api(ctx, api_id).usage_plans[plan_id] = plan
        return ResourceState("AWS::ApiGateway::UsagePlan", plan_id, {"Id": plan_id})

    def _usage_plan_key(self, ctx: _StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
        if props.get("KeyType", "API_KEY") != "API_KEY":
            raise TemplateError(f"{ctx.name}: {logical_id}: key type {props.get('KeyType')} is not supported")
        self.clients("apigateway").create_usage_plan_key(
            usagePlanId=props["UsagePlanId"], keyId=props["KeyId"], keyType="API_KEY"
        )
        for api in ctx.deployment.apis.values():
            plan = api.usage_plans.get(props["UsagePlanId"])
            if plan is not None:
                plan.key_ids.add(props["KeyId"])
        return ResourceState("AWS::ApiGateway::UsagePlanKey", f"{props['UsagePlanId']}-{props['KeyId']}")


def _transitive_dependencies(resolver: TemplateResolver, logical_id: str) -> set[str]:
    """Every resource ``logical_id`` waits for on CloudFormation (references and DependsOn, transitively)."""
    found: set[str] = set()
    pending = [logical_id]
    while pending:
        for dependency in resolver.dependencies(pending.pop()):
            if dependency not in found:
                found.add(dependency)
                pending.append(dependency)
    return found


def _throttle(value: Any) -> Throttle | None:
    if not value or not isinstance(value, dict):
        return None
    if "RateLimit" not in value and "BurstLimit" not in value:
        return None
    return Throttle(
        rate_limit=float(value.get("RateLimit", 10000)), burst_limit=int(value.get("BurstLimit", 5000))
    )


def describe_support() -> dict[str, Any]:
    """What the local deployment does with each resource type (for docs and the CLI)."""
    return {
        "emulated": sorted(EMULATED_TYPES),
        "not_emulated": {name: spec.reason for name, spec in sorted(NOT_EMULATED.items())},
        "custom_resources": dict(NATIVE_CUSTOM_RESOURCES),
    }


EMULATED_TYPES: Final[frozenset[str]] = frozenset(
    {
        "AWS::KMS::Key",
        "AWS::KMS::Alias",
        "AWS::S3::Bucket",
        "Custom::S3BucketNotifications",
        "AWS::DynamoDB::Table",
        "AWS::SNS::Topic",
        "AWS::SNS::Subscription",
        "AWS::SQS::Queue",
        "AWS::Lambda::Function",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::StepFunctions::StateMachine",
        "AWS::Events::Rule",
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGateway::Resource",
        "AWS::ApiGateway::Method",
        "AWS::ApiGateway::RequestValidator",
        "AWS::ApiGateway::Deployment",
        "AWS::ApiGateway::Stage",
        "AWS::ApiGateway::ApiKey",
        "AWS::ApiGateway::UsagePlan",
        "AWS::ApiGateway::UsagePlanKey",
        "AWS::ApiGateway::Authorizer",
        "AWS::ApiGateway::Account",
        "AWS::SageMaker::Workteam",
        "AWS::Cognito::UserPool",
        "AWS::Cognito::UserPoolClient",
        "AWS::Cognito::UserPoolGroup",
        "AWS::Cognito::UserPoolUser",
        "AWS::Cognito::UserPoolUserToGroupAttachment",
    }
)
"""Types the deployer creates with local behaviour (keep in sync with ``LocalDeployer.handlers``)."""
