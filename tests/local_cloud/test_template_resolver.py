"""The CloudFormation intrinsic resolver and the deployer's type checks (fast, no moto)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local.cfn import Environment, ResourceState, TemplateError, TemplateResolver
from local.cfn_assembly import CloudAssembly
from local.deploy import EMULATED_TYPES, NOT_EMULATED, LocalDeployer, generated_name

ENV = Environment(account_id="111122223333", region="eu-west-1")


def resolver(template: dict[str, Any], exports: dict[str, Any] | None = None) -> TemplateResolver:
    return TemplateResolver(template, stack_name="Stack", environment=ENV, exports=exports)


def deployed(r: TemplateResolver, logical_id: str, ref: str, **attributes: Any) -> None:
    r.set_resource(logical_id, ResourceState("AWS::Test::Thing", ref, dict(attributes)))


TEMPLATE: dict[str, Any] = {
    "Mappings": {"Accounts": {"eu-west-1": {"Algorithm": "685385470294"}}},
    "Conditions": {
        "InEurope": {"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]},
        "NotInEurope": {"Fn::Not": [{"Condition": "InEurope"}]},
        "Either": {"Fn::Or": [{"Condition": "InEurope"}, {"Condition": "NotInEurope"}]},
        "Listed": {"Fn::Contains": [["us-east-1", "eu-west-1"], {"Ref": "AWS::Region"}]},
    },
    "Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket"},
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Role": {"Fn::GetAtt": ["Role", "Arn"]}}},
        "Role": {"Type": "AWS::IAM::Role"},
        "OnlyInUs": {"Type": "AWS::S3::Bucket", "Condition": "NotInEurope"},
        "Queue": {"Type": "AWS::SQS::Queue", "DependsOn": "Fn"},
    },
}


def test_pseudo_parameters_ref_and_get_att_in_both_forms() -> None:
    r = resolver(TEMPLATE)
    deployed(r, "Bucket", "my-bucket", Arn="arn:aws:s3:::my-bucket")
    value = r.resolve(
        {
            "a": {"Ref": "AWS::Region"},
            "b": {"Ref": "AWS::AccountId"},
            "c": {"Ref": "AWS::Partition"},
            "d": {"Ref": "AWS::URLSuffix"},
            "e": {"Ref": "AWS::StackName"},
            "f": {"Ref": "Bucket"},
            "g": {"Fn::GetAtt": ["Bucket", "Arn"]},
            "h": {"Fn::GetAtt": "Bucket.Arn"},
        }
    )
    assert value == {
        "a": "eu-west-1",
        "b": "111122223333",
        "c": "aws",
        "d": "amazonaws.com",
        "e": "Stack",
        "f": "my-bucket",
        "g": "arn:aws:s3:::my-bucket",
        "h": "arn:aws:s3:::my-bucket",
    }
    assert r.resolve({"Ref": "AWS::StackId"}).startswith(
        "arn:aws:cloudformation:eu-west-1:111122223333:stack/Stack/"
    )


def test_join_sub_select_split_find_in_map_base64() -> None:
    r = resolver(TEMPLATE)
    deployed(r, "Bucket", "my-bucket", Arn="arn:aws:s3:::my-bucket")
    assert r.resolve({"Fn::Join": ["-", ["a", {"Ref": "Bucket"}, 3]]}) == "a-my-bucket-3"
    assert r.resolve({"Fn::Sub": "s3://${Bucket}/${AWS::Region}/${Bucket.Arn}/${!Literal}"}) == (
        "s3://my-bucket/eu-west-1/arn:aws:s3:::my-bucket/${Literal}"
    )
    assert (
        r.resolve({"Fn::Sub": ["${Name}-${AWS::AccountId}", {"Name": {"Ref": "Bucket"}}]})
        == "my-bucket-111122223333"
    )
    assert r.resolve({"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}) == "y"
    assert r.resolve({"Fn::FindInMap": ["Accounts", {"Ref": "AWS::Region"}, "Algorithm"]}) == "685385470294"
    assert (
        r.resolve({"Fn::FindInMap": ["Accounts", "us-east-1", "Algorithm", {"DefaultValue": "none"}]})
        == "none"
    )
    assert r.resolve({"Fn::Base64": "hi"}) == "aGk="
    assert r.resolve({"Fn::GetAZs": ""}) == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]


def test_import_value_reads_earlier_stacks_exports() -> None:
    r = resolver(TEMPLATE, exports={"Data:BucketName": "data-bucket"})
    assert r.resolve({"Fn::ImportValue": "Data:BucketName"}) == "data-bucket"
    with pytest.raises(TemplateError, match="Fn::ImportValue 'Data:Missing'"):
        r.resolve({"Fn::ImportValue": "Data:Missing"}, "Resources.X.Properties.Y")


def test_conditions_if_and_no_value() -> None:
    r = resolver(TEMPLATE)
    assert r.condition("InEurope") and not r.condition("NotInEurope") and r.condition("Either")
    assert r.condition("Listed")
    value = r.resolve(
        {
            "kept": {"Fn::If": ["InEurope", "eu", "other"]},
            "dropped": {"Fn::If": ["NotInEurope", "x", {"Ref": "AWS::NoValue"}]},
            "list": ["a", {"Fn::If": ["NotInEurope", "b", {"Ref": "AWS::NoValue"}]}],
        }
    )
    assert value == {"kept": "eu", "list": ["a"]}
    assert not r.resource_enabled("OnlyInUs")


def test_resource_order_follows_references_and_depends_on_and_skips_false_conditions() -> None:
    order = resolver(TEMPLATE).resource_order()
    assert "OnlyInUs" not in order
    assert order.index("Role") < order.index("Fn") < order.index("Queue")


def test_circular_references_fail() -> None:
    template = {
        "Resources": {
            "A": {"Type": "AWS::SQS::Queue", "Properties": {"X": {"Ref": "B"}}},
            "B": {"Type": "AWS::SQS::Queue", "Properties": {"X": {"Fn::Sub": "${A.Arn}"}}},
        }
    }
    with pytest.raises(TemplateError, match="circular dependency"):
        resolver(template).resource_order()


@pytest.mark.parametrize(
    "node",
    [
        {"Fn::Cidr": ["10.0.0.0/16", 2, 8]},
        {"Fn::ToJsonString": {"a": 1}},
        {"Fn::Length": [1, 2]},
        {"Fn::Transform": {"Name": "X"}},
    ],
)
def test_unknown_intrinsic_fails_loudly_naming_it_and_where(node: dict[str, Any]) -> None:
    name = next(iter(node))
    with pytest.raises(
        TemplateError,
        match=rf"Resources\.Thing\.Properties\.Value: intrinsic function {name} is not supported",
    ):
        resolver(TEMPLATE).resolve({"Value": node}, "Resources.Thing.Properties")


def test_unknown_pseudo_parameter_attribute_and_reference_fail_loudly() -> None:
    r = resolver(TEMPLATE)
    deployed(r, "Bucket", "my-bucket", Arn="arn:aws:s3:::my-bucket")
    with pytest.raises(TemplateError, match="pseudo parameter AWS::Unknown"):
        r.resolve({"Ref": "AWS::Unknown"})
    with pytest.raises(
        TemplateError, match=r"Fn::GetAtt Bucket\.WebsiteURL is not supported.*supported: Arn"
    ):
        r.resolve({"Fn::GetAtt": ["Bucket", "WebsiteURL"]})
    with pytest.raises(TemplateError, match="unknown resource 'Nope'"):
        r.resolve({"Ref": "Nope"})
    with pytest.raises(TemplateError, match="Role is referenced before it was deployed"):
        r.resolve({"Fn::GetAtt": ["Role", "Arn"]})


def test_transforms_and_ssm_parameters_are_refused() -> None:
    with pytest.raises(TemplateError, match="Transform"):
        resolver({"Transform": "AWS::Serverless-2016-10-31", "Resources": {}})
    template = {
        "Parameters": {
            "BootstrapVersion": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/cdk-bootstrap/v"},
            "Size": {"Type": "Number", "Default": 3},
        },
        "Resources": {},
    }
    r = resolver(template)
    assert r.resolve({"Ref": "Size"}) == 3
    with pytest.raises(TemplateError, match="BootstrapVersion has no value locally"):
        r.resolve({"Ref": "BootstrapVersion"})


def test_outputs_and_exports() -> None:
    template = {
        "Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}},
        "Outputs": {
            "Name": {"Value": {"Ref": "Bucket"}, "Export": {"Name": {"Fn::Sub": "${AWS::StackName}-Name"}}},
            "Plain": {"Value": "x"},
        },
    }
    r = resolver(template)
    deployed(r, "Bucket", "b1")
    assert r.outputs() == {"Name": "b1", "Plain": "x"}
    assert r.exported() == {"Stack-Name": "b1"}


def test_unknown_resource_types_fail_before_anything_is_created(tmp_path: Path) -> None:
    stack = {"Resources": {"Db": {"Type": "AWS::RDS::DBInstance"}, "Q": {"Type": "AWS::SQS::Queue"}}}
    assembly = _assembly(tmp_path, stack)
    calls: list[str] = []
    deployer = LocalDeployer(lambda service: calls.append(service), ENV, None, None)  # type: ignore[arg-type]
    with pytest.raises(TemplateError, match=r"not supported by the local cloud: AWS::RDS::DBInstance \(Db\)"):
        deployer.deploy(assembly)
    assert calls == []


def test_every_type_is_either_emulated_or_accepted_with_a_reason() -> None:
    deployer = LocalDeployer(lambda service: None, ENV, None, None)  # type: ignore[arg-type]
    assert set(deployer.handlers) == EMULATED_TYPES
    assert not EMULATED_TYPES & set(NOT_EMULATED)
    assert all(spec.reason for spec in NOT_EMULATED.values())


def test_generated_names_follow_cloudformation_and_fit_the_limit() -> None:
    name = generated_name("GtpipePipeline", "PipelineStartRunFunctionC7AA99FB", 64)
    assert name.startswith("GtpipePipeline-PipelineStartRunFunction") and len(name) <= 64
    assert name == generated_name("GtpipePipeline", "PipelineStartRunFunctionC7AA99FB", 64)
    bucket = generated_name("GtpipeData", "StorageDataBucketB1B922FA" * 3, 63, lowercase=True)
    assert len(bucket) <= 63 and bucket == bucket.lower()


def test_assembly_orders_stacks_by_dependency_and_maps_assets(tmp_path: Path) -> None:
    (tmp_path / "asset.abc").mkdir()
    manifest = {
        "version": "55.0.0",
        "artifacts": {
            "B": {
                "type": "aws:cloudformation:stack",
                "properties": {"templateFile": "B.template.json"},
                "dependencies": ["A", "B.assets"],
            },
            "B.assets": {"type": "cdk:asset-manifest", "properties": {"file": "B.assets.json"}},
            "A": {"type": "aws:cloudformation:stack", "properties": {"templateFile": "A.template.json"}},
        },
    }
    assets = {
        "files": {
            "abc": {
                "source": {"path": "asset.abc", "packaging": "zip"},
                "destinations": {"d": {"bucketName": "x", "objectKey": "abc.zip"}},
            }
        }
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "B.assets.json").write_text(json.dumps(assets))
    for name in "AB":
        (tmp_path / f"{name}.template.json").write_text(json.dumps({"Resources": {}}))
    assembly = CloudAssembly(tmp_path)
    assert [s.name for s in assembly.stacks_in_order()] == ["A", "B"]
    assert assembly.stacks["B"].asset_for_object_key("abc.zip").source == tmp_path / "asset.abc"
    with pytest.raises(TemplateError, match=r"no asset is published under the S3 key 'other\.zip'"):
        assembly.stacks["B"].asset_for_object_key("other.zip")


def _assembly(directory: Path, template: dict[str, Any]) -> CloudAssembly:
    manifest = {
        "version": "55.0.0",
        "artifacts": {
            "S": {"type": "aws:cloudformation:stack", "properties": {"templateFile": "S.template.json"}}
        },
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    (directory / "S.template.json").write_text(json.dumps(template))
    return CloudAssembly(directory)
