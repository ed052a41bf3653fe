"""The model registry's pure parts: group names, the CreateModelPackage request, the state-change event.

A *label set* (task type + class names in class-id order, the ``labeling_fingerprint`` of
``gtpipe_shared.ledger``) owns one SageMaker model package group; every model that passes the quality gate
becomes a versioned model package in it.

Group names follow SageMaker's rule for ``ModelPackageGroupName``: 1-63 characters,
``^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$``
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModelPackageGroup.html). The name is
``<group prefix><20 hex digits of the fingerprint>``; the group prefix is ``<stack prefix, lower case>-models-``
(at most 31 + 8 characters, so a name has at most 59). Lower case, because SageMaker lower-cases names in
ARNs, and the stack's IAM policies and EventBridge rule match the prefix.

The "SageMaker Model Package State Change" event carries DescribeModelPackage's fields in ``detail``
(``ModelPackageGroupName``, ``ModelPackageArn``, ``ModelApprovalStatus``, ...), the package ARN in
``resources``
(https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html#eventbridge-model-package).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from gtpipe_shared.incremental import ARCHITECTURE_METADATA, architecture_fingerprint
from gtpipe_shared.ledger import labeling_fingerprint

MODEL_PACKAGE_STATE_CHANGE: Final = "SageMaker Model Package State Change"
GROUP_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
GROUP_HASH_DIGITS: Final = 20
APPROVED: Final = "Approved"
REJECTED: Final = "Rejected"
PENDING: Final = "PendingManualApproval"
# ModelApprovalStatus per gtpipe:approval (CreateModelPackage accepts exactly these three values).
APPROVAL_STATUS: Final = {"auto": APPROVED, "manual": PENDING}
# CustomerMetadataProperties: at most 50 entries, keys of 1-128 and values of 1-256 characters of
# ``[\p{L}\p{Z}\p{N}_.:/=+\-@]`` (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModelPackage.html);
# other characters (a manifest key may hold any) become "_".
METADATA_VALUE_MAX: Final = 256
METADATA_REFUSED = re.compile(r"[^\w .:/=+\-@]")


class RegistryError(ValueError):
    """A registry input is not usable; the message names the problem."""


def group_prefix(stack_prefix: str) -> str:
    """The prefix of every model package group of a stack (its IAM and EventBridge scope)."""
    return f"{stack_prefix.lower()}-models-"


def group_name(prefix: str, task_type: str, class_names: list[str]) -> str:
    """The model package group of a label set: deterministic, and within SageMaker's name rule."""
    digest = labeling_fingerprint(task_type, class_names).removeprefix("lf1-")[:GROUP_HASH_DIGITS]
    name = f"{prefix}{digest}"
    if not GROUP_NAME.match(name):
        raise RegistryError(f"model package group name {name!r} breaks SageMaker's rule {GROUP_NAME.pattern}")
    return name


def _value(value: Any) -> str:
    text = METADATA_REFUSED.sub("_", str(value))
    return text[:METADATA_VALUE_MAX] if text else "-"


def package_metadata(state: Mapping[str, Any]) -> dict[str, str]:
    """CustomerMetadataProperties of a run's package: run id, manifest and its version, split seed, the
    quality metric, the label counters and the network's fingerprint (``gtpipe_shared.incremental``; missing
    ones left out; every value a non-empty string)."""
    source = state.get("input") or {}
    split = (state.get("config") or {}).get("split") or {}
    evaluation = state.get("evaluation") or {}
    counters = (state.get("labeling_record") or {}).get("label_counters") or {}
    raw: dict[str, Any] = {
        "gtpipe:run-id": state.get("run_id"),
        "gtpipe:manifest-uri": source.get("manifest_uri"),
        "gtpipe:manifest-version": source.get("version_id"),
        "gtpipe:split-seed": split.get("seed"),
        "gtpipe:split-validation-ratio": split.get("validation_ratio"),
        "gtpipe:metric-name": evaluation.get("metric_name"),
        "gtpipe:metric-value": evaluation.get("metric_value"),
        "gtpipe:task-type": (state.get("config") or {}).get("task_type"),
        # The network a later run's incremental training must match (a rollback of this package records it).
        ARCHITECTURE_METADATA: _architecture(state),
    }
    for name, count in counters.items():
        raw[f"gtpipe:labels-{name}"] = count
    return {key: _value(value) for key, value in raw.items() if value is not None}


def _architecture(state: Mapping[str, Any]) -> str | None:
    """The architecture fingerprint of the run's training job's hyperparameters (``$.training``), if known."""
    hyperparameters = (state.get("training") or {}).get("hyperparameters")
    task_type = (state.get("config") or {}).get("task_type")
    if not isinstance(hyperparameters, Mapping) or not task_type:
        return None
    return architecture_fingerprint(str(task_type), hyperparameters)


def package_architecture(package: Mapping[str, Any]) -> str | None:
    """The architecture fingerprint a package was registered with (``gtpipe:architecture``), or None."""
    value = (package.get("CustomerMetadataProperties") or {}).get(ARCHITECTURE_METADATA)
    return str(value) if value else None


def client_token(run_id: str) -> str:
    """CreateModelPackage's idempotency token of a run: 32 hex digits of the run id's SHA-256."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:32]


def create_package_request(state: Mapping[str, Any], group: str, approval: str) -> dict[str, Any]:
    """CreateModelPackage's request for the run in ``state`` (the execution's state after Evaluate).

    ``ClientToken`` is derived from the run id (CreateModelPackage takes 1-36 characters
    ``^[a-zA-Z0-9](-*[a-zA-Z0-9])*$``, a run id may be longer), so a retried call returns the same package
    instead of a second version.
    """
    if approval not in APPROVAL_STATUS:
        raise RegistryError(f"approval must be one of {sorted(APPROVAL_STATUS)}, got {approval!r}")
    try:
        run_id = str(state["run_id"])
        training = state["training"]
        image, model_data = str(training["image"]), str(training["model_artifacts"])
        metrics_uri = str(state["evaluation"]["metrics_uri"])
    except (KeyError, TypeError) as exc:
        raise RegistryError(f"the run's state has no {exc} (needs training and evaluation)") from None
    return {
        "ModelPackageGroupName": group,
        "ModelPackageDescription": f"gtpipe run {run_id}"[:1024],
        "ClientToken": client_token(run_id),
        "ModelApprovalStatus": APPROVAL_STATUS[approval],
        "InferenceSpecification": {
            "Containers": [{"Image": image, "ModelDataUrl": model_data}],
            "SupportedContentTypes": ["image/jpeg", "image/png", "application/x-image"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        "ModelMetrics": {
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": metrics_uri}}
        },
        "CustomerMetadataProperties": package_metadata(state),
        "Tags": [{"Key": "gtpipe:run-id", "Value": run_id}],
    }


@dataclass(frozen=True)
class PackageStateChange:
    """A "SageMaker Model Package State Change" event's fields gtpipe uses."""

    group: str
    arn: str
    approval_status: str
    approval_description: str


def parse_package_state_change(event: Mapping[str, Any]) -> PackageStateChange:
    """The event's group, package ARN, approval status and description; RegistryError naming what is missing."""
    if event.get("detail-type") != MODEL_PACKAGE_STATE_CHANGE:
        raise RegistryError(f"not a {MODEL_PACKAGE_STATE_CHANGE} event: {event.get('detail-type')!r}")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise RegistryError("the event has no detail object")
    resources = event.get("resources") or []
    arn = detail.get("ModelPackageArn") or (resources[0] if resources else None)
    missing = [
        name
        for name, value in (
            ("detail.ModelPackageGroupName", detail.get("ModelPackageGroupName")),
            ("detail.ModelPackageArn", arn),
            ("detail.ModelApprovalStatus", detail.get("ModelApprovalStatus")),
        )
        if not value
    ]
    if missing:
        raise RegistryError(f"the event lacks {', '.join(missing)}")
    return PackageStateChange(
        group=str(detail["ModelPackageGroupName"]),
        arn=str(arn),
        approval_status=str(detail["ModelApprovalStatus"]),
        approval_description=str(detail.get("ApprovalDescription") or ""),
    )


def token_id(package_arn: str) -> str:
    """Task-token table key of the run waiting for a package's approval."""
    return f"package#{package_arn.lower()}"


# --- Rollback: deploying an earlier approved version (``gtpipe deploy --package ARN``) ------------------

# A versioned package's ARN: ``arn:<partition>:sagemaker:<region>:<account>:model-package/<group>/<version>``
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html).
PACKAGE_ARN = re.compile(
    r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]+:[0-9]{12}:model-package/"
    r"(?P<group>[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62})/(?P<version>[0-9]+)$"
)
ROLLBACK_RUN_PREFIX: Final = "rollback-"


def package_group_of_arn(arn: str) -> str:
    """The group named in a versioned package ARN; RegistryError when ``arn`` is not one."""
    match = PACKAGE_ARN.match(arn)
    if not match:
        raise RegistryError(
            f"{arn!r} is not a versioned model package ARN "
            "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)"
        )
    return match.group("group")


def rollback_refusal(
    package: Mapping[str, Any], prefix: str, serving: Mapping[str, Any] | None
) -> str | None:
    """Why ``package`` (DescribeModelPackage's answer) may not be deployed by a rollback, or None when it may.

    A rollback deploys only an ``Approved`` package of this stack's groups (``prefix``) whose label set (the
    group, one per task type + class names) is the one the endpoint serves now (``serving``, the ``@serving``
    item): the predict function answers with the serving record's class names, so another label set would
    answer wrong names. Nothing serving yet: there is nothing to roll back (a run deploys the first model).
    """
    group = str(package.get("ModelPackageGroupName") or "")
    arn = str(package.get("ModelPackageArn") or "")
    if not group.startswith(prefix):
        return f"model package {arn} is in group {group!r}, not one of this stack's groups ({prefix}*)"
    status = str(package.get("ModelApprovalStatus") or "")
    if status != APPROVED:
        return f"model package {arn} is {status or 'without approval status'}: only an Approved version can be deployed"
    if not serving or not serving.get("class_names"):
        return "nothing is serving yet: a rollback replaces the serving model (a run deploys the first one)"
    expected = group_name(
        prefix, str(serving.get("task_type") or ""), [str(c) for c in serving["class_names"]]
    )
    if group != expected:
        names = [str(c) for c in serving["class_names"]]
        shown = names[:10] + ([f"... {len(names) - 10} more"] if len(names) > 10 else [])
        return (
            f"model package {arn} is of another label set (group {group}) than the serving endpoint "
            f"(group {expected}: {serving.get('task_type')} {shown})"
        )
    return None


def package_container(package: Mapping[str, Any]) -> tuple[str, str]:
    """The (image, model data URL) of a package's first inference container; RegistryError without one."""
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
    image = str((containers[0] if containers else {}).get("Image") or "")
    data = str((containers[0] if containers else {}).get("ModelDataUrl") or "")
    if not image or not data:
        raise RegistryError(
            f"model package {package.get('ModelPackageArn')} has no container image and model data"
        )
    return image, data


def package_run_id(package: Mapping[str, Any]) -> str | None:
    """The run that registered ``package`` (its ``gtpipe:run-id`` metadata), None when it has none."""
    value = (package.get("CustomerMetadataProperties") or {}).get("gtpipe:run-id")
    return str(value) if value else None
