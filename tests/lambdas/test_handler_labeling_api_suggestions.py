"""The labeling API with pre-annotation: a task hands out its object's model suggestion; answers record
whether they took it unchanged."""

from __future__ import annotations

import json
from typing import Any

from gtpipe_shared import labeling_store as store
from gtpipe_shared.labeling_suggestions import SUGGESTION_KEY

from tests.lambdas.conftest import DATA_BUCKET
from tests.lambdas.test_handler_labeling_api import ANN, JOB, NOW, Api, api, job_spec

__all__ = ["api"]  # the fixture


def reopen_with_suggestions(api: Api, suggested: dict[int, Any]) -> None:
    """Replace the fixture's job by one of 2 objects, line ``i`` suggesting ``suggested[i]``."""
    store.end_job(api.tasks, JOB, "FAILED", NOW)
    api.tasks.delete_item(Key={"pk": store.job_pk(JOB), "sk": store.JOB_SK})
    lines = "".join(
        json.dumps(
            {
                "source-ref": f"s3://{DATA_BUCKET}/images/{i:03d}.jpg",
                **({SUGGESTION_KEY: suggested[i]} if i in suggested else {}),
            }
        )
        + "\n"
        for i in range(2)
    )
    spec = job_spec()
    store.open_job(api.tasks, spec, store.objects_from_manifest(lines.encode()), NOW)


def test_a_task_carries_its_suggestion_and_a_task_without_one_has_none(api: Api) -> None:
    # Given a job whose first object has the model's suggestion "bird" (2) and whose second has none
    reopen_with_suggestions(api, {0: {"label": 2, "confidence": 0.64}})
    # When the labeler leases the first task and takes the suggestion
    first = api.lease()["task"]
    status, _ = api.answer(first, {"label": 2})
    second = api.lease()["task"]
    # Then the first task showed the suggestion; the second task's shape is today's (no suggestion key)
    assert status == 200
    assert first["suggestion"] == {"label": 2, "confidence": 0.64}
    assert "suggestion" not in second
    # and the stored answer says the suggestion was taken unchanged
    stored = api.tasks.get_item(Key={"pk": store.job_pk(JOB), "sk": store.answer_sk(0, ANN)})["Item"]
    assert stored["suggestion_accepted"] is True
