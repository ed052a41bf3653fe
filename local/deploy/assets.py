"""File assets that resources read from S3 at run time, published as ``cdk deploy`` publishes them.

Lambda code and state machine definitions are read from the assembly directly (:mod:`.functions`,
:mod:`.state_machines`); an asset the template names anywhere else (the PyTorch training source archive,
``sagemaker_submit_directory`` in start_run's configuration) is read by a service from the bootstrap assets
bucket, so it is uploaded there, creating the bucket as ``cdk bootstrap`` would. Only those assets are
uploaded: the others would cost a copy of every Lambda package in moto's memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..cfn import Environment
from ..cfn_assembly import FileAsset, StackArtifact

# Where CloudFormation reads an asset itself (the local deployer reads it from the assembly instead).
_CODE_PROPERTIES = frozenset({"S3Key", "DefinitionS3Location", "Code", "Content"})


def _strings(value: Any) -> Iterator[str]:
    """Every string of a template fragment, except under the properties that name code assets."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in _CODE_PROPERTIES:
                yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def runtime_assets(stack: StackArtifact) -> list[FileAsset]:
    """The assets of ``stack`` that its template names outside code properties (read from S3 at run time)."""
    # Properties only: each resource's Metadata names its asset's staged path, which contains the hash.
    resources = stack.template.get("Resources", {}).values()
    text = "\n".join(s for resource in resources for s in _strings(resource.get("Properties", {})))
    return [
        asset
        for asset in stack.assets.values()
        if asset.packaging == "file" and any(key in text for key in asset.object_keys)
    ]


def bucket_name(template_name: str, environment: Environment) -> str:
    """A destination's bucket name with the pseudo parameters CDK's manifest leaves in it."""
    return template_name.replace("${AWS::AccountId}", environment.account_id).replace(
        "${AWS::Region}", environment.region
    )


def publish_assets(s3: Any, stack: StackArtifact, environment: Environment) -> list[str]:
    """Upload :func:`runtime_assets` of ``stack`` to their buckets (created when missing); returns the
    ``s3://`` URIs written."""
    written = []
    for asset in runtime_assets(stack):
        for template_name, key in zip(asset.bucket_names, asset.object_keys, strict=False):
            bucket = bucket_name(template_name, environment)
            existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
            if bucket not in existing:
                kwargs: dict[str, Any] = {"Bucket": bucket}
                if environment.region != "us-east-1":
                    kwargs["CreateBucketConfiguration"] = {"LocationConstraint": environment.region}
                s3.create_bucket(**kwargs)
            s3.upload_file(str(asset.source), bucket, key)
            written.append(f"s3://{bucket}/{key}")
    return written
