"""Checks 4 and 5: whether the configured SageMaker instances fit the account's quotas, and whether the
volume keys the state machine sends suit the instance types' storage."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError
from gtpipe_shared import aws_limits

from gtpipe_cli.doctor.configuration import InstanceUse
from gtpipe_cli.doctor.results import CheckResult, uncheckable

if TYPE_CHECKING:
    from infra.config import StackConfig


QUOTAS_DOCS: Final = "https://docs.aws.amazon.com/sagemaker/latest/dg/regions-quotas.html"
LIST_QUOTAS_DOCS: Final = (
    "https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_ListServiceQuotas.html"
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
        why = uncheckable(error)
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
