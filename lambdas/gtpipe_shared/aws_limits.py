"""AWS service rules that botocore does not check, as pure functions.

The synth-time configuration validation (``infra/config_limits.py``), the local cloud (``local/``) and the
Lambda functions share them, so the three cannot disagree about what AWS accepts. Each rule names the AWS
documentation page it is taken from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

# --- SageMaker: volume keys and instance storage --------------------------------------------------------
# "Certain Nitro-based instances include local storage ... Local storage volumes are encrypted using a
# hardware module on the instance. You can't request a VolumeKmsKeyId when using an instance type with local
# storage." The same rule holds for CreateEndpointConfig's KmsKeyId ("the call to CreateEndpointConfig
# fails"). The list of such instance types is EC2's instance store table.
#   https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ResourceConfig.html
#   https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformResources.html
#   https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html
#   https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/InstanceStorage.html#instance-store-volumes
VOLUME_KEY_DOCS = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ResourceConfig.html"
_ML_INSTANCE = re.compile(r"^ml\.(?P<family>[a-z]+[0-9]+[a-z\-]*)\.[a-z0-9]+$")
_FAMILY = re.compile(r"^(?P<series>[a-z]+)(?P<generation>[0-9]+)(?P<attributes>[a-z\-]*)$")
# Families with NVMe instance store that EC2 does not mark with the "d" attribute (c5d, m5d, r5d, g4dn,
# p3dn, p4d, p4de, m6id, ... are recognised by it).
_INSTANCE_STORE_FAMILIES = frozenset(
    {"g5", "g6", "g6e", "gr6", "p5", "p5e", "p5en", "p6", "trn1", "trn1n", "trn2", "dl1"}
)


def instance_has_local_storage(instance_type: str) -> bool:
    """Whether a SageMaker ``ml.*`` instance type comes with local NVMe instance storage.

    Such instance types cannot be given ``VolumeKmsKeyId`` (training, transform) or an endpoint
    configuration's ``KmsKeyId``: SageMaker answers ValidationException. Raises ValueError for a string
    that is not an ``ml.<family>.<size>`` instance type.
    """
    match = _ML_INSTANCE.match(instance_type)
    family = _FAMILY.match(match.group("family")) if match else None
    if match is None or family is None:
        raise ValueError(f"not a SageMaker instance type: {instance_type!r}")
    return "d" in family.group("attributes") or match.group("family") in _INSTANCE_STORE_FAMILIES


def volume_kms_key_problem(instance_type: str | None, key_id: str | None, field: str) -> str | None:
    """SageMaker's ValidationException message for ``field`` (a volume key) on an instance-store type,
    or None when the request is acceptable (no key, or an EBS-backed instance type)."""
    if not key_id or not instance_type:
        return None
    try:
        local = instance_has_local_storage(instance_type)
    except ValueError:
        return None
    if not local:
        return None
    return (
        f"{field} is not supported for instance type {instance_type}: it has local instance storage, "
        f"which is encrypted by a hardware module on the instance ({VOLUME_KEY_DOCS})"
    )


# --- Ground Truth: the label category configuration file ------------------------------------------------
# "your label category configuration file must be a JSON file in the following format:
#  {"document-version": "2018-11-28", "labels": [{"label": "label_1"}, ...]}"; "For image classification ...
#  you must specify at least two label categories"; "Each label category must be unique". DescribeLabelingJob
# adds the limit "Box bounding labeling jobs (all): 10 labels". HumanTaskConfig: TaskTitle 1-128 characters,
# TaskDescription 1-255.
#   https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateLabelingJob.html
#   https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeLabelingJob.html
#   https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_HumanTaskConfig.html
LABEL_CATEGORY_DOCS = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateLabelingJob.html"
LABEL_CATEGORY_DOCUMENT_VERSION = "2018-11-28"
MIN_CLASSIFICATION_LABELS = 2
MAX_BOUNDING_BOX_LABELS = 10
MAX_TASK_TITLE_CHARS = 128
MAX_TASK_DESCRIPTION_CHARS = 255


def label_category_document(categories: list[str]) -> dict[str, Any]:
    """The label category configuration file's content; list order defines class ids (first is 0)."""
    return {
        "document-version": LABEL_CATEGORY_DOCUMENT_VERSION,
        "labels": [{"label": name} for name in categories],
    }


def label_category_names(document: Any) -> list[str]:
    """The label names of a label category configuration file, checked as Ground Truth reads it.

    Raises ValueError naming what is wrong: not an object, ``document-version`` missing or not
    ``2018-11-28``, ``labels`` not a list of ``{"label": <non-empty string>}``, duplicate labels.
    """
    if not isinstance(document, Mapping):
        raise ValueError(
            f"the label category configuration file must be a JSON object ({LABEL_CATEGORY_DOCS})"
        )
    version = document.get("document-version")
    if version != LABEL_CATEGORY_DOCUMENT_VERSION:
        raise ValueError(
            f'the label category configuration file must have "document-version": '
            f'"{LABEL_CATEGORY_DOCUMENT_VERSION}"; got {version!r} ({LABEL_CATEGORY_DOCS})'
        )
    labels = document.get("labels")
    if not isinstance(labels, list) or not labels:
        raise ValueError('the label category configuration file must have a non-empty "labels" list')
    names: list[str] = []
    for entry in labels:
        name = entry.get("label") if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or not name:
            raise ValueError(f'every entry of "labels" must be {{"label": "<name>"}}; got {entry!r}')
        names.append(name)
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"each label category must be unique; repeated: {', '.join(duplicates)}")
    return names


# --- Lambda: environment variables ---------------------------------------------------------------------
# "Function environment variables: 4 KB, for all environment variables associated with the function, in
# aggregate" (not adjustable). Lambda measures the variables as compact JSON and quotes that string in its
# InvalidParameterValueException.
#   https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
LAMBDA_LIMITS_DOCS = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
LAMBDA_ENVIRONMENT_MAX_BYTES = 4096


def lambda_environment_measure(variables: Mapping[str, str]) -> str:
    """The string Lambda measures against the 4 KB limit: the variables as compact JSON."""
    return json.dumps(dict(variables), separators=(",", ":"), ensure_ascii=False)


def lambda_environment_problem(variables: Mapping[str, str]) -> str | None:
    """Lambda's InvalidParameterValueException message when ``variables`` exceed 4 KB; None otherwise."""
    measured = lambda_environment_measure(variables)
    if len(measured.encode("utf-8")) <= LAMBDA_ENVIRONMENT_MAX_BYTES:
        return None
    return (
        "Lambda was unable to configure your environment variables because the environment variables you "
        f"have provided exceeded the 4KB limit. String measured: {measured}"
    )
