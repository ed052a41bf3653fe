"""Batch transform: the model's handlers over a ManifestFile or S3Prefix, one .out per image."""

from __future__ import annotations

import json

from local.sagemaker import TRANSFORM_JOB_STATE_CHANGE

from .conftest import BUCKET, Cloud, create_model


def transform_request(name: str, model: str, data_type: str, uri: str, output: str) -> dict:
    """CreateTransformJob shaped like the pipeline's Transform state."""
    return {
        "TransformJobName": name,
        "ModelName": model,
        "BatchStrategy": "SingleRecord",
        "MaxPayloadInMB": 6,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": data_type, "S3Uri": uri}},
            "ContentType": "application/x-image",
            "SplitType": "None",
            "CompressionType": "None",
        },
        "TransformOutput": {"S3OutputPath": output, "Accept": "application/json", "AssembleWith": "None"},
        "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
        "Tags": [{"Key": "gtpipe:run-id", "Value": "demo"}],
    }


def test_manifest_file_transform_writes_one_prediction_per_image(cloud: Cloud, digits, model_tar):
    # Given a model and a ManifestFile ({"prefix"} then relative keys) of ten images
    create_model(cloud, "digits-model-0", model_tar)
    records = digits[160:170]
    cloud.upload_images(records)
    prefix = f"s3://{BUCKET}/images/"
    manifest = [{"prefix": prefix}] + [r.source_ref[len(prefix) :] for r in records]
    manifest_uri = cloud.put("splits/run/validation-images.manifest", json.dumps(manifest))
    output = f"s3://{BUCKET}/transform/run/"
    # When a transform job runs
    request = transform_request("digits-xform-0", "digits-model-0", "ManifestFile", manifest_uri, output)
    arn = cloud.backend.create_transform_job(request)["TransformJobArn"]
    described = cloud.backend.wait_for_job("transform", "digits-xform-0", timeout=60)
    # Then it completed and wrote <output><relative key>.out with the batch form of the probabilities
    assert described["TransformJobStatus"] == "Completed", described.get("FailureReason")
    assert described["TransformStartTime"] <= described["TransformEndTime"]
    keys = sorted(cloud.keys("transform/run/"))
    assert keys == sorted(f"transform/run/{r.source_ref[len(prefix) :]}.out" for r in records)
    for key in keys:
        answer = json.loads(cloud.read(f"s3://{BUCKET}/{key}"))
        assert set(answer) == {"prediction"}
        assert len(answer["prediction"]) == 10
        assert abs(sum(answer["prediction"]) - 1.0) < 1e-3
    # And its events went InProgress -> Completed
    events = cloud.events_of(TRANSFORM_JOB_STATE_CHANGE)
    assert [e[1]["TransformJobStatus"] for e in events] == ["InProgress", "Completed"]
    assert events[-1][2] == [arn]
    assert events[-1][1]["Tags"] == {"gtpipe:run-id": "demo"}


def test_s3_prefix_transform_and_a_bad_record_fails_the_job_naming_it(cloud: Cloud, digits, model_tar):
    # Given a prefix holding two good images and one that is not an image
    create_model(cloud, "digits-model-1", model_tar)
    for record in digits[170:172]:
        cloud.s3.upload_file(str(record.path), BUCKET, f"batch/in/{record.path.name}")
    cloud.put("batch/in/zz-broken.png", b"definitely not a png")
    # When a transform job reads the prefix
    request = transform_request(
        "digits-xform-1", "digits-model-1", "S3Prefix", f"s3://{BUCKET}/batch/in/", f"s3://{BUCKET}/batch/out"
    )
    cloud.backend.create_transform_job(request)
    described = cloud.backend.wait_for_job("transform", "digits-xform-1", timeout=60)
    # Then the good records were written, and the job failed naming the bad one
    assert described["TransformJobStatus"] == "Failed"
    assert f"s3://{BUCKET}/batch/in/zz-broken.png" in described["FailureReason"]
    assert described["FailureReason"].startswith("ClientError: record")
    assert sorted(cloud.keys("batch/out/")) == sorted(f"batch/out/{r.path.name}.out" for r in digits[170:172])


def test_transform_needs_an_existing_model(cloud: Cloud):
    # Given no model / When a transform names one / Then ValidationException, nothing created
    request = transform_request(
        "xform-nomodel", "no-such-model", "S3Prefix", f"s3://{BUCKET}/x/", f"s3://{BUCKET}/y/"
    )
    try:
        cloud.backend.create_transform_job(request)
    except Exception as error:
        assert getattr(error, "code", None) == "ValidationException"
        assert "Could not find model" in str(error)
    else:
        raise AssertionError("CreateTransformJob accepted a missing model")
