"""Automated data labeling: the threshold rule and the active-learning loop with fake operations (fast),
then real jobs on the local SageMaker: digits labeled with a model trained in the job, a model reused
by a second job (fewer human labels than the control), and bad requests."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest
from gtpipe_shared.auto_labeling import ActiveLearningPlan, choose_threshold, run_active_learning

from local.sagemaker import WorkforceSettings
from local.sagemaker.labeling_automated import final_model_name
from local.sagemaker.labeling_tasks import Prediction
from local.sagemaker.reuse_experiment import (
    ALGORITHM_SPEC,
    FAST_HYPERPARAMETERS,
    labeling_request,
    measure_model_reuse,
)
from local.sagemaker.reuse_experiment import BUCKET as EXPERIMENT_BUCKET
from training.artifact import package_model
from training.datasets import label_categories
from training.scenes import reference_line, scene_source_ref, write_scenes

from .conftest import BUCKET, Cloud

# -- the threshold ---------------------------------------------------------------------------------


def test_threshold_is_the_lowest_confidence_whose_machine_labels_reach_95_percent():
    # Given 40 validation objects: the 30 most confident right, then alternating wrong and right
    scored = [(1.0 - i / 100, True) for i in range(30)] + [(0.6 - i / 100, i % 2 == 1) for i in range(10)]
    # When the threshold is chosen
    threshold = choose_threshold(scored, 0.95)
    # Then it stops at the 30th: (30 + 1) / (30 + 2) = 0.97, but with the first wrong one 31 / 33 = 0.94
    assert threshold == pytest.approx(0.71)
    # And with a lower target it goes further down
    assert choose_threshold(scored, 0.85) == pytest.approx(0.51)


def test_a_few_lucky_objects_cannot_set_the_threshold():
    # Given a model right about its 10 most confident validation objects and wrong about the rest
    scored = [(0.9 - i / 100, True) for i in range(10)] + [(0.5 - i / 100, False) for i in range(30)]
    # When the threshold is chosen / Then none reaches 95% (11/12 < 0.95): nothing is machine-labeled
    assert choose_threshold(scored, 0.95) is None
    # And 18 right objects are the fewest that can set it
    assert choose_threshold([(0.9, True)] * 18, 0.95) == 0.9
    assert choose_threshold([(0.9, True)] * 17, 0.95) is None


def test_equal_confidences_are_taken_together():
    # Given 20 right objects at 0.9 and a wrong one at the same confidence
    scored = [(0.9, True)] * 20 + [(0.9, False)] + [(0.95, True)] * 20
    # Then 0.9 takes all 21 together: (40 + 1) / (41 + 2) = 0.953, enough
    assert choose_threshold(scored, 0.95) == 0.9
    with pytest.raises(ValueError, match="accuracy must be in"):
        choose_threshold(scored, 0.0)


# -- the loop, with fake operations ----------------------------------------------------------------


class FakeJob:
    """People answer the truth; a "model" trained on n labels is sure (0.99) and right about objects
    whose index is below 10 * n, unsure (0.3) and wrong about the others."""

    def __init__(self, truth: Mapping[int, int], initial_skill: int = 0) -> None:
        self.truth = truth
        self.calls: list[tuple[Any, ...]] = []
        self.initial_skill = initial_skill

    def label_by_people(self, objects: Sequence[int], iteration: int) -> Mapping[int, Any]:
        self.calls.append(("people", iteration, len(objects)))
        return {i: self.truth[i] for i in objects}

    def train(self, training: Sequence[int], validation: Sequence[int], iteration: int) -> Any:
        self.calls.append(("train", iteration, len(training), len(validation)))
        return self.initial_skill + 10 * len(training)

    def predict(self, model: Any, objects: Sequence[int]) -> Mapping[int, Prediction]:
        return {i: Prediction(self.truth[i], 0.99) if i < model else Prediction(-1, 0.3) for i in objects}

    def agrees(self, prediction: Prediction, human: Any) -> bool:
        return bool(prediction.value == human)

    def label_by_machine(
        self, predictions: Mapping[int, Prediction], iteration: int, threshold: float
    ) -> None:
        self.calls.append(("machine", iteration, len(predictions), threshold))


def test_without_a_model_people_label_a_training_then_a_validation_sample_then_the_model_takes_over():
    # Given 1,000 objects, batches of 50, and a model that gets better with more human labels
    truth = {i: i % 10 for i in range(1000)}
    job = FakeJob(truth)
    plan = ActiveLearningPlan(batch_size=50, validation_size=50, max_rounds=5, seed=1)
    # When the loop runs
    result = run_active_learning(list(truth), plan, job)
    # Then iterations 1 and 2 are the human training and validation samples, then train / machine / people
    assert job.calls[:3] == [("people", 1, 50), ("people", 2, 50), ("train", 2, 50, 50)]
    kinds = [call[0] for call in job.calls]
    assert kinds.count("train") >= 2 and "machine" in kinds
    # And every object is labeled exactly once, by people or machine, with the right label
    assert set(result.human) | set(result.machine) == set(truth)
    assert not set(result.human) & set(result.machine)
    assert all(prediction.value == truth[i] for i, prediction in result.machine.items())
    assert sum(result.human_per_iteration.values()) == len(result.human)
    assert sum(result.machine_per_iteration.values()) == len(result.machine)
    assert result.trained and result.model is not None
    # And the machine labels only took the confident objects (threshold 0.99, never the unsure 0.3)
    assert all(call[3] == 0.99 for call in job.calls if call[0] == "machine")


def test_with_an_initial_model_people_label_only_the_validation_sample_first():
    # Given a good initial model (right about objects below 10,000: all of them)
    truth = {i: i % 3 for i in range(400)}
    job = FakeJob(truth)
    plan = ActiveLearningPlan(batch_size=40, validation_size=40, seed=2)
    # When the loop runs from it
    result = run_active_learning(list(truth), plan, job, initial_model=10_000)
    # Then people label only the 40 validation objects and the model everything else, without training
    assert job.calls == [("people", 1, 40), ("machine", 1, 360, 0.99)]
    assert len(result.human) == 40 and len(result.machine) == 360
    assert result.model == 10_000 and not result.trained


def test_after_max_rounds_people_label_whatever_is_left():
    # Given a model that never becomes confident
    truth = {i: 0 for i in range(300)}
    job = FakeJob(truth, initial_skill=-100_000)
    plan = ActiveLearningPlan(batch_size=20, validation_size=20, max_rounds=2, seed=3)
    # When the loop runs
    result = run_active_learning(list(truth), plan, job)
    # Then after two model rounds the remaining objects all go to people at once
    assert [c for c in job.calls if c[0] == "people"] == [
        ("people", 1, 20),
        ("people", 2, 20),
        ("people", 3, 20),
        ("people", 4, 240),
    ]
    assert len(result.human) == 300 and not result.machine
    assert result.thresholds == {2: None, 3: None}


# -- real jobs on the local SageMaker ---------------------------------------------------------------


def _reference(cloud: Cloud, tmp_path, records) -> str:
    path = tmp_path / "reference.jsonl"
    path.write_text(
        "".join(json.dumps({"source-ref": r.source_ref, "label": r.label}) + "\n" for r in records)
    )
    return str(path)


def _manifest(cloud: Cloud, records, key: str) -> str:
    cloud.upload_images(records)
    return cloud.put(key, "".join(json.dumps({"source-ref": r.source_ref}) + "\n" for r in records))


def _settings(reference: str, **changes: Any) -> WorkforceSettings:
    values: dict[str, Any] = {
        "reference_labels": reference,
        "error_rate": 0.1,
        "seed": 4,
        "auto_labeling_min_objects": 100,
        "auto_labeling_batch_size": 80,
        "auto_labeling_validation_size": 80,
        "auto_labeling_max_rounds": 2,
        "auto_labeling_hyperparameters": dict(FAST_HYPERPARAMETERS),
    }
    values.update(changes)
    return WorkforceSettings(**values)


def _request(cloud: Cloud, name: str, manifest: str, **kwargs: Any) -> dict[str, Any]:
    request = labeling_request(name, manifest, cloud.label_categories(), **kwargs)
    request["OutputConfig"]["S3OutputPath"] = f"s3://{BUCKET}/labeling/"
    return request


def test_below_the_minimum_dataset_size_people_label_everything(cloud: Cloud, digits, tmp_path):
    # Given 60 objects, automated labeling requested, and the AWS minimum of 1,000 objects
    cloud.backend.workforce = _settings(_reference(cloud, tmp_path, digits), auto_labeling_min_objects=1000)
    request = _request(cloud, "small-auto", _manifest(cloud, digits[:60], "incoming/small.manifest"))
    # When the job runs
    cloud.backend.create_labeling_job(request)
    described = cloud.backend.wait_for_job("labeling", "small-auto", timeout=60)
    # Then people label all 60, no model is trained or registered, as on AWS
    assert described["LabelingJobStatus"] == "Completed", described.get("FailureReason")
    assert described["LabelCounters"]["HumanLabeled"] == 60
    assert described["LabelCounters"]["MachineLabeled"] == 0
    assert "FinalActiveLearningModelArn" not in described["LabelingJobOutput"]
    assert not cloud.keys("labeling/small-auto/activelearning/")


# The model of automated labeling must be clearly right about its most confident validation objects:
# the 95% rule (Laplace-smoothed) needs at least 18 agreeing objects above the threshold. A model trained
# on 80 human labels agrees with only ~80% of the validation labels and its first disagreement lands
# anywhere between the 3rd and the 33rd most confident object, so whether it reaches the threshold was
# decided by floating-point noise (the thread count, the CPU's kernels): the root cause of the flaky
# `MachineLabeled: 0`. Trained on 200 labels it agrees with 91-97% and its first disagreement comes
# after the 50th object (measured: seeds 0 to 4, 1 and 2 threads: 50-75), far above 18.
STRONG_HYPERPARAMETERS = {**FAST_HYPERPARAMETERS, "epochs": "30", "mini_batch_size": "16"}


def test_a_job_trains_its_model_machine_labels_confident_objects_and_registers_the_model(
    cloud: Cloud, digits_400, tmp_path
):
    # Given 400 digits, automated labeling from 100 objects, a first batch of 200, a validation batch of 80
    digits = digits_400
    truth = {r.source_ref: r.label for r in digits}
    cloud.backend.workforce = _settings(
        _reference(cloud, tmp_path, digits),
        auto_labeling_batch_size=200,
        auto_labeling_validation_size=80,
        auto_labeling_max_rounds=1,
        auto_labeling_hyperparameters=STRONG_HYPERPARAMETERS,
    )
    request = _request(cloud, "digits-auto", _manifest(cloud, digits, "incoming/auto.manifest"))
    # When the job runs
    arn = cloud.backend.create_labeling_job(request)["LabelingJobArn"]
    described = cloud.backend.wait_for_job("labeling", "digits-auto", timeout=300)
    # Then it completed with true counters: people and the model together labeled all 400
    assert described["LabelingJobStatus"] == "Completed", described.get("FailureReason")
    counters = described["LabelCounters"]
    print("counters", counters)
    assert counters["TotalLabeled"] == counters["HumanLabeled"] + counters["MachineLabeled"] == 400
    # And the model labeled most of the 120 objects left after the human samples (measured 102-120)
    assert counters["MachineLabeled"] >= 60 and counters["HumanLabeled"] >= 280
    assert counters["FailedNonRetryableError"] == counters["Unlabeled"] == 0
    lines = [
        json.loads(line)
        for line in cloud.read(described["LabelingJobOutput"]["OutputDatasetS3Uri"]).splitlines()
    ]
    machine = [line for line in lines if line["category-metadata"]["human-annotated"] == "no"]
    assert len(machine) == counters["MachineLabeled"]
    # And machine labels are mostly right (the threshold targets 95% on the human validation sample)
    machine_accuracy = sum(line["category"] == truth[line["source-ref"]] for line in machine) / len(machine)
    print(f"machine labels {len(machine)}, accuracy {machine_accuracy:.3f}")
    assert machine_accuracy >= 0.85
    for line in machine:
        metadata = line["category-metadata"]
        assert metadata["type"] == "groundtruth/image-classification"
        assert metadata["job-name"] == "labeling-job/digits-auto"
        assert 0 < metadata["confidence"] <= 1 and metadata["class-name"]
    # And only human-labeled objects have worker responses, in one folder per iteration
    responses = cloud.keys("labeling/digits-auto/annotations/worker-response/")
    human_indices = {
        i for i, line in enumerate(lines) if line["category-metadata"]["human-annotated"] == "yes"
    }
    assert {int(key.split("/")[-2]) for key in responses} == human_indices
    iterations = {key.split("/")[-3] for key in responses}
    assert {"iteration-1", "iteration-2"} <= iterations
    consolidation = cloud.keys(
        "labeling/digits-auto/annotations/consolidated-annotation/consolidation-response/"
    )
    assert {key.split("/")[-2] for key in consolidation} == iterations
    per_iteration = sum(len(json.loads(cloud.read(f"s3://{BUCKET}/{key}"))) for key in consolidation)
    assert per_iteration == counters["HumanLabeled"]
    # And the machine labels of each round are in activelearning/auto-annotation/<N>/output/
    auto = cloud.keys("labeling/digits-auto/activelearning/auto-annotation/")
    auto_lines = [line for key in auto for line in cloud.read(f"s3://{BUCKET}/{key}").decode().splitlines()]
    assert len(auto_lines) == counters["MachineLabeled"]
    first_id, first_json = auto_lines[0].split(" ", 1)
    assert json.loads(first_json) == {k: lines[int(first_id)][k] for k in ("category", "category-metadata")}
    # And the final model is registered as a SageMaker model of this backend, its artifact under activelearning/
    model_arn = described["LabelingJobOutput"]["FinalActiveLearningModelArn"]
    model = cloud.backend.describe_model({"ModelName": final_model_name("digits-auto")})
    assert model["ModelArn"] == model_arn
    assert model["PrimaryContainer"]["ModelDataUrl"] == (
        f"s3://{BUCKET}/labeling/digits-auto/activelearning/final-model/model.tar.gz"
    )
    with tarfile.open(fileobj=io.BytesIO(cloud.read(model["PrimaryContainer"]["ModelDataUrl"]))) as tar:
        assert {"model.pt", "classes.json", "hyperparameters.json"} <= set(tar.getnames())
    assert cloud.keys("labeling/digits-auto/activelearning/training/iteration-2/")
    assert arn.endswith("/digits-auto")


@pytest.mark.slow
def test_reusing_the_first_jobs_model_needs_at_least_30_percent_fewer_human_labels(cloud: Cloud, tmp_path):
    # Given job A (300 digits, automated labeling) and a second, disjoint set of 300 digits
    settings = WorkforceSettings(
        error_rate=0.1,
        seed=0,
        auto_labeling_min_objects=100,
        auto_labeling_batch_size=80,
        auto_labeling_validation_size=80,
        auto_labeling_max_rounds=3,
        auto_labeling_hyperparameters=dict(FAST_HYPERPARAMETERS),
    )
    cloud.s3.create_bucket(Bucket=EXPERIMENT_BUCKET)
    # When job B labels the second set from A's FinalActiveLearningModelArn and job C labels it without
    result = measure_model_reuse(
        cloud.backend, cloud.s3, tmp_path / "data", first=300, second=300, settings=settings, timeout=600
    )
    print(result.summary())
    # Then every job completed and labeled everything
    for job in (result.first, result.reuse, result.control):
        assert job.described["LabelingJobStatus"] == "Completed", job.described.get("FailureReason")
        assert job.counters["TotalLabeled"] == len(job.lines) == 300
    # And B started from A's model, registered by A
    algorithms = result.reuse.described["LabelingJobAlgorithmsConfig"]
    assert (
        algorithms["InitialActiveLearningModelArn"]
        == result.first.described["LabelingJobOutput"]["FinalActiveLearningModelArn"]
    )
    assert algorithms["LabelingJobAlgorithmSpecificationArn"] == ALGORITHM_SPEC
    # And B needed at least 30% fewer human labels than the control C
    assert result.reuse.counters["HumanLabeled"] <= 0.7 * result.control.counters["HumanLabeled"]
    # And B's labels are about as good as C's (within 5 points)
    assert result.reuse.accuracy(result.truth) >= result.control.accuracy(result.truth) - 0.05


def test_bad_automated_labeling_requests_fail_with_clear_reasons(cloud: Cloud, digits, tmp_path):
    cloud.backend.workforce = _settings(_reference(cloud, tmp_path, digits))
    manifest = _manifest(cloud, digits[:20], "incoming/bad.manifest")
    # Given an InitialActiveLearningModelArn that names no model
    missing = "arn:aws:sagemaker:us-east-1:123456789012:model/never-registered"
    cloud.backend.create_labeling_job(_request(cloud, "bad-initial", manifest, initial_model_arn=missing))
    described = cloud.backend.wait_for_job("labeling", "bad-initial", timeout=60)
    # Then the job fails naming it
    assert described["LabelingJobStatus"] == "Failed"
    assert f"InitialActiveLearningModelArn {missing}: no such model" in described["FailureReason"]
    # Given the object-detection algorithm for an image-classification task
    request = _request(cloud, "bad-spec", manifest, initial_model_arn=missing)
    request["LabelingJobAlgorithmsConfig"]["LabelingJobAlgorithmSpecificationArn"] = ALGORITHM_SPEC.replace(
        "image-classification", "object-detection"
    )
    cloud.backend.create_labeling_job(request)
    described = cloud.backend.wait_for_job("labeling", "bad-spec", timeout=60)
    # Then the job fails saying which algorithm fits
    assert described["LabelingJobStatus"] == "Failed"
    assert (
        "does not fit this task type; use .../labeling-job-algorithm-specification/image-classification"
        in (described["FailureReason"])
    )


# -- bounding boxes --------------------------------------------------------------------------------

DETECTION_SPEC = ALGORITHM_SPEC.replace("image-classification", "object-detection")
DETECTION_PRE = "arn:aws:lambda:us-east-1:432418664414:function:PRE-BoundingBox"
DETECTION_IMAGE = "811284229777.dkr.ecr.us-east-1.amazonaws.com/object-detection:1"
SHAPES = ("circle", "square")


def _box_job(cloud: Cloud, tmp_path, name: str, scenes, **kwargs: Any) -> dict[str, Any]:
    """Upload scenes, write their reference boxes and return a bounding-box labeling request."""
    refs = [scene_source_ref(s, BUCKET, "images/boxes") for s in scenes]
    for scene, ref in zip(scenes, refs, strict=True):
        cloud.s3.upload_file(str(scene.path), BUCKET, ref[len(f"s3://{BUCKET}/") :])
    reference = tmp_path / "boxes.jsonl"
    reference.write_text(
        "".join(json.dumps(reference_line(s, r)) + "\n" for s, r in zip(scenes, refs, strict=True))
    )
    manifest = cloud.put(
        f"incoming/{name}.manifest", "".join(json.dumps({"source-ref": r}) + "\n" for r in refs)
    )
    categories = cloud.put("labeling/shapes.json", json.dumps(label_categories(SHAPES)))
    request = labeling_request(name, manifest, categories, **kwargs)
    request["OutputConfig"]["S3OutputPath"] = f"s3://{BUCKET}/labeling/"
    request["LabelAttributeName"] = "boxes"
    request["HumanTaskConfig"]["PreHumanTaskLambdaArn"] = DETECTION_PRE
    request["LabelingJobAlgorithmsConfig"]["LabelingJobAlgorithmSpecificationArn"] = DETECTION_SPEC
    cloud.backend.workforce = WorkforceSettings(
        reference,
        seed=2,
        box_jitter=0.02,
        box_miss_rate=0.01,
        box_wrong_class_rate=0.0,
        auto_labeling_min_objects=40,
        auto_labeling_batch_size=20,
        auto_labeling_validation_size=40,
        auto_labeling_max_rounds=1,
        auto_labeling_hyperparameters={"image_shape": "64", "epochs": "2", "mini_batch_size": "8"},
    )
    return request


def _oracle_answers(scenes) -> dict[str, list[list[float]]]:
    """Two scenes in three: the true boxes scored 0.97 plus a 0.03 false alarm; the third: a shifted box
    scored 0.6 (the detector is unsure, and wrong)."""
    answers = {}
    for index, scene in enumerate(scenes):
        w, h = scene.width, scene.height
        rows = [
            [o.class_id, 0.97, o.left / w, o.top / h, (o.left + o.width) / w, (o.top + o.height) / h]
            for o in scene.objects
        ]
        if index % 3 == 2:
            rows = [[0, 0.6, 0.0, 0.0, 0.3, 0.3]]
        else:
            rows.append([1, 0.03, 0.5, 0.5, 0.9, 0.9])
        answers[hashlib.sha256(scene.path.read_bytes()).hexdigest()] = rows
    return answers


def test_boxes_are_machine_labeled_from_an_initial_detector_in_ground_truths_format(cloud: Cloud, tmp_path):
    # Given 90 scenes and an initial detector (a stand-in answering stored detections) registered as a model
    scenes = write_scenes(tmp_path / "scenes", 90, seed=11, class_names=SHAPES, max_objects=3)
    folder = tmp_path / "oracle"
    folder.mkdir()
    (folder / "answers.json").write_text(json.dumps(_oracle_answers(scenes)))
    artifact = package_model(folder, tmp_path / "oracle.tar.gz")
    cloud.backend.algorithms["object-detection"] = replace(
        cloud.backend.algorithms["object-detection"], inference_module="tests.local_sagemaker.oracle_detector"
    )
    uri = cloud.put("models/oracle/model.tar.gz", artifact.read_bytes())
    model_arn = cloud.backend.create_model(
        {
            "ModelName": "oracle-detector",
            "PrimaryContainer": {"Image": DETECTION_IMAGE, "ModelDataUrl": uri},
            "ExecutionRoleArn": "arn:aws:iam::123456789012:role/x",
        }
    )["ModelArn"]
    request = _box_job(cloud, tmp_path, "boxes-auto", scenes, initial_model_arn=model_arn)
    # When the bounding-box job runs with automated labeling from that model
    cloud.backend.create_labeling_job(request)
    described = cloud.backend.wait_for_job("labeling", "boxes-auto", timeout=120)
    # Then people labeled the 40-scene validation sample and the unsure scenes; the model the sure ones
    assert described["LabelingJobStatus"] == "Completed", described.get("FailureReason")
    lines = [
        json.loads(x) for x in cloud.read(described["LabelingJobOutput"]["OutputDatasetS3Uri"]).splitlines()
    ]
    machine = {i for i, line in enumerate(lines) if line["boxes-metadata"]["human-annotated"] == "no"}
    human = set(range(90)) - machine
    counters = described["LabelCounters"]
    assert (counters["MachineLabeled"], counters["HumanLabeled"], counters["TotalLabeled"]) == (
        len(machine),
        len(human),
        90,
    )
    unsure = {i for i in range(90) if i % 3 == 2}
    assert machine and not machine & unsure
    assert len(human) == 40 + len(unsure - set(_validation(cloud, "boxes-auto")))
    # And a machine label is the detector's boxes in pixels (false alarm dropped) in Ground Truth's format
    for index in machine:
        scene, label, metadata = scenes[index], lines[index]["boxes"], lines[index]["boxes-metadata"]
        assert label["image_size"] == [{"width": scene.width, "height": scene.height, "depth": 3}]
        truth = sorted(
            (
                {"class_id": o.class_id, "left": o.left, "top": o.top, "width": o.width, "height": o.height}
                for o in scene.objects
            ),
            key=lambda a: (a["top"], a["left"], a["class_id"]),
        )
        assert label["annotations"] == truth
        assert metadata["objects"] == [{"confidence": 0.97}] * len(truth)
        assert metadata["class-map"] == {str(a["class_id"]): SHAPES[a["class_id"]] for a in truth}
        assert metadata["type"] == "groundtruth/object-detection"
        assert metadata["job-name"] == "labeling-job/boxes-auto"
    auto = cloud.keys("labeling/boxes-auto/activelearning/auto-annotation/1/output/")
    assert len(cloud.read(f"s3://{BUCKET}/{auto[0]}").decode().splitlines()) == len(machine)
    # And no model was trained (one round); the initial model is the final one, registered by the job
    assert not cloud.keys("labeling/boxes-auto/activelearning/training/")
    final = cloud.backend.describe_model({"ModelName": final_model_name("boxes-auto")})
    assert described["LabelingJobOutput"]["FinalActiveLearningModelArn"] == final["ModelArn"]
    assert final["PrimaryContainer"]["Image"] == DETECTION_IMAGE
    assert cloud.read(final["PrimaryContainer"]["ModelDataUrl"]) == artifact.read_bytes()


def _validation(cloud: Cloud, job: str) -> list[int]:
    """The objects people labeled in iteration 1 (the validation sample, with an initial model)."""
    keys = cloud.keys(f"labeling/{job}/annotations/worker-response/iteration-1/")
    return sorted({int(key.split("/")[-2]) for key in keys})


@pytest.mark.slow
def test_a_box_job_trains_the_local_detector_and_registers_it(cloud: Cloud, tmp_path):
    # Given 80 scenes, automated labeling from 40 objects, one model round, a 2-epoch 64-px detector
    scenes = write_scenes(tmp_path / "scenes", 80, seed=12, class_names=SHAPES, max_objects=3)
    request = _box_job(cloud, tmp_path, "boxes-train", scenes)
    # When the job runs
    cloud.backend.create_labeling_job(request)
    described = cloud.backend.wait_for_job("labeling", "boxes-train", timeout=300)
    # Then people labeled the 20-scene training sample and 40-scene validation sample, the detector was
    # trained on the first and tried on the rest, and whatever it was unsure of went to people
    assert described["LabelingJobStatus"] == "Completed", described.get("FailureReason")
    counters = described["LabelCounters"]
    assert counters["TotalLabeled"] == counters["HumanLabeled"] + counters["MachineLabeled"] == 80
    assert counters["HumanLabeled"] >= 60
    assert _validation(cloud, "boxes-train") and cloud.keys(
        "labeling/boxes-train/annotations/worker-response/iteration-2/"
    )
    with tarfile.open(
        fileobj=io.BytesIO(
            cloud.read(f"s3://{BUCKET}/labeling/boxes-train/activelearning/training/iteration-2/model.tar.gz")
        )
    ) as tar:
        assert "model-config.json" in tar.getnames()
    # And the trained detector is registered as the final model, servable by the detection image
    final = cloud.backend.describe_model({"ModelName": final_model_name("boxes-train")})
    assert described["LabelingJobOutput"]["FinalActiveLearningModelArn"] == final["ModelArn"]
    assert final["PrimaryContainer"]["Image"].endswith("/object-detection:1")


def test_stopping_a_job_while_its_model_trains_ends_it_stopped_promptly(cloud: Cloud, digits, tmp_path):
    # Given an automated labeling job whose model is training (people have labeled both samples)
    cloud.backend.workforce = _settings(
        _reference(cloud, tmp_path, digits),
        auto_labeling_hyperparameters={**FAST_HYPERPARAMETERS, "epochs": "200"},
    )
    cloud.backend.create_labeling_job(
        _request(cloud, "stop-auto", _manifest(cloud, digits, "incoming/stop.manifest"))
    )
    deadline = time.monotonic() + 60
    while (
        cloud.backend.describe_labeling_job({"LabelingJobName": "stop-auto"})["LabelCounters"]["HumanLabeled"]
        < 160
    ):
        assert time.monotonic() < deadline, "the samples were not labeled in time"
        time.sleep(0.1)
    time.sleep(1.0)  # the training process is starting
    # When the job is stopped
    started = time.monotonic()
    cloud.backend.stop_labeling_job({"LabelingJobName": "stop-auto"})
    described = cloud.backend.wait_for_job("labeling", "stop-auto", timeout=15)
    # Then it ends Stopped (not Failed) within the grace period, with the counters reached so far
    assert described["LabelingJobStatus"] == "Stopped", described.get("FailureReason")
    assert time.monotonic() - started < 10
    assert described["LabelCounters"]["HumanLabeled"] == 160
    assert described["LabelCounters"]["Unlabeled"] == 40
