"""The local SageMaker refuses what SageMaker refuses although botocore accepts it (issue 14 findings 6
and 11): a volume key on an instance type with local NVMe storage, and a label category file without
Ground Truth's document version."""

from __future__ import annotations

import json

import pytest

from local.sagemaker import SageMakerServiceError
from local.sagemaker.reuse_experiment import labeling_request

from .conftest import BUCKET, Cloud, training_request

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize(
    "instance_type", ["ml.g5.xlarge", "ml.g4dn.xlarge", "ml.m5d.large", "ml.p3dn.24xlarge"]
)
def test_a_volume_key_on_an_instance_with_local_storage_is_a_validation_error(cloud: Cloud, instance_type):
    # Given a training request on an instance type with local NVMe storage and a VolumeKmsKeyId
    request = training_request("nvme-train-0", f"s3://{BUCKET}/train/", f"s3://{BUCKET}/validation/")
    request["ResourceConfig"] = {
        **request["ResourceConfig"],
        "InstanceType": instance_type,
        "VolumeKmsKeyId": KEY,
    }
    # When it is created / Then SageMaker's ValidationException names the field and the instance type
    with pytest.raises(SageMakerServiceError) as raised:
        cloud.backend.create_training_job(request)
    assert raised.value.code == "ValidationException"
    assert f"VolumeKmsKeyId is not supported for instance type {instance_type}" in raised.value.message


def test_an_endpoint_config_key_on_an_instance_with_local_storage_is_a_validation_error(cloud: Cloud):
    # Given an endpoint configuration on ml.g5.xlarge with a KmsKeyId
    request = {
        "EndpointConfigName": "nvme-config",
        "KmsKeyId": KEY,
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName": "m",
                "InstanceType": "ml.g5.xlarge",
                "InitialInstanceCount": 1,
            }
        ],
    }
    # When it is created / Then it is refused before the model is even looked up
    with pytest.raises(
        SageMakerServiceError, match=r"KmsKeyId is not supported for instance type ml\.g5\.xlarge"
    ):
        cloud.backend.create_endpoint_config(request)


def test_the_same_key_on_an_ebs_only_instance_is_accepted(cloud: Cloud):
    # Given the key on ml.m5.large (EBS only)  # When the training job is created / Then it is accepted
    request = training_request("ebs-train-0", f"s3://{BUCKET}/train/", f"s3://{BUCKET}/validation/")
    request["ResourceConfig"] = {
        **request["ResourceConfig"],
        "InstanceType": "ml.m5.large",
        "VolumeKmsKeyId": KEY,
    }
    assert cloud.backend.create_training_job(request)["TrainingJobArn"].endswith("/ebs-train-0")


def test_a_label_category_file_without_its_document_version_fails_the_labeling_job(cloud: Cloud, digits):
    # Given a label category file as Ground Truth's docs show it, but without "document-version"
    cloud.upload_images(digits[:4])
    manifest = cloud.put(
        "incoming/v.manifest", "".join(json.dumps({"source-ref": r.source_ref}) + "\n" for r in digits[:4])
    )
    categories = cloud.put(
        "labeling/no-version.json", json.dumps({"labels": [{"label": "a"}, {"label": "b"}]})
    )
    request = labeling_request("no-version", manifest, categories)
    request["OutputConfig"]["S3OutputPath"] = f"s3://{BUCKET}/labeling/"
    request.pop("LabelingJobAlgorithmsConfig")
    # When the labeling job runs
    cloud.backend.create_labeling_job(request)
    described = cloud.backend.wait_for_job("labeling", "no-version", timeout=60)
    # Then it fails naming the missing version, as Ground Truth does
    assert described["LabelingJobStatus"] == "Failed"
    assert "document-version" in described["FailureReason"]
