"""Ground Truth's output from workers' answers (gtpipe_shared.labeling_output): paths, an output manifest the
pipeline reads back as an augmented manifest, worker and consolidation responses, the unlabeled objects,
counters, team statistics, and invalid answers named."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from gtpipe_shared.labeling_answers import AS_STORED, validate_answer
from gtpipe_shared.labeling_output import (
    JobInfo,
    LabelingOutput,
    WorkerAnswer,
    build_output,
)
from gtpipe_shared.labeling_paths import job_prefix
from gtpipe_shared.manifest import ManifestRules, validate_manifest

EVENTS = Path(__file__).resolve().parents[1] / "events"


def sample(task: str) -> dict[str, Any]:
    """A hand-made job: ``tests/events/labeling-answers-<task>.json``."""
    return json.loads((EVENTS / f"labeling-answers-{task}.json").read_text())


def run(event: dict[str, Any], *, workers_per_object: int | None = None) -> LabelingOutput:
    """``build_output`` over a sample event."""
    job = JobInfo(**{**event["job"], "class_names": tuple(event["job"]["class_names"])})
    answers: dict[int, list[WorkerAnswer]] = {}
    for item in event["answers"]:
        answers.setdefault(item["index"], []).append(WorkerAnswer(**item))
    return build_output(
        job,
        event["lines"],
        answers,
        workers_per_object=workers_per_object or event["workers_per_object"],
        now=dt.datetime.fromisoformat(event["now"]),
    )


def lines_of(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.decode("utf-8").splitlines()]


def read_back(body: bytes, task_type: str, class_names: list[str]):
    rules = ManifestRules(
        allowed_buckets=frozenset({"gtpipe-data"}), class_names=tuple(class_names), task_type=task_type
    )
    return validate_manifest(io.BytesIO(body), rules)


# -- classification ------------------------------------------------------------------------------------


def test_classification_output_has_ground_truths_paths_and_counters():
    # Given 4 objects, 3 answered by all 3 workers and 1 by a single worker
    event = sample("classification")
    # When the output is built
    out = run(event)
    # Then the files lie at Ground Truth's paths under <output_path><job>/, plus the team statistics
    prefix = "labeling/run-20260501-label-0/"
    assert sorted(out.files) == sorted(
        [
            prefix + "annotations/worker-response/iteration-1/0/2026-05-01_10:02:10.json",
            prefix + "annotations/worker-response/iteration-1/1/2026-05-01_10:07:20.json",
            prefix + "annotations/worker-response/iteration-1/2/2026-05-01_10:12:30.json",
            prefix
            + "annotations/consolidated-annotation/consolidation-response/iteration-1/2026-05-01_10:31:00.json",
            prefix + "manifests/output/output.manifest",
            prefix + "manifests/output/unlabeled.manifest",
            prefix + "team/stats.json",
        ]
    )
    assert out.output_uri == "s3://gtpipe-data/" + prefix + "manifests/output/output.manifest"
    # And the counters and object lists say 3 labeled by people, 1 unlabeled
    assert out.counters == {
        "TotalLabeled": 3,
        "HumanLabeled": 3,
        "MachineLabeled": 0,
        "FailedNonRetryableError": 0,
        "Unlabeled": 1,
    }
    assert (out.labeled, out.unlabeled) == ([0, 1, 2], [3])
    # And the unlabeled manifest holds the input line of the object without all its answers
    assert lines_of(out.files[prefix + "manifests/output/unlabeled.manifest"]) == [
        {"source-ref": "s3://gtpipe-data/images/3.png"}
    ]


def test_classification_output_manifest_carries_consolidated_labels_in_ground_truths_format():
    # Given the sample job (object 1: two workers say dog, one says bird; object 2 had a stale label)
    event = sample("classification")
    # When the output is built
    out = run(event)
    lines = lines_of(out.files["labeling/run-20260501-label-0/manifests/output/output.manifest"])
    # Then every input line is there, in order, with the consolidated class and its metadata
    assert [line["source-ref"] for line in lines] == [line["source-ref"] for line in event["lines"]]
    assert [line.get("category") for line in lines] == [0, 1, 2, None]
    metadata = lines[1]["category-metadata"]
    assert metadata["class-name"] == "dog" and 0.5 < metadata["confidence"] < 1.0
    assert {k: metadata[k] for k in ("type", "human-annotated", "job-name", "creation-date")} == {
        "type": "groundtruth/image-classification",
        "human-annotated": "yes",
        "job-name": "labeling-job/run-20260501-label-0",
        "creation-date": "2026-05-01T10:31:00.000000",
    }
    assert lines[2]["category-metadata"]["class-name"] == "bird"
    # And the unlabeled object keeps only a failure entry
    assert "category" not in lines[3]
    assert lines[3]["category-metadata"]["failure-reason"].startswith("ClientError: 1 of 3 answers")


def test_a_fully_answered_classification_manifest_reads_back_as_a_valid_augmented_manifest():
    # Given the sample job where one answer per object is enough
    event = sample("classification")
    # When the output is built
    out = run(event, workers_per_object=1)
    body = out.files["labeling/run-20260501-label-0/manifests/output/output.manifest"]
    # Then the pipeline's manifest reader accepts it as an augmented classification manifest
    report = read_back(body, "image-classification", event["job"]["class_names"])
    assert report.ok, report.messages()
    assert report.summary.kind == "augmented" and report.summary.label_attribute == "category"
    assert report.summary.class_counts == {0: 2, 1: 1, 2: 1}
    # And nothing is unlabeled
    assert out.unlabeled == [] and not any(key.endswith("unlabeled.manifest") for key in out.files)


def test_worker_and_consolidation_responses_use_ground_truths_formats():
    # Given the sample job
    out = run(sample("classification"))
    prefix = "labeling/run-20260501-label-0/"
    # When object 1's worker response and the consolidation response are read
    response = json.loads(
        out.files[prefix + "annotations/worker-response/iteration-1/1/2026-05-01_10:07:20.json"]
    )
    consolidation = json.loads(
        out.files[
            prefix
            + "annotations/consolidated-annotation/consolidation-response/iteration-1/2026-05-01_10:31:00.json"
        ]
    )
    # Then each worker's answer has Ground Truth's keys, class names and times
    first = response["answers"][0]
    assert first == {
        "acceptanceTime": "2026-05-01T10:05:00.000Z",
        "answerContent": {"crowd-image-classifier": {"label": "dog"}},
        "submissionTime": "2026-05-01T10:05:06.000Z",
        "timeSpentInSeconds": 6.0,
        "workerId": "0f1c2d3e-alice",
        "workerMetadata": {
            "identityData": {
                "identityProviderType": "Cognito",
                "issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Team",
                "sub": "0f1c2d3e-alice",
            }
        },
    }
    assert [a["answerContent"]["crowd-image-classifier"]["label"] for a in response["answers"]] == [
        "dog",
        "dog",
        "bird",
    ]
    # And the consolidation response lists the labeled objects with the manifest's content
    assert [item["datasetObjectId"] for item in consolidation] == ["0", "1", "2"]
    assert consolidation[1]["consolidatedAnnotation"]["content"]["category"] == 1


def test_classification_team_statistics_on_a_hand_made_job():
    # Given the sample job: alice and bob always agree with the consensus, carol once calls a dog a bird;
    # the 10 answers span 10:00:00 to 10:30:00
    out = run(sample("classification"))
    # Then the statistics are (hand-computed)
    team = out.team
    assert team["workers"] == [
        {
            "worker_id": "0f1c2d3e-alice",
            "username": "alice@example.com",
            "answers": 4,
            "mean_seconds": 5.0,
            "agreement": 1.0,
        },
        {
            "worker_id": "1a2b3c4d-bob",
            "username": "bob@example.com",
            "answers": 3,
            "mean_seconds": 3.0,
            "agreement": 1.0,
        },
        {
            "worker_id": "9e8d7c6b-carol",
            "username": "carol@example.com",
            "answers": 3,
            "mean_seconds": 20.0,
            "agreement": 0.667,
        },
    ]
    assert team["classes"] == [
        {"class_name": "cat", "objects": 1, "agreement": 1.0},
        {"class_name": "dog", "objects": 1, "agreement": 0.667},
        {"class_name": "bird", "objects": 1, "agreement": 1.0},
    ]
    assert {k: v for k, v in team.items() if k not in ("workers", "classes")} == {
        "answers": 10,
        "objects": 3,
        "started_at": "2026-05-01T10:00:00Z",
        "finished_at": "2026-05-01T10:30:00Z",
        "active_seconds": 1800.0,
        "answers_per_hour": 20.0,
        "objects_per_hour": 6.0,
        "mean_seconds_per_task": 8.9,
        # 3 objects answered 3 times and the unlabeled one once; of the 6 answers after an object's
        # first, only carol's bird on the dog disagrees with it
        "answers_per_object": 2.5,
        "answer_counts": {"1": 1, "3": 3},
        "extra_answers": 6,
        "extra_agreement": 0.833,
    }
    # And they are written next to the output
    assert json.loads(out.files["labeling/run-20260501-label-0/team/stats.json"]) == team


# -- object detection ----------------------------------------------------------------------------------


def test_detection_output_merges_boxes_clips_them_and_reads_back_as_augmented():
    # Given one image answered by 3 workers (a dog box reaching past the image edge; carol adds a stray box)
    # and one answered by a single worker
    event = sample("detection")
    # When the output is built
    out = run(event)
    prefix = "labeling/run-20260502-label-0/"
    lines = lines_of(out.files[prefix + "manifests/output/output.manifest"])
    # Then the first image has the two boxes most workers drew, clipped to the 100 x 80 image
    label, metadata = lines[0]["boxes"], lines[0]["boxes-metadata"]
    assert label == {
        "image_size": [{"width": 100, "height": 80, "depth": 3}],
        "annotations": [
            {"class_id": 0, "left": 10, "top": 10, "width": 20, "height": 20},
            {"class_id": 1, "left": 50, "top": 40, "width": 50, "height": 40},
        ],
    }
    assert metadata["objects"] == [{"confidence": 1.0}, {"confidence": 0.67}]
    assert metadata["class-map"] == {"0": "cat", "1": "dog"}
    assert metadata["type"] == "groundtruth/object-detection" and metadata["human-annotated"] == "yes"
    # And the second image is unlabeled
    assert out.unlabeled == [1] and "failure-reason" in lines[1]["boxes-metadata"]
    # And the worker response names classes and the image size as Ground Truth does
    response = json.loads(
        out.files[prefix + "annotations/worker-response/iteration-1/0/2026-05-02_08:02:40.json"]
    )
    assert response["answers"][0]["answerContent"] == {
        "boundingBox": {
            "boundingBoxes": [
                {"label": "cat", "left": 10, "top": 10, "width": 20, "height": 20},
                {"label": "dog", "left": 50, "top": 40, "width": 50, "height": 40},
            ],
            "inputImageProperties": {"width": 100, "height": 80},
        }
    }
    # And with one answer per image enough, the manifest reads back as a valid augmented detection manifest
    full = run(event, workers_per_object=1).files[prefix + "manifests/output/output.manifest"]
    report = read_back(full, "object-detection", event["job"]["class_names"])
    assert report.ok, report.messages()
    assert report.summary.class_counts == {0: 1, 1: 1}


def test_detection_team_statistics_on_a_hand_made_job():
    # Given the sample job (carol's stray box matches no consolidated box)
    team = run(sample("detection")).team
    # Then agreement is the share of drawn boxes matching a consolidated box of the same class
    assert [(w["username"], w["answers"], w["mean_seconds"], w["agreement"]) for w in team["workers"]] == [
        ("alice@example.com", 2, 20.0, 1.0),
        ("bob@example.com", 1, 20.0, 1.0),
        ("carol@example.com", 1, 40.0, 0.5),
    ]
    # And per class: the consolidated boxes and the share of answering workers who drew each
    assert team["classes"] == [
        {"class_name": "cat", "objects": 1, "agreement": 1.0},
        {"class_name": "dog", "objects": 1, "agreement": 0.667},
    ]
    # And throughput is over the active time, 08:00:00 to 08:10:10 (610 s)
    assert (team["answers"], team["objects"], team["active_seconds"]) == (4, 1, 610.0)
    assert (team["answers_per_hour"], team["objects_per_hour"], team["mean_seconds_per_task"]) == (
        23.6,
        5.9,
        25.0,
    )


# -- bad input -----------------------------------------------------------------------------------------


def test_invalid_answers_name_the_object_and_the_worker():
    # Given a classification answer out of range, and a box outside the image
    event = sample("classification")
    event["answers"][4]["answer"] = {"label": 3}
    boxes = sample("detection")
    boxes["answers"][2]["answer"]["boxes"].append(
        {"class_id": 0, "left": 120, "top": 5, "width": 5, "height": 5}
    )
    # When the outputs are built, then the errors name the object, the worker and the problem
    with pytest.raises(
        ValueError, match=r"object 1, worker 1a2b3c4d-bob: label 3 is not a known class id \(0\.\.2\)"
    ):
        run(event)
    with pytest.raises(
        ValueError, match=r"object 0, worker 9e8d7c6b-carol: boxes\[2\] has no area inside the image"
    ):
        run(boxes)


def test_answers_for_unknown_objects_are_refused():
    # Given an answer for an object the manifest does not have
    event = sample("classification")
    event["answers"].append({**event["answers"][0], "index": 9})
    # Then it is refused with what is wrong
    with pytest.raises(ValueError, match="answers for object 9, but the manifest has 4 lines"):
        run(event)


def test_one_answer_with_another_image_size_cannot_fail_the_output():
    # Given workers reporting different sizes of object 0's image (answers stored before the server checked)
    boxes = sample("detection")
    boxes["answers"][1]["answer"]["image_size"] = {"width": 200, "height": 160}
    job = JobInfo(**{**boxes["job"], "class_names": tuple(boxes["job"]["class_names"])})
    answers: dict[int, list[WorkerAnswer]] = {}
    for item in boxes["answers"]:
        answers.setdefault(item["index"], []).append(WorkerAnswer(**item))
    for known in (None, (100, 80)):
        # When the output is built with the server's size of the image, or without it
        output = build_output(
            job,
            boxes["lines"],
            answers,
            workers_per_object=boxes["workers_per_object"],
            now=dt.datetime.fromisoformat(boxes["now"]),
            image_sizes={0: known} if known else None,
        )
        # Then object 0 is labeled at the server's size (or the size most workers report)
        first = json.loads(
            output.files[next(k for k in output.files if k.endswith("output.manifest"))].splitlines()[0]
        )
        assert first[job.label_attribute]["image_size"][0]["width"] == 100
        assert 0 in output.labeled


@pytest.mark.parametrize(
    ("task_type", "answer", "problem"),
    [
        ("image-classification", {"label": True}, "label must be an integer class id"),
        ("image-classification", [1], "must be a JSON object"),
        ("object-detection", {"boxes": []}, "answer needs 'image_size'"),
        (
            "object-detection",
            {"boxes": [], "image_size": {"width": 0, "height": 5}},
            "image_size width and height must be positive numbers",
        ),
        ("object-detection", {"boxes": {}, "image_size": {"width": 9, "height": 9}}, "answer needs 'boxes'"),
        (
            "object-detection",
            {
                "boxes": [{"class_id": 5, "left": 0, "top": 0, "width": 2, "height": 2}],
                "image_size": {"width": 9, "height": 9},
            },
            "boxes[0].class_id 5 is not a known class id (0..1)",
        ),
        (
            "object-detection",
            {
                "boxes": [{"class_id": 0, "left": 0, "top": 0, "width": -2, "height": 2}],
                "image_size": {"width": 9, "height": 9},
            },
            "boxes[0] must have a positive width and height",
        ),
        (
            "object-detection",
            {
                "boxes": [{"class_id": 0, "left": "x", "top": 0, "width": 2, "height": 2}],
                "image_size": {"width": 9, "height": 9},
            },
            "boxes[0].left must be a number",
        ),
        ("video", {}, "unknown task type video"),
    ],
)
def test_validate_answer_says_what_is_wrong(task_type, answer, problem):
    # Given a malformed answer, when it is validated, then the error says what is wrong
    with pytest.raises(ValueError, match=re.escape(problem)):
        validate_answer(task_type, answer, ("cat", "dog"), rules=AS_STORED)


def test_validate_answer_normalizes_boxes_to_whole_pixels_inside_the_image():
    # Given a box with fractional edges reaching past the image
    answer = {
        "boxes": [{"class_id": 1, "left": -3.2, "top": 2.6, "width": 20, "height": 30}],
        "image_size": {"width": 10, "height": 20},
    }
    # When validated, then it is clipped to whole pixels inside the image
    assert validate_answer("object-detection", answer, ("cat", "dog"), rules=AS_STORED) == {
        "boxes": [{"class_id": 1, "left": 0, "top": 3, "width": 10, "height": 17}],
        "image_size": {"width": 10, "height": 20},
    }


def test_job_prefix_accepts_paths_with_and_without_a_trailing_slash():
    # Given output paths in the forms the config produces, then the job's prefix is the same
    assert job_prefix("s3://b/labeling/", "j") == ("b", "labeling/j/")
    assert job_prefix("s3://b/labeling", "j") == ("b", "labeling/j/")
    assert job_prefix("s3://b", "j") == ("b", "j/")
    with pytest.raises(ValueError, match="not an s3:// URI"):
        job_prefix("/tmp/out", "j")
