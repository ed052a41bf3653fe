"""How many DynamoDB requests the labeling API makes per lease and answer (fewer is cheaper and faster on
AWS, and the local cloud's simulated crowd is bounded by them)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from gtpipe_shared import labeling_store as store
from labeling_api import handler

from tests.lambdas.labeling_fixtures import LABELING_TABLE
from tests.lambdas.test_handler_labeling_api import RUN, Api, api

__all__ = ["api"]  # the fixture


def test_a_lease_and_an_answer_read_the_job_item_once_before_their_writes(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the tasks table's requests counted (operation, and whether it names the job item)
    requests: list[tuple[str, bool]] = []
    tasks = boto3.resource("dynamodb", region_name="us-east-1").Table(LABELING_TABLE)

    def count(params: dict[str, Any], model: Any, **_: Any) -> None:
        requests.append((model.name, json.dumps(store.JOB_SK) in json.dumps(params.get("Key", {}))))

    tasks.meta.client.meta.events.register("provide-client-params.dynamodb", count)
    monkeypatch.setattr(handler, "tasks", lambda: tasks)
    ann = api.lease()["task"]
    api.answer(ann, {"label": 1})
    requests.clear()
    # when bob leases object 0 and gives it its last answer (the object completes: the run's progress)
    bob = api.lease(sub="bob-sub", username="bob")["task"]
    lease_requests = list(requests)
    requests.clear()
    status, body = api.answer(bob, {"label": 1}, sub="bob-sub", username="bob")
    # then the lease read the job item once, and the answer once for its checks and once for the
    # progress after its transaction
    assert bob["index"] == 0 and status == 200 and body["progress"]["objects_done"] == 1
    assert lease_requests.count(("GetItem", True)) == 1
    assert requests.count(("GetItem", True)) == 2
    assert requests.count(("TransactWriteItems", False)) == 1
    assert int(api.cloud.run(RUN)["labeling_progress"]["objects_done"]) == 1  # type: ignore[index]
