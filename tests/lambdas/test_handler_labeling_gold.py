"""The labeling function's open and finish with gold objects (settings gold_manifest_uri, gold_share)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.lambdas.conftest import DATA_BUCKET
from tests.lambdas.test_handler_labeling import JOB, NOW, PREFIX, Labeling, labeling

__all__ = ["labeling"]  # the fixture

GOLD_KEY = "gold/known.manifest"
GOLD_URI = f"s3://{DATA_BUCKET}/{GOLD_KEY}"


def put_gold(labeling: Labeling, lines: list[dict[str, Any]]) -> None:
    labeling.cloud.put(GOLD_KEY, "".join(json.dumps(line) + "\n" for line in lines))


def gold_lines(count: int, label: int = 1) -> list[dict[str, Any]]:
    return [{"source-ref": f"s3://{DATA_BUCKET}/gold/{i}.jpg", "category": label} for i in range(count)]


def test_open_mixes_the_share_of_gold_objects_and_finish_writes_only_data(labeling: Labeling) -> None:
    # Given a gold manifest of 10 known answers and a job of 3 objects with a quarter of its tasks gold
    put_gold(labeling, gold_lines(10))
    labeling.open(3, gold_manifest_uri=GOLD_URI, gold_share=0.25)
    # Then the job holds 3 data and 1 gold objects (round(0.25 / 0.75 x 3) = 1)
    job = labeling.job()
    assert (job["object_count"], job["gold_count"]) == (4, 1)
    # When two workers answer every task (class 1: the known answer of every gold object) and it finishes
    labeling.answer_all(("w1", "w2"), at=NOW + 60)
    finished = labeling.invoke({"action": "finish", "job_name": JOB}, at=NOW + 70)
    assert finished["status"] == "COMPLETED", (finished, labeling.sfn.calls)
    # Then the output manifest holds the 3 data objects only, and the token's team shows the gold figures
    lines = labeling.cloud.read(PREFIX + "manifests/output/output.manifest").splitlines()
    assert [json.loads(line)["source-ref"] for line in lines] == [
        f"s3://{DATA_BUCKET}/images/{i:03d}.jpg" for i in range(3)
    ]
    [success] = labeling.sfn.named("success")
    team = json.loads(success["output"])["team"]
    assert json.loads(success["output"])["counters"]["TotalLabeled"] == 3
    assert {(w["worker_id"], w["gold_accuracy"], w["gold_answers"]) for w in team["workers"]} == {
        ("w1", 1.0, 1),
        ("w2", 1.0, 1),
    }
    assert team["gold"]["objects"] == 1 and team["answers"] == 6


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        (
            [{"source-ref": f"s3://{DATA_BUCKET}/gold/0.jpg"}],
            "gold manifest: line 1: no label attribute 'category'",
        ),
        (
            [{"source-ref": f"s3://{DATA_BUCKET}/gold/0.jpg", "category": 9}],
            "label 9 is not a known class id",
        ),
        (
            [{"source-ref": f"s3://{DATA_BUCKET}/images/000.jpg", "category": 0}],
            "every gold image is also in",
        ),
    ],
)
def test_an_unusable_gold_manifest_fails_the_task_naming_the_problem(
    labeling: Labeling, lines: list[dict[str, Any]], problem: str
) -> None:
    # Given a gold manifest without usable known answers; when the job opens
    put_gold(labeling, lines)
    labeling.open(3, gold_manifest_uri=GOLD_URI)
    # Then the run is told LabelingInputInvalid with the problem, and no job exists
    [failure] = labeling.sfn.named("failure")
    assert failure["error"] == "LabelingInputInvalid"
    assert problem in failure["cause"]


def test_a_missing_gold_manifest_fails_the_task(labeling: Labeling) -> None:
    # Given no object at the gold manifest's URI; when the job opens; then the cause names the URI
    labeling.open(3, gold_manifest_uri=GOLD_URI)
    [failure] = labeling.sfn.named("failure")
    assert f"gold manifest {GOLD_URI} cannot be read" in failure["cause"]
