"""The labeling API with gold objects: tasks look alike, admins see gold accuracy."""

from __future__ import annotations

import json
from typing import Any

from gtpipe_shared import labeling_store as store
from gtpipe_shared.labeling_gold import GoldObject

from tests.lambdas.conftest import DATA_BUCKET
from tests.lambdas.test_handler_labeling_api import ANN, NOW, RUN, Api, api, job_spec

__all__ = ["api"]  # the fixture

GJOB = f"{RUN}-label-1"
GOLD_LABEL = 2


def open_gold_job(tasks: Any) -> None:
    lines = "".join(
        json.dumps({"source-ref": f"s3://{DATA_BUCKET}/images/{i:03d}.jpg"}) + "\n" for i in range(3)
    )
    spec = job_spec(GJOB)
    gold = [
        GoldObject(f"s3://{DATA_BUCKET}/gold/{i}.jpg", json.dumps({"source-ref": "x"}), {"label": GOLD_LABEL})
        for i in range(3)
    ]
    store.open_job(tasks, spec, store.objects_from_manifest(lines.encode()), NOW, gold)


def test_gold_and_data_tasks_look_alike_and_admins_see_gold_accuracy(api: Api) -> None:
    # Given a job of 3 data and 3 gold objects, one answer each
    open_gold_job(api.tasks)
    tasks = []
    # When a labeler leases and answers every task (class 2 everywhere: right on every gold object)
    for _ in range(6):
        status, body = api.call("POST", f"/api/jobs/{GJOB}/lease")
        assert status == 200 and body["task"] is not None, body
        tasks.append(body["task"])
        path = f"/api/jobs/{GJOB}/tasks/{body['task']['index']}/answer"
        status, _ = api.call(
            "POST", path, {"lease_id": body["task"]["lease_id"], "answer": {"label": GOLD_LABEL}}
        )
        assert status == 200
    # Then every task has the same keys, and nothing in any task names gold or a known label
    assert len({tuple(sorted(task)) for task in tasks}) == 1
    assert sum("/gold/" in task["source_ref"] for task in tasks) == 3
    assert all(
        "gold" not in json.dumps({k: v for k, v in task.items() if k not in ("source_ref", "image_url")})
        for task in tasks
    )
    # and an admin's progress shows the labeler's gold accuracy and count, and the label accuracy
    status, body = api.call("GET", f"/api/jobs/{GJOB}/progress", groups="[labelers, labeling-admins]")
    assert status == 200
    (worker,) = body["team"]["workers"]
    assert (worker["worker_id"], worker["gold_accuracy"], worker["gold_answers"]) == (ANN, 1.0, 3)
    overall = next(row for row in body["team"]["gold"]["label_accuracy"] if row["class_name"] is None)
    assert (overall["correct"], overall["items"]) == (3, 3)
    # and a labeler's progress carries no team statistics at all
    status, body = api.call("GET", f"/api/jobs/{GJOB}/progress")
    assert status == 200 and "team" not in body
