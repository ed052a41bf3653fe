"""The builtin labeling service on the local cloud, end to end (slow: real labeling through the API, training,
hosting), for both task types.

Given the stacks synthesized with ``gtpipe:labelingBackend: builtin`` and the local cloud's simulated crowd
(three users in the group ``labelers`` who sign in through Cognito and lease/answer tasks over the HTTPS
labeling API, with the simulated Ground Truth workforce's noise), when an unlabeled manifest is dropped,
then the run goes through ``LabelWithTeam`` (not the Ground Truth ``Label`` state), the output manifest is
written in Ground Truth's format at ``labeling/<job>/manifests/output/output.manifest`` with
``human-annotated: "yes"``, one worker-response file per object, the team's statistics and label counters
reach the ledger, and the run trains and deploys a model that answers ``POST /predict``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from local.drivers.client import PredictionApi
from local.drivers.demo import demo_context, upload_dataset
from local.drivers.demo_tasks import TASKS, DemoImage, rebucket, write_input_manifest, write_reference_answers
from local.drivers.runs import RunProgress, execution_history
from tests.local_cloud.conftest import follow_dropped, running_cloud

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 420.0
LABELERS = 3
WORKERS_PER_OBJECT = 3


@dataclass
class Labeled:
    """One run of the builtin labeling service and what it left behind."""

    cloud: Any
    task: str
    images: list[DemoImage]
    progress: RunProgress
    states: list[str]
    seconds: float

    @property
    def labeled(self) -> list[DemoImage]:
        return [image for image in self.images if not image.holdout]

    @property
    def holdout(self) -> list[DemoImage]:
        return [image for image in self.images if image.holdout]

    @property
    def run(self) -> dict[str, Any]:
        return self.progress.run or {}

    @property
    def job_name(self) -> str:
        # LabelWithTeam names the job States.Format('{}-label-{}', run_id, RetryCount).
        return f"{self.progress.run_id}-label-0"

    @property
    def bucket(self) -> str:
        return str(self.cloud.outputs["DataBucketName"])

    def read(self, key: str) -> bytes:
        return bytes(self.cloud.client("s3").get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def keys(self, prefix: str) -> list[str]:
        paginator = self.cloud.client("s3").get_paginator("list_objects_v2")
        return [
            o["Key"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
            for o in page.get("Contents", [])
        ]

    def output_manifest(self) -> list[dict[str, Any]]:
        body = self.read(f"labeling/{self.job_name}/manifests/output/output.manifest")
        return [json.loads(line) for line in body.decode().splitlines() if line.strip()]


def builtin_context(task: str, epochs: int, **labeling: Any) -> dict[str, Any]:
    """The demo's configuration for ``task`` with builtin labeling, few epochs and no quality gate (this
    module tests labeling; a briefly trained model on a few dozen images may score anything); ``labeling``
    adds ``gtpipe:labeling`` settings."""
    return {
        **demo_context(epochs=epochs, task=task, labeling="builtin"),
        "gtpipe:qualityThreshold": 0.0,
        "gtpipe:labeling": {
            "workersPerObject": WORKERS_PER_OBJECT,
            "taskTimeLimitSeconds": 60,
            "autoLabeling": False,
            **labeling,
        },
    }


def label_and_train(
    tmp_path_factory: pytest.TempPathFactory,
    task_name: str,
    images: int,
    holdout: float,
    epochs: int,
    variant: str = "",
    labelers: int = LABELERS,
    prepare: Callable[[Any, str, list[DemoImage]], None] | None = None,
    **labeling: Any,
) -> Iterator[Labeled]:
    """Run the builtin labeling service on ``images`` drawn images; ``prepare(cloud, bucket, images)``, when
    given, runs once the images and reference answers are in place, before the manifest is dropped."""
    task = TASKS[task_name]
    with running_cloud(
        tmp_path_factory.mktemp(f"builtin-{task_name}{variant}"),
        builtin_context(task_name, epochs, **labeling),
        f"cdk.out-tests-builtin-{task_name}{variant}",
        simulated_labelers=labelers,
    ) as cloud:
        bucket = str(cloud.outputs["DataBucketName"])
        drawn = task.draw(tmp_path_factory.mktemp("data"), images=images, holdout=holdout, bucket=bucket)
        named = rebucket(drawn, bucket, task.image_prefix)
        upload_dataset(cloud, bucket, named)
        labeled = [image for image in named if not image.holdout]
        write_reference_answers(cloud.settings.reference_labels_path, [image.reference for image in labeled])
        if prepare is not None:
            prepare(cloud, bucket, named)
        manifest = write_input_manifest(tmp_path_factory.mktemp("manifest") / "input.manifest", labeled)
        key = f"incoming/builtin-{task_name}.manifest"
        started = time.monotonic()
        put = cloud.client("s3").put_object(Bucket=bucket, Key=key, Body=manifest.read_bytes())
        progress = follow_dropped(cloud, key, put.get("VersionId"), timeout=RUN_TIMEOUT)
        seconds = time.monotonic() - started
        arn = (progress.run or {}).get("execution_arn")
        history = execution_history(cloud.client("stepfunctions"), arn) if arn else []
        states = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
        cloud.wait_idle(30)
        yield Labeled(cloud, task_name, named, progress, states, seconds)


def assert_labeled_through_the_api_and_deployed(result: Labeled) -> list[dict[str, Any]]:
    """What both task types share; returns the output manifest's lines."""
    assert result.progress.run_status == "SUCCEEDED", result.run
    assert "LabelWithTeam" in result.states and "Label" not in result.states, result.states
    assert {"Train", "DeployEndpoint"} <= set(result.states)
    lines = result.output_manifest()
    assert [line["source-ref"] for line in lines] == [image.source_ref for image in result.labeled]
    attribute = next(key for key in lines[0] if key != "source-ref" and not key.endswith("-metadata"))
    for line in lines:
        metadata = line[f"{attribute}-metadata"]
        assert metadata["human-annotated"] == "yes"
        assert metadata["job-name"] == f"labeling-job/{result.job_name}"
    responses = result.keys(f"labeling/{result.job_name}/annotations/worker-response/iteration-1/")
    assert {key.split("/")[-2] for key in responses} == {str(index) for index in range(len(lines))}
    assert result.keys(
        f"labeling/{result.job_name}/annotations/consolidated-annotation/consolidation-response/"
    )
    # Every simulated labeler answered through the API; the team's statistics reached the ledger.
    crowd = result.cloud.crowd
    assert crowd is not None and crowd.answers == WORKERS_PER_OBJECT * len(lines)
    assert all(labeler.answers > 0 for labeler in crowd.labelers)
    team = result.run["labeling_team"]
    assert team["answers"] == WORKERS_PER_OBJECT * len(lines) and team["objects"] == len(lines)
    assert len({worker["worker_id"] for worker in team["workers"]}) == LABELERS
    assert sum(worker["answers"] for worker in team["workers"]) == team["answers"]
    counters = result.run["label_counters"]
    assert counters["total"] == counters["human"] == len(lines) and counters["machine"] == 0
    api = PredictionApi(result.cloud.outputs)
    response = api.predict(result.holdout[0].path.read_bytes(), "image/png", query=TASKS[result.task].query())
    assert response.status == 200, response.body
    return lines


@pytest.fixture(scope="class")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Labeled]:
    """60 digits to label (3 answers each), 15 held out; the cloud stops when its class ends."""
    yield from label_and_train(tmp_path_factory, "image-classification", images=75, holdout=0.2, epochs=4)


@pytest.fixture(scope="class")
def adaptive_digits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Labeled]:
    """40 digits to label with adaptive redundancy (at most 3 answers each), 8 held out."""
    yield from label_and_train(
        tmp_path_factory,
        "image-classification",
        images=48,
        holdout=0.17,
        epochs=2,
        variant="-adaptive",
        adaptiveRedundancy={"confidenceThreshold": 0.8},
    )


@pytest.fixture(scope="class")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Labeled]:
    """40 scenes to box (3 workers each), 6 held out; the cloud stops when its class ends."""
    yield from label_and_train(tmp_path_factory, "object-detection", images=46, holdout=0.13, epochs=4)


class TestClassification:
    def test_digits_are_labeled_by_the_crowd_through_the_api_then_trained_and_served(
        self, digits: Labeled
    ) -> None:
        result = digits
        lines = assert_labeled_through_the_api_and_deployed(result)
        truth = {image.source_ref: image.truth for image in result.labeled}
        right = sum(line["category-metadata"]["class-name"] == truth[line["source-ref"]] for line in lines)
        # Three workers erring 10% of the time each: the consolidated labels are nearly all right.
        assert right / len(lines) >= 0.9, f"{right}/{len(lines)} consolidated labels right"
        assert all(0.0 < line["category-metadata"]["confidence"] <= 1.0 for line in lines)
        team = result.run["labeling_team"]
        print(  # the throughput the note quotes
            f"\nbuiltin classification: {len(lines)} objects labeled ({team['answers']} answers in "
            f"{team['active_seconds']:.1f}s, {team['answers_per_hour']:.0f} answers/h), run {result.seconds:.0f}s"
        )


class TestDetection:
    def test_scenes_are_boxed_by_the_crowd_through_the_api_then_trained_and_served(
        self, scenes: Labeled
    ) -> None:
        result = scenes
        lines = assert_labeled_through_the_api_and_deployed(result)
        attribute = next(key for key in lines[0] if key != "source-ref" and not key.endswith("-metadata"))
        truth = {image.source_ref: image.truth for image in result.labeled}
        found = expected = 0
        for line in lines:
            expected += len(truth[line["source-ref"]].objects)
            found += len(line[attribute]["annotations"])
            assert line[f"{attribute}-metadata"]["type"] == "groundtruth/object-detection"
        # Workers miss 5% of boxes; consolidation keeps boxes a majority drew: nearly every box survives.
        assert 0.85 * expected <= found <= 1.1 * expected, (found, expected)
        team = result.run["labeling_team"]
        print(
            f"\nbuiltin detection: {len(lines)} objects boxed ({team['answers']} answers in "
            f"{team['active_seconds']:.1f}s, {team['answers_per_hour']:.0f} answers/h), run {result.seconds:.0f}s"
        )


class TestAdaptiveRedundancy:
    def test_the_crowd_gives_fewer_answers_than_fixed_redundancy_and_labels_as_well(
        self, adaptive_digits: Labeled
    ) -> None:
        # given workersPerObject 3 as a maximum and a confidence threshold of 0.8 (one answer alone is 2/3:
        # every object asks for a second; two agreeing digits are 0.99, so only a disagreement asks a third)
        result = adaptive_digits
        assert result.progress.run_status == "SUCCEEDED", result.run
        lines = result.output_manifest()
        assert [line["source-ref"] for line in lines] == [image.source_ref for image in result.labeled]
        # then the crowd answered fewer times than fixed redundancy's 3 per object, at least 2 per object
        crowd = result.cloud.crowd
        assert crowd is not None
        fixed = WORKERS_PER_OBJECT * len(lines)
        assert 2 * len(lines) <= crowd.answers < fixed, (crowd.answers, fixed)
        # and the team statistics in the ledger record answers per object and extra-answer agreement
        team = result.run["labeling_team"]
        assert team["answers"] == crowd.answers and team["objects"] == len(lines)
        assert team["answers_per_object"] == round(crowd.answers / len(lines), 2)
        counts = {int(n): int(c) for n, c in team["answer_counts"].items()}
        assert set(counts) <= {2, 3} and sum(counts.values()) == len(lines)
        assert int(team["extra_answers"]) == crowd.answers - len(lines)
        # and the labels are as good as three workers erring 10% of the time each make them
        truth = {image.source_ref: image.truth for image in result.labeled}
        right = sum(line["category-metadata"]["class-name"] == truth[line["source-ref"]] for line in lines)
        assert right / len(lines) >= 0.9, f"{right}/{len(lines)} consolidated labels right"
        print(
            f"\nadaptive classification: {len(lines)} objects, {crowd.answers} answers "
            f"(fixed: {fixed}), {right} right, run {result.seconds:.0f}s"
        )
