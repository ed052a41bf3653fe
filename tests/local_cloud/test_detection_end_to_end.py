"""Object detection on the local cloud, end to end at small scale (slow: real labeling, training, hosting).

Synthetic scenes -> input manifest -> simulated bounding-box labeling (annotators with jitter and misses,
boxes consolidated) -> split keeping each image's boxes together -> the local object-detection algorithm
-> batch transform -> mAP@0.5 evaluation and gate -> endpoint -> ``POST /predict`` answering pixel boxes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local.drivers.client import PredictionApi
from local.drivers.demo import upload_dataset
from local.drivers.demo_tasks import TASKS, DemoImage, rebucket, write_input_manifest, write_reference_answers
from local.drivers.runs import RunProgress, follow_run
from tests.local_cloud.conftest import FOLLOW_INTERVAL, running_cloud
from training.scenes import SCENE_CLASSES, SceneRecord

pytestmark = pytest.mark.slow

SCENES = 400
HOLDOUT = 0.12
EPOCHS = 20
RUN_TIMEOUT = 480.0
TASK = TASKS["object-detection"]
# A detector that learns nothing scores mAP@0.5 ~0; this configuration (seeded; the learning rate drops
# after epoch 21, so these 20 epochs follow the demo's own path) reaches validation 0.51 at epoch 18 and
# held-out 0.50 over HTTPS (30 epochs gave 0.63 and 0.55 for 50% more training time).
QUALITY_THRESHOLD = 0.3
HELD_OUT_MAP = 0.25


def detection_context() -> dict[str, Any]:
    """The detection demo's configuration with fewer epochs and a gate a working detector passes."""
    return {**TASK.context(EPOCHS), "gtpipe:qualityThreshold": QUALITY_THRESHOLD}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with running_cloud(
        tmp_path_factory.mktemp("detection-cloud"), detection_context(), "cdk.out-tests-detection"
    ) as local_cloud:
        yield local_cloud


@pytest.fixture(scope="module")
def scenes(cloud: Any, tmp_path_factory: pytest.TempPathFactory) -> list[DemoImage]:
    """Scenes uploaded under images/scenes/; the workforce's reference boxes written."""
    bucket = str(cloud.outputs["DataBucketName"])
    drawn = TASK.draw(tmp_path_factory.mktemp("scenes"), images=SCENES, holdout=HOLDOUT, bucket=bucket)
    images = rebucket(drawn, bucket, TASK.image_prefix)
    upload_dataset(cloud, bucket, images)
    write_reference_answers(
        cloud.settings.reference_labels_path, [image.reference for image in images if not image.holdout]
    )
    return images


@pytest.fixture(scope="module")
def run(cloud: Any, scenes: list[DemoImage], tmp_path_factory: pytest.TempPathFactory) -> RunProgress:
    labeled = [image for image in scenes if not image.holdout]
    manifest = write_input_manifest(tmp_path_factory.mktemp("manifest") / "scenes.manifest", labeled)
    put = cloud.client("s3").put_object(
        Bucket=cloud.outputs["DataBucketName"], Key="incoming/scenes.manifest", Body=manifest.read_bytes()
    )
    progress = follow_run(
        cloud.client("dynamodb"),
        cloud.client("stepfunctions"),
        cloud.outputs["RunsTableName"],
        "incoming/scenes.manifest",
        put.get("VersionId"),
        timeout=RUN_TIMEOUT,
        interval=FOLLOW_INTERVAL,
    )
    cloud.wait_idle(30)
    return progress


def labeling_output(cloud: Any, run: RunProgress) -> list[dict[str, Any]]:
    uri = (run.run or {})["steps"]["label"]
    job = cloud.client("sagemaker").describe_labeling_job(LabelingJobName=uri["job_name"])
    bucket, key = job["LabelingJobOutput"]["OutputDatasetS3Uri"].removeprefix("s3://").split("/", 1)
    body = cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def test_scenes_are_labeled_with_boxes_trained_gated_on_map_and_deployed(
    cloud: Any, run: RunProgress
) -> None:
    # Given an unlabeled manifest of scenes / When the run ends
    record = run.run or {}
    # Then it succeeded through bounding-box labeling, detection training and the mAP gate
    assert run.run_status == "SUCCEEDED", record.get("failure")
    assert record["task_type"] == "object-detection"
    assert {record["steps"][name]["status"] for name in ("label", "train", "xform")} == {"Completed"}
    assert record["metrics"]["metric_name"] == "map_50"
    print(
        f"[quality] detection validation mAP@0.5 {record['metrics']['metric_value']} (gate {QUALITY_THRESHOLD})"
    )
    assert QUALITY_THRESHOLD <= record["metrics"]["metric_value"] <= 1.0
    assert record["metrics"]["passed"] is True
    # And the training log is in CloudWatch Logs where SageMaker writes it (the report's curves)
    streams = cloud.client("logs").describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs",
        logStreamNamePrefix=f"{record['steps']['train']['job_name']}/",
    )["logStreams"]
    assert len(streams) == 1 and streams[0]["logStreamName"].split("/")[1].startswith("algo-1-")
    # And the labeling output is Ground Truth's bounding-box format
    lines = labeling_output(cloud, run)
    assert len(lines) == round(SCENES * (1 - HOLDOUT))
    labeled = [line for line in lines if "annotations" in line.get("category", {})]
    assert len(labeled) >= 0.9 * len(lines)
    metadata = labeled[0]["category-metadata"]
    assert metadata["type"] == "groundtruth/object-detection"
    assert set(metadata["class-map"].values()) <= set(SCENE_CLASSES)
    assert len(metadata["objects"]) == len(labeled[0]["category"]["annotations"])


def test_predictions_are_pixel_boxes_of_the_submitted_image(
    cloud: Any, run: RunProgress, scenes: list[DemoImage]
) -> None:
    # Given the deployed detector
    assert run.run_status == "SUCCEEDED"
    api = PredictionApi(cloud.outputs)
    held_out = [image for image in scenes if image.holdout]
    # When every held-out scene is posted with a low min_confidence
    answers = [
        (image, api.predict(image.path.read_bytes(), query={"min_confidence": "0.05"})) for image in held_out
    ]
    # Then each answer lists labelled boxes inside that image's pixel frame, best first
    assert all(response.status == 200 for _, response in answers), [r.body[:200] for _, r in answers]
    boxes = 0
    for image, response in answers:
        record: SceneRecord = image.truth
        body = response.json()
        assert body["model"]["run_id"] == run.run_id
        confidences = [d["confidence"] for d in body["detections"]]
        assert confidences == sorted(confidences, reverse=True)
        for detection in body["detections"]:
            box = detection["box"]
            assert detection["label"] in SCENE_CLASSES and 0.05 <= detection["confidence"] <= 1
            assert 0 <= box["left"] <= box["left"] + box["width"] <= record.width
            assert 0 <= box["top"] <= box["top"] + box["height"] <= record.height
            boxes += 1
    assert boxes > 0
    # And a stricter threshold returns a subset
    strict = api.predict(held_out[0].path.read_bytes(), query={"min_confidence": "0.9"}).json()
    assert all(d["confidence"] >= 0.9 for d in strict["detections"])


def test_demo_scores_answers_with_map(cloud: Any, run: RunProgress, scenes: list[DemoImage]) -> None:
    # Given the held-out answers / When the demo's scorer reads them / Then it reports mAP@0.5 in 0..1, at a
    # level only a detector that learned the shapes reaches
    api = PredictionApi(cloud.outputs)
    held_out = [image for image in scenes if image.holdout]
    answered = [
        (image, api.predict(image.path.read_bytes(), query=TASK.query()).json()) for image in held_out
    ]
    score = TASK.score(answered)
    print(f"[quality] detection held-out mAP@0.5 over HTTPS {score.value}")
    assert score.name == "map" and HELD_OUT_MAP <= score.value <= 1.0
    assert "mAP@0.5" in score.summary
