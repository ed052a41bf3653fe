"""The project's Lambda functions: one `lambdas/<folder>` each, named after its folder, same key and layer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.config import StackConfig
from infra.constructs.lambda_function import PythonLambda


def function_id(folder: str) -> str:
    """The construct id of the function in `lambdas/<folder>`: `labeling_api` -> `LabelingApiFunction`."""
    return "".join(part.capitalize() for part in folder.split("_")) + "Function"


def project_lambda(
    scope: Construct,
    folder: str,
    description: str,
    environment: Mapping[str, str],
    *,
    key: kms.IKey,
    config: StackConfig,
    **options: Any,
) -> PythonLambda:
    """A PythonLambda for `lambdas/<folder>` with the stack key and the configured Powertools layer;
    ``options`` are PythonLambda's (timeout, memory_size, dead_letter_queue, ...)."""
    return PythonLambda(
        scope,
        function_id(folder),
        folder=folder,
        description=description,
        environment=environment,
        key=key,
        powertools_layer_version=config.powertools_layer_version,
        **options,
    )
