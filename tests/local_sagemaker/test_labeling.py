"""Labeling jobs with the simulated workforce (image classification and bounding boxes): Ground Truth's
output, counters, and consolidation that beats a single annotator."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from gtpipe_shared.consolidation import Box, consolidate_classes, match_boxes

from local.sagemaker import LABELING_JOB_STATE_CHANGE, WorkforceSettings, simulate_answers
from training.datasets import CLASS_NAMES, label_categories
from training.scenes import SceneRecord, reference_line, scene_source_ref, write_scenes

from .conftest import ACCOUNT, BUCKET, REGION, ROLE, Cloud

PRE = f"arn:aws:lambda:{REGION}:432418664414:function:PRE-ImageMultiClass"
ACS = f"arn:aws:lambda:{REGION}:432418664414:function:ACS-ImageMultiClass"


def labeling_request(
    name: str, manifest_uri: str, categories_uri: str, *, workers: int = 3, pre: str = PRE
) -> dict:
    """CreateLabelingJob shaped like the pipeline's Label state."""
    return {
        "LabelingJobName": name,
        "LabelAttributeName": "category",
        "InputConfig": {
            "DataSource": {"S3DataSource": {"ManifestS3Uri": manifest_uri}},
            "DataAttributes": {"ContentClassifiers": ["FreeOfPersonallyIdentifiableInformation"]},
        },
        "OutputConfig": {"S3OutputPath": f"s3://{BUCKET}/labeling/"},
        "RoleArn": ROLE,
        "LabelCategoryConfigS3Uri": categories_uri,
        "HumanTaskConfig": {
            "WorkteamArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:workteam/private-crowd/gtpipe",
            "UiConfig": {"UiTemplateS3Uri": f"s3://{BUCKET}/labeling/template.liquid"},
            "PreHumanTaskLambdaArn": pre,
            "TaskKeywords": ["images"],
            "TaskTitle": "Which digit?",
            "TaskDescription": "Pick the digit shown",
            "NumberOfHumanWorkersPerDataObject": workers,
            "TaskTimeLimitInSeconds": 300,
            "TaskAvailabilityLifetimeInSeconds": 864000,
            "MaxConcurrentTaskCount": 100,
            "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn": ACS},
        },
        "Tags": [{"Key": "gtpipe:run-id", "Value": "demo"}],
    }


def reference_file(tmp_path: Path, records) -> Path:
    path = tmp_path / "reference.jsonl"
    path.write_text(
        "".join(json.dumps({"source-ref": r.source_ref, "label": r.label}) + "\n" for r in records)
    )
    return path


def input_manifest(cloud: Cloud, records, key: str = "incoming/digits.manifest") -> str:
    return cloud.put(key, "".join(json.dumps({"source-ref": r.source_ref}) + "\n" for r in records))


def test_consolidated_labels_beat_a_single_worker_and_match_ground_truths_format(
    cloud: Cloud, digits, tmp_path
):
    # Given 200 digits, reference labels, and 3 workers per object who err 30% of the time
    truth = {r.source_ref: r.label for r in digits}
    cloud.backend.workforce = WorkforceSettings(reference_file(tmp_path, digits), error_rate=0.3, seed=11)
    request = labeling_request("digits-label-0", input_manifest(cloud, digits), cloud.label_categories())
    # When the labeling job runs
    arn = cloud.backend.create_labeling_job(request)["LabelingJobArn"]
    described = cloud.backend.wait_for_job("labeling", "digits-label-0", timeout=60)
    # Then it completed with every object human-labeled, and the output manifest where Ground Truth puts it
    assert described["LabelingJobStatus"] == "Completed", described.get("FailureReason")
    assert described["LabelCounters"] == {
        "TotalLabeled": 200,
        "HumanLabeled": 200,
        "MachineLabeled": 0,
        "FailedNonRetryableError": 0,
        "Unlabeled": 0,
    }
    output_uri = described["LabelingJobOutput"]["OutputDatasetS3Uri"]
    assert output_uri == f"s3://{BUCKET}/labeling/digits-label-0/manifests/output/output.manifest"
    lines = [json.loads(line) for line in cloud.read(output_uri).decode().splitlines()]
    assert [line["source-ref"] for line in lines] == [r.source_ref for r in digits]
    for line in lines:
        metadata = line["category-metadata"]
        assert set(metadata) == {
            "class-name",
            "confidence",
            "human-annotated",
            "creation-date",
            "job-name",
            "type",
        }
        assert metadata["class-name"] == CLASS_NAMES[line["category"]]
        assert metadata["human-annotated"] == "yes"
        assert metadata["job-name"] == "labeling-job/digits-label-0"
        assert metadata["type"] == "groundtruth/image-classification"
        assert 0.0 < metadata["confidence"] <= 1.0
    # And the raw worker answers: one file per object, three answers each, as Ground Truth writes them
    responses = cloud.keys("labeling/digits-label-0/annotations/worker-response/iteration-1/")
    assert len(responses) == 200
    answers = []
    for key in responses:
        index = int(key.split("/")[-2])
        document = json.loads(cloud.read(f"s3://{BUCKET}/{key}"))
        assert len(document["answers"]) == 3
        assert len({a["workerId"] for a in document["answers"]}) == 3
        for answer in document["answers"]:
            label = answer["answerContent"]["crowd-image-classifier"]["label"]
            answers.append(CLASS_NAMES.index(label) == digits[index].label)
    consolidation = cloud.keys(
        "labeling/digits-label-0/annotations/consolidated-annotation/consolidation-response/"
    )
    assert len(consolidation) == 1
    consolidated = json.loads(cloud.read(f"s3://{BUCKET}/{consolidation[0]}"))
    assert consolidated[0]["datasetObjectId"] == "0"
    assert consolidated[0]["consolidatedAnnotation"]["content"] == {
        key: lines[0][key] for key in ("category", "category-metadata")
    }
    # And (measured) consolidation beats one annotator by a clear margin
    single = sum(answers) / len(answers)
    consolidated_accuracy = sum(line["category"] == truth[line["source-ref"]] for line in lines) / len(lines)
    print(f"single worker accuracy {single:.3f}, consolidated {consolidated_accuracy:.3f}")
    assert 0.64 <= single <= 0.76
    assert consolidated_accuracy >= single + 0.08
    # And the events: Initializing -> InProgress -> Completed
    events = cloud.events_of(LABELING_JOB_STATE_CHANGE)
    assert [e[1]["LabelingJobStatus"] for e in events] == ["Initializing", "InProgress", "Completed"]
    assert events[-1][2] == [arn]


def test_objects_without_reference_labels_fail_individually_and_a_job_with_none_fails(
    cloud: Cloud, digits, tmp_path
):
    # Given reference labels for only 5 of 8 objects
    cloud.backend.workforce = WorkforceSettings(reference_file(tmp_path, digits[:5]), error_rate=0.0, seed=1)
    categories = cloud.label_categories()
    cloud.backend.create_labeling_job(
        labeling_request("partial-0", input_manifest(cloud, digits[:8]), categories)
    )
    # When it runs
    partial = cloud.backend.wait_for_job("labeling", "partial-0", timeout=30)
    # Then 5 are labeled (exactly, at error rate 0) and 3 count as FailedNonRetryableError
    assert partial["LabelingJobStatus"] == "Completed"
    assert partial["LabelCounters"]["TotalLabeled"] == 5
    assert partial["LabelCounters"]["FailedNonRetryableError"] == 3
    lines = [
        json.loads(line)
        for line in cloud.read(partial["LabelingJobOutput"]["OutputDatasetS3Uri"]).splitlines()
    ]
    assert [line.get("category") for line in lines[:5]] == [r.label for r in digits[:5]]
    assert all("category" not in line and "failure-reason" in line["category-metadata"] for line in lines[5:])
    # Given objects none of which the workforce knows / When labeled / Then the job fails
    unknown = cloud.put(
        "incoming/unknown.manifest", json.dumps({"source-ref": f"s3://{BUCKET}/images/x.png"})
    )
    cloud.backend.create_labeling_job(labeling_request("none-0", unknown, categories))
    failed = cloud.backend.wait_for_job("labeling", "none-0", timeout=30)
    assert failed["LabelingJobStatus"] == "Failed"
    assert "no data object could be labeled" in failed["FailureReason"]
    assert failed["LabelCounters"]["FailedNonRetryableError"] == 1


def _recall_and_iou(boxes_per_image, scenes) -> tuple[float, float]:
    """Share of true boxes matched (IoU >= 0.5, same class) and the mean IoU of the matches."""
    hits = []
    total = 0
    for boxes, scene in zip(boxes_per_image, scenes, strict=True):
        truth = [Box(o.class_id, o.left, o.top, o.width, o.height) for o in scene.objects]
        total += len(truth)
        hits += [v for i, j, v in match_boxes(boxes, truth) if boxes[i].class_id == truth[j].class_id]
    return len(hits) / total, sum(hits) / len(hits)


def _box_job_on_scenes(
    cloud: Cloud, tmp_path: Path, classes: tuple[str, ...]
) -> tuple[list[SceneRecord], dict[str, Any]]:
    """Upload 40 synthetic scenes with their true boxes as the workforce's reference answers (plus a
    classification reference line the box task must ignore; workers jitter, miss and mislabel) and
    return them with the bounding-box job's request (``boxes-0``, label attribute ``boxes``)."""
    scenes = write_scenes(tmp_path / "scenes", 40, seed=5, class_names=classes, max_objects=4)
    refs = [scene_source_ref(s, BUCKET) for s in scenes]
    for scene, ref in zip(scenes, refs, strict=True):
        cloud.s3.upload_file(str(scene.path), BUCKET, ref[len(f"s3://{BUCKET}/") :])
    reference = tmp_path / "boxes.jsonl"
    lines = [reference_line(s, r) for s, r in zip(scenes, refs, strict=True)]
    lines.append({"source-ref": f"s3://{BUCKET}/images/digit.png", "label": 1})
    reference.write_text("".join(json.dumps(line) + "\n" for line in lines))
    cloud.backend.workforce = WorkforceSettings(
        reference, seed=3, box_jitter=0.06, box_miss_rate=0.15, box_wrong_class_rate=0.05
    )
    manifest = cloud.put(
        "incoming/scenes.manifest", "".join(json.dumps({"source-ref": r}) + "\n" for r in refs)
    )
    categories = cloud.put("labeling/shapes.json", json.dumps(label_categories(classes)))
    pre = PRE.replace("PRE-ImageMultiClass", "PRE-BoundingBox")
    request = labeling_request("boxes-0", manifest, categories, pre=pre)
    request["LabelAttributeName"] = "boxes"
    return scenes, request


def test_bounding_boxes_are_drawn_consolidated_and_written_in_ground_truths_format(cloud: Cloud, tmp_path):
    # Given 40 synthetic scenes (circles and squares) with their true boxes as reference answers, plus a
    # classification reference line the box task must ignore, and workers who jitter, miss and mislabel
    classes = ("circle", "square")
    scenes, request = _box_job_on_scenes(cloud, tmp_path, classes)
    # When the bounding-box job runs
    cloud.backend.create_labeling_job(request)
    described = cloud.backend.wait_for_job("labeling", "boxes-0", timeout=60)
    # Then every image is labeled by people
    assert described["LabelingJobStatus"] == "Completed", described.get("FailureReason")
    assert described["LabelCounters"]["HumanLabeled"] == described["LabelCounters"]["TotalLabeled"] == 40
    output = [
        json.loads(line)
        for line in cloud.read(described["LabelingJobOutput"]["OutputDatasetS3Uri"]).splitlines()
    ]
    # And each line holds Ground Truth's bounding-box label and metadata
    for line, scene in zip(output, scenes, strict=True):
        label, metadata = line["boxes"], line["boxes-metadata"]
        assert label["image_size"] == [{"width": scene.width, "height": scene.height, "depth": 3}]
        assert set(metadata) == {
            "objects",
            "class-map",
            "type",
            "human-annotated",
            "creation-date",
            "job-name",
        }
        assert metadata["type"] == "groundtruth/object-detection"
        assert metadata["human-annotated"] == "yes" and metadata["job-name"] == "labeling-job/boxes-0"
        assert len(metadata["objects"]) == len(label["annotations"])
        assert all(0 < item["confidence"] <= 1 for item in metadata["objects"])
        assert metadata["class-map"] == {
            str(a["class_id"]): classes[a["class_id"]] for a in label["annotations"]
        }
        for box in label["annotations"]:
            assert set(box) == {"class_id", "left", "top", "width", "height"}
            assert 0 <= box["left"] < box["left"] + box["width"] <= scene.width
            assert 0 <= box["top"] < box["top"] + box["height"] <= scene.height
    # And the workers' answers are Ground Truth's boundingBox answers, three per image
    responses = cloud.keys("labeling/boxes-0/annotations/worker-response/iteration-1/")
    assert len(responses) == 40
    single: list[list[Box]] = [[] for _ in scenes]
    for key in responses:
        index = int(key.split("/")[-2])
        answers = json.loads(cloud.read(f"s3://{BUCKET}/{key}"))["answers"]
        assert len(answers) == 3
        content = answers[0]["answerContent"]["boundingBox"]
        assert content["inputImageProperties"] == {
            "width": scenes[index].width,
            "height": scenes[index].height,
        }
        single[index] = [
            Box(classes.index(b["label"]), b["left"], b["top"], b["width"], b["height"])
            for b in content["boundingBoxes"]
        ]
    consolidation = cloud.keys("labeling/boxes-0/annotations/consolidated-annotation/consolidation-response/")
    first = json.loads(cloud.read(f"s3://{BUCKET}/{consolidation[0]}"))[0]
    assert first["consolidatedAnnotation"]["content"] == {
        k: output[0][k] for k in ("boxes", "boxes-metadata")
    }
    # And (measured) the consolidated boxes find and fit the true boxes better than one worker's
    merged = [[Box(**a) for a in line["boxes"]["annotations"]] for line in output]
    merged_recall, merged_iou = _recall_and_iou(merged, scenes)
    single_recall, single_iou = _recall_and_iou(single, scenes)
    print(
        f"recall/IoU: consolidated {merged_recall:.3f}/{merged_iou:.3f}, one worker {single_recall:.3f}/{single_iou:.3f}"
    )
    assert merged_recall > single_recall + 0.05
    assert merged_iou > single_iou


def test_a_single_class_box_job_is_accepted_and_an_unknown_task_type_fails(cloud: Cloud, tmp_path):
    # Given one scene of circles only, and a label categories file with the single class (as seed 001's "Bird")
    scene = write_scenes(tmp_path / "one", 1, seed=2, class_names=("circle",))[0]
    ref = scene_source_ref(scene, BUCKET)
    reference = tmp_path / "one.jsonl"
    reference.write_text(json.dumps(reference_line(scene, ref)) + "\n")
    cloud.backend.workforce = WorkforceSettings(reference, seed=1, box_jitter=0.0, box_miss_rate=0.0)
    manifest = cloud.put("incoming/one.manifest", json.dumps({"source-ref": ref}))
    categories = cloud.put("labeling/circle.json", json.dumps(label_categories(("circle",))))
    pre = PRE.replace("PRE-ImageMultiClass", "PRE-BoundingBox")
    # When labeled by exact workers
    cloud.backend.create_labeling_job(labeling_request("one-box", manifest, categories, pre=pre))
    described = cloud.backend.wait_for_job("labeling", "one-box", timeout=30)
    # Then the consolidated boxes are exactly the true ones
    assert described["LabelingJobStatus"] == "Completed", described.get("FailureReason")
    line = json.loads(cloud.read(described["LabelingJobOutput"]["OutputDatasetS3Uri"]))
    assert line["category"]["annotations"] == reference_line(scene, ref)["annotations"]
    # Given a task type the workforce does not simulate / Then the job fails naming it
    pre = PRE.replace("PRE-ImageMultiClass", "PRE-SemanticSegmentation")
    cloud.backend.create_labeling_job(labeling_request("segments-0", manifest, categories, pre=pre))
    failed = cloud.backend.wait_for_job("labeling", "segments-0", timeout=30)
    assert failed["LabelingJobStatus"] == "Failed"
    assert "labeling task type PRE-SemanticSegmentation is not simulated" in failed["FailureReason"]


def test_seconds_per_task_keeps_the_job_in_progress_and_stop_works(cloud: Cloud, digits, tmp_path):
    # Given slow workers (10 s per batch of tasks)
    cloud.backend.workforce = WorkforceSettings(reference_file(tmp_path, digits), seed=2, seconds_per_task=10)
    cloud.backend.create_labeling_job(
        labeling_request("slow-0", input_manifest(cloud, digits), cloud.label_categories())
    )
    # When it is described and then stopped
    cloud.backend.faults.throttle_next("DescribeLabelingJob", 1)
    with pytest.raises(Exception) as throttled:
        cloud.backend.describe_labeling_job({"LabelingJobName": "slow-0"})
    assert getattr(throttled.value, "code", None) == "ThrottlingException"
    assert cloud.backend.describe_labeling_job({"LabelingJobName": "slow-0"})["LabelingJobStatus"] in (
        "Initializing",
        "InProgress",
    )
    cloud.backend.stop_labeling_job({"LabelingJobName": "slow-0"})
    # Then it ends Stopped promptly
    described = cloud.backend.wait_for_job("labeling", "slow-0", timeout=5)
    assert described["LabelingJobStatus"] == "Stopped"


def test_weighted_vote_discounts_a_careless_worker():
    # Given four careful workers (10% errors) and one who answers at random (90% errors)
    rng = random.Random(5)
    truth = [rng.randrange(10) for _ in range(300)]
    answers = []
    for label in truth:
        workers = rng.sample(["a", "b", "c", "d", "careless"], 3)
        answers.append(
            [simulate_answers(label, 10, [w], 0.9 if w == "careless" else 0.1, rng)[0] for w in workers]
        )
    # When consolidated
    result = consolidate_classes(answers, 10, seed=5)
    # Then the careless worker's estimated accuracy and weight are far below the others'
    accuracies, weights = result.worker_accuracy, result.worker_weight
    assert accuracies["careless"] < 0.3 < 0.8 < min(accuracies[w] for w in "abcd")
    assert weights["careless"] < min(weights[w] for w in "abcd") / 3
    accuracy = sum(
        item is not None and item.label == label for item, label in zip(result.labels, truth, strict=True)
    ) / len(truth)
    assert accuracy > 0.9
