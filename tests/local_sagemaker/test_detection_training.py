"""The object-detection image: a training job runs ``training.detection.train`` and a transform job
serves the model through ``training.detection.inference``, as the built-in algorithm would."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from gtpipe_shared.metric_definitions import DETECTION_METRIC_DEFINITIONS

from training.scenes import SceneRecord, augmented_manifest_line, scene_source_ref, write_scenes

from .conftest import BUCKET, IMAGE, ROLE, Cloud, training_request
from .test_transform import transform_request

DETECTION_IMAGE = IMAGE.replace("image-classification", "object-detection")
PREFIX = "images/scenes"
DETECTION_HYPERPARAMETERS = {
    "num_classes": "4",
    "num_training_samples": "12",
    "image_shape": "64",
    "epochs": "2",
    "mini_batch_size": "6",
    "optimizer": "adam",
    "learning_rate": "0.002",
    "use_pretrained_model": "0",
    "label_width": "350",
    "seed": "0",
}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> list[SceneRecord]:
    return write_scenes(tmp_path_factory.mktemp("scenes"), 20, seed=4, min_side=64, max_side=96)


def upload_channel(cloud: Cloud, records: list[SceneRecord], key: str) -> str:
    """Upload scene images and a bounding-box augmented manifest (label attribute 'boxes')."""
    for record in records:
        cloud.s3.upload_file(str(record.path), BUCKET, f"{PREFIX}/{record.path.name}")
    lines = [
        json.dumps(
            augmented_manifest_line(r, scene_source_ref(r, BUCKET, PREFIX), "boxes", job_name="boxes-job")
        )
        for r in records
    ]
    return cloud.put(key, "\n".join(lines) + "\n")


def test_object_detection_training_job_and_transform(cloud: Cloud, scenes):
    # Given bounding-box channels in S3 and a job for the built-in object-detection image
    train_uri = upload_channel(cloud, scenes[:12], "splits/od/train.manifest")
    validation_uri = upload_channel(cloud, scenes[12:16], "splits/od/validation.manifest")
    request = training_request(
        "detector-train-0",
        train_uri,
        validation_uri,
        hyperparameters=DETECTION_HYPERPARAMETERS,
        image=DETECTION_IMAGE,
    )
    for channel in request["InputDataConfig"]:
        channel["DataSource"]["S3DataSource"]["AttributeNames"] = ["source-ref", "boxes"]
    # When it runs
    cloud.backend.create_training_job(request)
    described = cloud.backend.wait_for_job("training", "detector-train-0", timeout=240)
    # Then it completed with the detector's artifact and the built-in's metrics, read from the log
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    artifact = described["ModelArtifacts"]["S3ModelArtifacts"]
    with tarfile.open(fileobj=io.BytesIO(cloud.read(artifact))) as tar:
        names = set(tar.getnames())
        config = json.loads(tar.extractfile("model-config.json").read())  # type: ignore[union-attr]
    assert {"model.pt", "classes.json", "model-config.json", "code/inference.py"} <= names
    assert config["algorithm"] == "object-detection" and config["label_attribute"] == "boxes"
    metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert set(metrics) == {"validation:mAP", "train:cross_entropy", "train:smooth_l1"}
    assert 0.0 <= metrics["validation:mAP"] <= 1.0
    assert described["AlgorithmSpecification"]["MetricDefinitions"] == DETECTION_METRIC_DEFINITIONS
    assert "validation mAP <score>=" in cloud.backend.training_log("detector-train-0").read_text()

    # Given a model of that artifact and held-out images
    cloud.backend.create_model(
        {
            "ModelName": "detector-0",
            "PrimaryContainer": {"Image": DETECTION_IMAGE, "ModelDataUrl": artifact},
            "ExecutionRoleArn": ROLE,
        }
    )
    held_out = scenes[16:]
    for record in held_out:
        cloud.s3.upload_file(str(record.path), BUCKET, f"{PREFIX}/{record.path.name}")
    prefix = f"s3://{BUCKET}/{PREFIX}/"
    manifest_uri = cloud.put(
        "splits/od/validation-images.manifest",
        json.dumps([{"prefix": prefix}] + [r.path.name for r in held_out]),
    )
    # When a batch transform runs over them
    request = transform_request(
        "detector-xform-0", "detector-0", "ManifestFile", manifest_uri, f"s3://{BUCKET}/od-out/"
    )
    cloud.backend.create_transform_job(request)
    described = cloud.backend.wait_for_job("transform", "detector-xform-0", timeout=120)
    # Then each image has <name>.out in the built-in's detection format
    assert described["TransformJobStatus"] == "Completed", described.get("FailureReason")
    assert sorted(cloud.keys("od-out/")) == sorted(f"od-out/{r.path.name}.out" for r in held_out)
    for record in held_out:
        answer = json.loads(cloud.read(f"s3://{BUCKET}/od-out/{record.path.name}.out"))
        assert set(answer) == {"prediction"}
        assert all(len(row) == 6 and 0 <= row[2] <= row[4] <= 1 for row in answer["prediction"])
