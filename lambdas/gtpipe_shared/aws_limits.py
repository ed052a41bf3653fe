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


# --- SageMaker built-in image classification: hyperparameters and input images -------------------------
# IC-Hyperparameter: "resize: The number of pixels in the shortest side of an image after resizing it for
# training. If the parameter is not set, then the training data is used without resizing." "use_pretrained_model
# ... If set to 1, then the pretrained model with the corresponding number of layers is loaded and used for
# training. Only the top FC layer are reinitialized with random weights." "num_layers ... For transfer
# learning, the number of layers defines the architecture of base network and hence can only be selected from
# the set [18, 34, 50, 101, 152, 200]" (default 152). "image_shape ... Pretrained models can only use a fixed
# height x width image size of 224 x 224" (default '3, 224, 224').
# Without resize, the algorithm's MXNet image iterator aborts on the first image smaller than image_shape:
# "Check failed: ... input image size smaller than input shape" (apache/mxnet#4272, #7619).
# Training runs on GPU instances only ("EC2 Instance Recommendation for the Image Classification
# Algorithm").
#   https://docs.aws.amazon.com/sagemaker/latest/dg/IC-Hyperparameter.html
#   https://docs.aws.amazon.com/sagemaker/latest/dg/image-classification.html#IC-instances
IMAGE_CLASSIFICATION_HYPERPARAMETER_DOCS = (
    "https://docs.aws.amazon.com/sagemaker/latest/dg/IC-Hyperparameter.html"
)
IMAGE_SMALLER_THAN_SHAPE = "input image size smaller than input shape"
PRETRAINED_NUM_LAYERS = (18, 34, 50, 101, 152, 200)
PRETRAINED_IMAGE_SHAPE = (3, 224, 224)
BUILTIN_IMAGE_SHAPE = "3,224,224"
# gtpipe's defaults (issue 14, finding 8): a ResNet-18 fine-tuned from the ImageNet weights suits a few
# thousand labeled images better than the built-in's ResNet-152 from scratch.
DEFAULT_NUM_LAYERS = "18"


def parse_image_shape(text: str) -> tuple[int, int, int] | None:
    """``"3,224,224"`` (spaces allowed) -> (3, 224, 224); None when it is not three positive integers."""
    parts = [part.strip() for part in str(text).split(",")]
    if len(parts) != 3 or not all(part.isdigit() and int(part) > 0 for part in parts):
        return None
    channels, height, width = (int(part) for part in parts)
    return channels, height, width


def image_classification_defaults(hyperparameters: Mapping[str, str]) -> dict[str, str]:
    """``hyperparameters`` with gtpipe's defaults added where the user set none.

    * ``num_layers`` 18, and ``use_pretrained_model`` 1 when the network can start from the pretrained
      weights (3x224x224 input and a transfer-learning depth);
    * ``resize`` the larger of image_shape's height and width, so every image, whatever its size, is scaled
      to at least ``image_shape`` (without it the built-in fails on the first smaller image).
    """
    result = dict(hyperparameters)
    result.setdefault("num_layers", DEFAULT_NUM_LAYERS)
    shape = parse_image_shape(result.get("image_shape", BUILTIN_IMAGE_SHAPE))
    layers = result["num_layers"]
    if (
        "use_pretrained_model" not in result
        and shape == PRETRAINED_IMAGE_SHAPE
        and layers.isdigit()
        and int(layers) in PRETRAINED_NUM_LAYERS
    ):
        result["use_pretrained_model"] = "1"
    if "resize" not in result and shape is not None:
        result["resize"] = str(max(shape[1], shape[2]))
    return result


def image_classification_problems(hyperparameters: Mapping[str, str]) -> list[str]:
    """What the built-in image-classification algorithm refuses in ``hyperparameters`` (documented rules)."""
    problems: list[str] = []
    raw_shape = hyperparameters.get("image_shape", BUILTIN_IMAGE_SHAPE)
    shape = parse_image_shape(raw_shape)
    if shape is None:
        problems.append(f"image_shape must be 'channels,height,width'; got {raw_shape!r}")
    if str(hyperparameters.get("use_pretrained_model", "0")).strip() == "1":
        layers = str(hyperparameters.get("num_layers", "152")).strip()
        if not layers.isdigit() or int(layers) not in PRETRAINED_NUM_LAYERS:
            problems.append(
                "use_pretrained_model=1 needs num_layers in "
                f"{', '.join(str(n) for n in PRETRAINED_NUM_LAYERS)}; got {layers}"
            )
        if shape is not None and shape != PRETRAINED_IMAGE_SHAPE:
            problems.append(
                "use_pretrained_model=1 needs image_shape 3,224,224 (pretrained models use a fixed 224x224 "
                f"input); got {raw_shape}"
            )
    resize = str(hyperparameters.get("resize", "")).strip()
    if resize and (not resize.isdigit() or int(resize) < 1):
        problems.append(f"resize must be a positive integer; got {resize!r}")
    elif resize and shape is not None and int(resize) < max(shape[1], shape[2]):
        problems.append(
            f"resize={resize} must be at least image_shape's height and width ({shape[1]}x{shape[2]}), or "
            f"resized images are still smaller than the input shape"
        )
    return problems


# --- Step Functions: the payload quota and the class list ----------------------------------------------
# "Maximum input or output size for a task, state, or execution: 256 KiB of data as a UTF-8 encoded string"
# (hard quota). Over it, StartExecution answers ValidationException and a running execution fails with
# States.DataLimitExceeded, which a States.ALL Catch does not catch.
#   https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html#service-limits-task-executions
#   https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
# The class names travel in the pipeline's state three times (config.label_categories,
# config.labeling.class_names, split.class_names) and the report steps pass the whole state to a Lambda, so
# the list's JSON is held to 48 KiB: three copies leave 112 KiB for everything else (URIs, hyperparameters, a
# failure's cause of up to 32 KiB). tests/pipeline/test_state_size.py runs the largest accepted list.
STEP_FUNCTIONS_QUOTAS_DOCS = (
    "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html#service-limits-task-executions"
)
STEP_FUNCTIONS_PAYLOAD_MAX_BYTES = 256 * 1024
CLASS_LIST_MAX_JSON_BYTES = 48 * 1024


def class_list_json_bytes(names: list[str]) -> int:
    """The size of the class list as the state carries it: compact JSON, UTF-8 bytes."""
    return len(json.dumps(names, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def class_list_problem(names: list[str]) -> str | None:
    """Why the class list cannot travel in the pipeline's state (over :data:`CLASS_LIST_MAX_JSON_BYTES`), or
    None when it fits."""
    size = class_list_json_bytes(names)
    if size <= CLASS_LIST_MAX_JSON_BYTES:
        return None
    return (
        f"the label categories take {size} bytes as JSON, more than {CLASS_LIST_MAX_JSON_BYTES}: the pipeline's "
        f"state carries them three times and Step Functions allows {STEP_FUNCTIONS_PAYLOAD_MAX_BYTES} bytes "
        f"({STEP_FUNCTIONS_QUOTAS_DOCS}); use shorter names or fewer categories"
    )
