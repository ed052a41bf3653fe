"""Shared by the IAM fidelity modules (issue 14 findings 5, 7, 10): a role's synthesized statements, rendered
for the local evaluator (:mod:`local.iam_policy`), with the data stack's exports as concrete names."""

from __future__ import annotations

import copy
import time
from typing import Any

from local.iam_policy import Request, denied, role_statements
from tests.fidelity.conftest import ENV
from tests.infra.conftest import Synthesized

DATA_BUCKET = "gtpipe-data-bucket"
ACCOUNT = ENV.account_id
REGION = ENV.region


def lookup(key: str) -> str:
    """The data stack's exports as the names a deployment gives them; other references stay symbolic."""
    if key.startswith("Import:") and "DataBucket" in key:
        return f"arn:aws:s3:::{DATA_BUCKET}" if "Arn" in key else DATA_BUCKET
    return "${" + key + "}"


def role_id(synth: Synthesized, prefix: str) -> str:
    """The logical id of the pipeline stack's one role whose id starts with ``prefix``."""
    (found,) = [k for k in synth.main.find_resources("AWS::IAM::Role") if k.startswith(prefix)]
    return found


def statements(synth: Synthesized, prefix: str) -> list[dict[str, Any]]:
    """Every statement attached to that role, rendered."""
    return role_statements(synth.main.to_json(), role_id(synth, prefix), ENV, lookup)


def without_sids(found: list[dict[str, Any]], *sids: str) -> list[dict[str, Any]]:
    """The statements with those Sids removed: the policy as it was before the fix."""
    kept = [copy.deepcopy(s) for s in found if s.get("Sid") not in sids]
    assert len(kept) < len(found), f"no statement with Sid in {sids}"
    return kept


__all__ = [
    "ACCOUNT",
    "DATA_BUCKET",
    "REGION",
    "Request",
    "denied",
    "lookup",
    "role_id",
    "statements",
    "without_sids",
]


def finished_training_job(
    cloud: Any, name: str, role: str, channel: dict[str, Any], output: str
) -> dict[str, Any]:
    """Start a one-channel image-classification training job as ``role`` and return its description
    once it has left InProgress (within 60 s)."""
    cloud.sagemaker.create_training_job(
        {
            "TrainingJobName": name,
            "AlgorithmSpecification": {
                "TrainingImage": f"811284229777.dkr.ecr.{cloud.environment.region}.amazonaws.com/image-classification:1",
                "TrainingInputMode": "Pipe",
            },
            "RoleArn": role,
            "HyperParameters": {"num_classes": "2", "num_training_samples": "1"},
            "InputDataConfig": [channel],
            "OutputDataConfig": {"S3OutputPath": output},
            "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        }
    )
    deadline = time.monotonic() + 60
    while (job := cloud.sagemaker.describe_training_job({"TrainingJobName": name}))[
        "TrainingJobStatus"
    ] == "InProgress":
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    return dict(job)
