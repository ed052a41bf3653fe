"""What IAM authorizes for one HTTP request to the local endpoint: its actions, resource ARNs and context.

:func:`derive` maps a request, as the moto server receives it, to the :class:`local.iam_policy.Request`\\ s
AWS evaluates for it (https://docs.aws.amazon.com/service-authorization/latest/reference/reference.html):
the service comes from the SigV4 credential scope, the operation from ``X-Amz-Target`` (JSON protocols), the
``Action`` parameter (query protocols) or the method and path (S3, Lambda's REST API). Resources are derived for
the services and operations this project calls; every other operation is evaluated against the resource ``*``
(so only a statement with ``Resource: "*"`` allows it, never a grant scoped to other resources) and
:attr:`Derived.resource_known` is False, which the caller logs.

Some operations need several permissions (``TransactWriteItems``: one per item; ``CopyObject``: read the
source, write the target; ``DeleteObjects``: delete each key): each is one Request, all must be allowed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from .iam_policy import Request

# The IAM service prefix of each SigV4 signing name that differs from it.
IAM_PREFIX = {"monitoring": "cloudwatch", "execute-api": "execute-api"}
# IAM actions named differently from the API operation.
ACTION_ALIASES = {"lambda:Invoke": "lambda:InvokeFunction"}


@dataclass(frozen=True)
class HttpRequest:
    """The parts of one HTTP request that authorization reads (path URL-encoded, query raw)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes = b""

    def header(self, name: str) -> str:
        """A header's value ('' when absent), case-insensitively."""
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), "")


@dataclass
class Derived:
    """The requests to authorize and whether their resources were derived (else ``*``)."""

    operation: str
    requests: list[Request] = field(default_factory=list)
    resource_known: bool = True


@dataclass(frozen=True)
class Scope:
    """Where ARNs point: the request's region and the account."""

    region: str
    account: str

    def arn(self, service: str, resource: str) -> str:
        """``arn:aws:<service>:<region>:<account>:<resource>``."""
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"


def signing_scope(request: HttpRequest) -> tuple[str, str, str] | None:
    """``(access key id, region, signing service)`` from the Authorization header or a presigned query."""
    match = re.search(
        r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request", request.header("Authorization")
    )
    if match:
        return match.group(1), match.group(2), match.group(3)
    credential = parse_qs(request.query).get("X-Amz-Credential")
    if credential:
        parts = credential[0].split("/")
        if len(parts) == 5:
            return parts[0], parts[2], parts[3]
    return None


def derive(service: str, request: HttpRequest, scope: Scope) -> Derived:
    """The requests IAM evaluates for ``request`` to signing service ``service`` (see module docstring)."""
    if service == "s3":
        return _s3(request)
    if service == "lambda":
        return _lambda(request, scope)
    target = request.header("X-Amz-Target")
    if service == "sagemaker" and request.path.startswith("/endpoints/"):
        # sagemaker-runtime's REST API (signed as "sagemaker"): POST /endpoints/<name>/invocations, and
        # /async-invocations for InvokeEndpointAsync, its own action on the endpoint
        # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html).
        endpoint = unquote(request.path.split("/")[2])
        operation = "InvokeEndpointAsync" if request.path.endswith("/async-invocations") else "InvokeEndpoint"
        return Derived(
            operation,
            [Request(f"sagemaker:{operation}", scope.arn("sagemaker", f"endpoint/{endpoint.lower()}"))],
        )
    if target:
        operation = target.rsplit(".", 1)[-1]
        params = _json(request.body)
    else:
        form = {**parse_qs(request.query), **parse_qs(request.body.decode("utf-8", "replace"))}
        params = {key: values[0] for key, values in form.items()}
        operation = str(params.get("Action", ""))
    prefix = IAM_PREFIX.get(service, service)
    action = ACTION_ALIASES.get(f"{prefix}:{operation}", f"{prefix}:{operation}")
    builder = _BUILDERS.get(prefix)
    derived = builder(action, operation, params, scope) if builder else None
    if derived is None:
        return Derived(operation, [Request(action, "*")], resource_known=False)
    return derived


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _one(
    action: str, operation: str, resource: str | None, context: Mapping[str, str] | None = None
) -> Derived | None:
    return Derived(operation, [Request(action, resource, context)]) if resource else None


# --- S3 ------------------------------------------------------------------------------------------------

_BUCKET_GET = {
    "versions": "s3:ListBucketVersions",
    "location": "s3:GetBucketLocation",
    "uploads": "s3:ListBucketMultipartUploads",
    "notification": "s3:GetBucketNotification",
    "encryption": "s3:GetEncryptionConfiguration",
    "versioning": "s3:GetBucketVersioning",
    "policy": "s3:GetBucketPolicy",
    "cors": "s3:GetBucketCORS",
    "tagging": "s3:GetBucketTagging",
    "lifecycle": "s3:GetLifecycleConfiguration",
}
_BUCKET_PUT = {
    "notification": "s3:PutBucketNotification",
    "policy": "s3:PutBucketPolicy",
    "versioning": "s3:PutBucketVersioning",
    "encryption": "s3:PutEncryptionConfiguration",
    "cors": "s3:PutBucketCORS",
    "tagging": "s3:PutBucketTagging",
    "lifecycle": "s3:PutLifecycleConfiguration",
    "publicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "ownershipControls": "s3:PutBucketOwnershipControls",
}


def s3_location(request: HttpRequest) -> tuple[str, str]:
    """``(bucket, key)`` of a path-style (or ``<bucket>.localhost``) S3 request; '' for absent parts."""
    host = request.header("Host").split(":")[0]
    path = unquote(request.path)
    if host.endswith(".localhost"):
        return host.removesuffix(".localhost"), path.lstrip("/")
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key


def _s3(request: HttpRequest) -> Derived:
    bucket, key = s3_location(request)
    query = parse_qs(request.query, keep_blank_values=True)
    method = request.method.upper()
    if not bucket:
        return Derived("ListBuckets", [Request("s3:ListAllMyBuckets", "*")])
    bucket_arn = f"arn:aws:s3:::{bucket}"
    if not key:
        return _s3_bucket(method, query, bucket_arn, request)
    object_arn = f"{bucket_arn}/{key}"
    versioned = "versionId" in query
    if method in ("GET", "HEAD"):
        if "tagging" in query:
            action = "s3:GetObjectTagging"
        elif "uploadId" in query:
            action = "s3:ListMultipartUploadParts"
        else:
            action = "s3:GetObjectVersion" if versioned else "s3:GetObject"
        return Derived(f"{method} object", [Request(action, object_arn)])
    if method == "DELETE":
        if "uploadId" in query:
            action = "s3:AbortMultipartUpload"
        elif "tagging" in query:
            action = "s3:DeleteObjectTagging"
        else:
            action = "s3:DeleteObjectVersion" if versioned else "s3:DeleteObject"
        return Derived("DeleteObject", [Request(action, object_arn)])
    if method == "PUT" and "tagging" in query:
        return Derived("PutObjectTagging", [Request("s3:PutObjectTagging", object_arn)])
    requests = [Request("s3:PutObject", object_arn)]
    source = request.header("x-amz-copy-source")
    if source and method == "PUT":
        source_path, _, source_query = unquote(source).lstrip("/").partition("?")
        read = "s3:GetObjectVersion" if "versionId=" in source_query else "s3:GetObject"
        requests.insert(0, Request(read, f"arn:aws:s3:::{source_path}"))
    return Derived(f"{method} object", requests)


def _s3_bucket(method: str, query: Mapping[str, list[str]], bucket_arn: str, request: HttpRequest) -> Derived:
    if method == "POST" and "delete" in query:
        keys = re.findall(r"<Key>(.*?)</Key>", request.body.decode("utf-8", "replace"))
        return Derived("DeleteObjects", [Request("s3:DeleteObject", f"{bucket_arn}/{k}") for k in keys])
    table = _BUCKET_GET if method in ("GET", "HEAD") else _BUCKET_PUT if method == "PUT" else {}
    named = next((action for param, action in table.items() if param in query), None)
    if named:
        return Derived(named.removeprefix("s3:"), [Request(named, bucket_arn)])
    if method in ("GET", "HEAD"):
        prefixes = query.get("prefix")
        context = {"s3:prefix": prefixes[0]} if prefixes else {}
        return Derived("ListBucket", [Request("s3:ListBucket", bucket_arn, context)])
    if method == "PUT":
        return Derived("CreateBucket", [Request("s3:CreateBucket", bucket_arn)])
    if method == "DELETE":
        return Derived("DeleteBucket", [Request("s3:DeleteBucket", bucket_arn)])
    return Derived(f"{method} bucket", [Request(f"s3:{method}", "*")], resource_known=False)


# --- Lambda's REST API ------------------------------------------------------------------------------------


def _lambda(request: HttpRequest, scope: Scope) -> Derived:
    match = re.match(r"^/[\d-]+/functions/([^/]+)(/invocations|/configuration|/policy)?", request.path)
    if not match:
        return Derived(f"{request.method} {request.path}", [Request("lambda:*", "*")], resource_known=False)
    name = unquote(match.group(1))
    arn = name if name.startswith("arn:") else scope.arn("lambda", f"function:{name}")
    suffix = match.group(2) or ""
    action = {
        "/invocations": "lambda:InvokeFunction",
        "/configuration": "lambda:GetFunctionConfiguration",
        "/policy": "lambda:GetPolicy",
    }.get(suffix, "lambda:GetFunction")
    return Derived(action.split(":")[1], [Request(action, arn)])


# --- JSON and query services -------------------------------------------------------------------------------


def _dynamodb(action: str, operation: str, params: Mapping[str, Any], scope: Scope) -> Derived | None:
    def table(name: str, index: str | None = None) -> str:
        arn = scope.arn("dynamodb", f"table/{name}")
        return f"{arn}/index/{index}" if index else arn

    if operation in ("BatchGetItem", "BatchWriteItem"):
        tables = sorted((params.get("RequestItems") or {}).keys())
        return Derived(operation, [Request(action, table(t)) for t in tables]) if tables else None
    if operation in ("TransactWriteItems", "TransactGetItems"):
        verbs = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
            "Get": "GetItem",
        }
        requests = [
            Request(f"dynamodb:{verbs[kind]}", table(str(body["TableName"])))
            for item in params.get("TransactItems") or []
            for kind, body in item.items()
            if kind in verbs
        ]
        return Derived(operation, requests) if requests else None
    name = params.get("TableName")
    if not name:
        return None
    return _one(action, operation, table(str(name), params.get("IndexName")))


def _sagemaker(action: str, operation: str, params: Mapping[str, Any], scope: Scope) -> Derived | None:
    if "ResourceArn" in params:
        return _one(action, operation, str(params["ResourceArn"]))
    # Model registry: a versioned package by its ARN (model-package/<group>/<version>); a group, and a package
    # created in a group, by the group (model-package-group/<name>).
    package = params.get("ModelPackageArn") or params.get("ModelPackageName")
    if package and str(package).startswith("arn:"):
        return _one(action, operation, str(package).lower())
    if "ModelPackageGroupName" in params:
        group = str(params["ModelPackageGroupName"]).lower()
        return _one(action, operation, scope.arn("sagemaker", f"model-package-group/{group}"))
    for key, kind in (
        ("TrainingJobName", "training-job"),
        ("HyperParameterTuningJobName", "hyper-parameter-tuning-job"),
        ("TransformJobName", "transform-job"),
        ("LabelingJobName", "labeling-job"),
        ("EndpointName", "endpoint"),
        ("EndpointConfigName", "endpoint-config"),
        ("ModelName", "model"),
    ):
        if key in params:
            # SageMaker lower-cases resource names in ARNs.
            return _one(action, operation, scope.arn("sagemaker", f"{kind}/{str(params[key]).lower()}"))
    return None


def _logs(action: str, operation: str, params: Mapping[str, Any], scope: Scope) -> Derived | None:
    group = params.get("logGroupName")
    if not group:
        return None
    stream = params.get("logStreamName")
    if stream and operation in ("GetLogEvents", "PutLogEvents"):
        return _one(action, operation, scope.arn("logs", f"log-group:{group}:log-stream:{stream}"))
    # IAM evaluates log-group actions against "log-group:<name>:*"
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/iam-access-control-overview-cwl.html).
    return _one(action, operation, scope.arn("logs", f"log-group:{group}:*"))


def _events(action: str, operation: str, params: Mapping[str, Any], scope: Scope) -> Derived | None:
    if operation == "PutEvents":
        buses = sorted({str(e.get("EventBusName") or "default") for e in params.get("Entries") or []})
        return Derived(
            operation,
            [
                Request(action, b if b.startswith("arn:") else scope.arn("events", f"event-bus/{b}"))
                for b in buses
            ],
        )
    rule = params.get("Rule") or params.get("Name")
    if rule and operation in (
        "PutRule",
        "PutTargets",
        "DescribeRule",
        "DeleteRule",
        "RemoveTargets",
        "ListTargetsByRule",
    ):
        return _one(action, operation, scope.arn("events", f"rule/{rule}"))
    return None


def _states(action: str, operation: str, params: Mapping[str, Any], scope: Scope) -> Derived | None:
    for key in ("stateMachineArn", "executionArn", "activityArn"):
        if key in params:
            return _one(action, operation, str(params[key]))
    if operation.startswith("SendTask"):
        # Task tokens name no resource in the request; IAM evaluates these against "*" unless the policy names
        # the state machine (CDK's grantTaskResponse does), which the local cloud cannot know from the token.
        return Derived(operation, [Request(action, "*")], resource_known=False)
    return None


def _sns(action: str, operation: str, params: Mapping[str, Any], scope: Scope) -> Derived | None:
    return _one(action, operation, params.get("TopicArn") or params.get("TargetArn"))


def _sqs(action: str, operation: str, params: Mapping[str, Any], scope: Scope) -> Derived | None:
    url = str(params.get("QueueUrl") or "")
    name = params.get("QueueName") or url.rstrip("/").rsplit("/", 1)[-1]
    return _one(action, operation, scope.arn("sqs", str(name)) if name else None)


def _kms(action: str, operation: str, params: Mapping[str, Any], scope: Scope) -> Derived | None:
    key = params.get("KeyId")
    if not key:
        return None
    if str(key).startswith("arn:"):
        return _one(action, operation, str(key))
    if str(key).startswith("alias/"):
        return _one(action, operation, scope.arn("kms", str(key)))
    return _one(action, operation, scope.arn("kms", f"key/{key}"))


def _cloudwatch(action: str, operation: str, params: Mapping[str, Any], scope: Scope) -> Derived | None:
    if operation == "PutMetricData":
        namespace = params.get("Namespace")
        return _one(action, operation, "*", {"cloudwatch:namespace": str(namespace)} if namespace else {})
    return None


def _cognito(action: str, operation: str, params: Mapping[str, Any], scope: Scope) -> Derived | None:
    pool = params.get("UserPoolId")
    return _one(action, operation, scope.arn("cognito-idp", f"userpool/{pool}") if pool else None)


def _star(action: str, operation: str, params: Mapping[str, Any], scope: Scope) -> Derived | None:
    # Actions without resource-level permissions: IAM evaluates them against "*".
    return Derived(operation, [Request(action, "*")])


_BUILDERS = {
    "dynamodb": _dynamodb,
    "sagemaker": _sagemaker,
    "logs": _logs,
    "events": _events,
    "states": _states,
    "sns": _sns,
    "sqs": _sqs,
    "kms": _kms,
    "cloudwatch": _cloudwatch,
    "cognito-idp": _cognito,
    "application-autoscaling": _star,
    "xray": _star,
    "sts": _star,
}
