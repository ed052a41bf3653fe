"""The configuration `start_run` places into every execution's input (see docs/design.md)."""

from __future__ import annotations

from typing import Any

from gtpipe_shared.config import BUILTIN_ONLY_LABELING_KEYS, PipelineConfig, TrainingConfig
from gtpipe_shared.tasks import TaskType

from infra.config import StackConfig
from infra.constructs.pytorch_algorithm import PytorchTraining
from infra.constructs.regional import RegionalFacts
from infra.constructs.storage import LABELING_PREFIX

# The endpoint's one production variant: the endpoint function creates it, monitoring and autoscaling name it.
ENDPOINT_VARIANT_NAME = "AllTraffic"


def endpoint_block(config: StackConfig, endpoint_name: str) -> dict[str, Any]:
    """The execution input's ``config.endpoint``: the stack's endpoint settings, its name and variant."""
    endpoint = config.endpoint.model_copy(
        update={"name": endpoint_name, "variant_name": ENDPOINT_VARIANT_NAME}
    )
    return dict(
        endpoint.model_dump(mode="json", exclude_unset=True)
        | {
            "name": endpoint_name,
            "variant_name": ENDPOINT_VARIANT_NAME,
        }
    )


def deploy_config(config: StackConfig) -> dict[str, Any]:
    """The registry function's ``DEPLOY_CONFIG``: what a rollback execution deploys with (task type and
    ``config.endpoint`` as a run's execution input has them; lambdas/registry/rollback.py)."""
    return {"task_type": config.task_type, "endpoint": endpoint_block(config, config.endpoint_name)}


def execution_config(
    config: StackConfig,
    regional: RegionalFacts,
    *,
    data_bucket_name: str,
    endpoint_name: str,
    workteam_arn: str | None,
    pytorch: PytorchTraining | None = None,
) -> dict[str, Any]:
    """The functions' schema (gtpipe_shared.config) filled with this stack's resources, in its serialized
    form: start_run's ``PIPELINE_CONFIG``.

    Lambda limits start_run's environment to 4 KB in total
    (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html): the class names are not
    here (start_run reads them from the label category file bundled with its code), nor, for Ground
    Truth, the builtin backend's settings.
    """
    functions_config = PipelineConfig(
        task_type=TaskType(config.task_type),
        data_bucket=data_bucket_name,
        label_categories=list(config.label_categories),
        allowed_source_buckets=list(config.allowed_source_buckets),
        max_manifest_lines=config.max_manifest_lines,
        max_manifest_bytes=config.max_manifest_bytes,
        labeling=config.labeling.model_copy(
            update={
                "output_path": f"s3://{data_bucket_name}/{LABELING_PREFIX}",
                "workteam_arn": workteam_arn or "",
                "pre_human_task_lambda_arn": regional.pre_human_task_lambda_arn,
                "annotation_consolidation_lambda_arn": regional.annotation_consolidation_lambda_arn,
                "algorithm_specification_arn": regional.algorithm_specification_arn,
            }
        ),
        training=_training(config, regional, pytorch),
        transform=config.transform,
        endpoint=config.endpoint.model_copy(
            update={"name": endpoint_name, "variant_name": ENDPOINT_VARIANT_NAME}
        ),
        split=config.split,
        registry=config.registry,
        champion=config.champion,
        tuning=config.tuning,
        label_errors=config.label_errors,
        quality_threshold=config.quality_threshold,
    )
    serialized = functions_config.environment_json()
    if config.labeling_backend != "builtin":
        for key in BUILTIN_ONLY_LABELING_KEYS:
            serialized["labeling"].pop(key, None)
    return serialized


def _training(
    config: StackConfig, regional: RegionalFacts, pytorch: PytorchTraining | None
) -> TrainingConfig:
    """``config.training`` with the training image: the built-in's, or with gtpipe:trainingAlgorithm pytorch the
    PyTorch container's and the hyperparameters naming the source archive and its entry point."""
    if pytorch is None:
        return config.training.model_copy(update={"image": regional.training_image})
    hyperparameters = {**config.training.hyperparameters, **pytorch.hyperparameters}
    return config.training.model_copy(
        update={"image": pytorch.training_image, "hyperparameters": hyperparameters}
    )
