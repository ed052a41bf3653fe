"""The local deployment publishes the file assets a service reads from S3 at run time (as ``cdk deploy``
does), and only those: Lambda code and state machine definitions are read from the assembly."""

from __future__ import annotations

from pathlib import Path

import boto3
from moto import mock_aws

from local.cfn import Environment
from local.cfn_assembly import FileAsset, StackArtifact
from local.deploy.assets import publish_assets, runtime_assets

BOOTSTRAP = "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"


def stack_with_assets(tmp_path: Path) -> StackArtifact:
    """A template whose function code is one asset and whose start_run configuration names another."""
    source = tmp_path / "asset.src.tar.gz"
    source.write_bytes(b"source archive")
    code = tmp_path / "asset.code.zip"
    code.write_bytes(b"code")
    template = {
        "Resources": {
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Code": {"S3Bucket": {"Fn::Sub": BOOTSTRAP}, "S3Key": "code.zip"},
                    "Environment": {
                        "Variables": {"CONFIG": {"Fn::Join": ["", ['{"src": "s3://', "x/src.tar.gz"]]}}
                    },
                },
                "Metadata": {"aws:asset:path": "asset.code.zip"},
            }
        }
    }
    stack = StackArtifact(name="S", template_path=tmp_path / "t.json", template=template, dependencies=[])
    stack.assets = {
        "src": FileAsset("src", source, "file", ("src.tar.gz",), (BOOTSTRAP,)),
        "code": FileAsset("code", code, "file", ("code.zip",), (BOOTSTRAP,)),
    }
    return stack


def test_only_assets_named_outside_code_properties_are_runtime_assets(tmp_path: Path) -> None:
    # Given a function whose code is one asset and whose environment names another
    stack = stack_with_assets(tmp_path)
    # When the runtime assets are chosen / Then only the one the environment names is
    assert [asset.asset_hash for asset in runtime_assets(stack)] == ["src"]


def test_runtime_assets_are_uploaded_to_the_bootstrap_bucket(tmp_path: Path) -> None:
    # Given the stack and an account without the bootstrap bucket
    stack = stack_with_assets(tmp_path)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        # When the assets are published
        written = publish_assets(s3, stack, Environment())
        # Then the bucket exists under the account and region, holding the asset at its key
        assert written == ["s3://cdk-hnb659fds-assets-123456789012-us-east-1/src.tar.gz"]
        body = s3.get_object(Bucket="cdk-hnb659fds-assets-123456789012-us-east-1", Key="src.tar.gz")["Body"]
        assert body.read() == b"source archive"
        # And publishing again (a second stack of the same account) reuses the bucket
        assert publish_assets(s3, stack, Environment()) == written
