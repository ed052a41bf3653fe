"""Pre-annotation in automated labeling on the builtin service: the human batches after a model round carry
the labeling model's predictions as suggestions; the final team statistics sum the batches' acceptances."""

from __future__ import annotations

import json
from typing import Any

from gtpipe_shared import labeling_store as store
from gtpipe_shared.labeling_suggestions import SUGGESTION_KEY

from tests.lambdas.conftest import DATA_BUCKET
from tests.lambdas.test_handler_labeling_auto import MODEL_ARN, TRANSFORM, Loop, loop, truth
from tests.lambdas.test_shared_labeling_store import spec

__all__ = ["loop"]  # the fixture


def batch_lines(loop: Loop, view: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in loop.read_uri(view["batch_manifest_uri"]).decode().splitlines()]


def test_the_uncertain_objects_go_to_people_with_the_models_prediction_as_suggestion(loop: Loop) -> None:
    # Given a run reusing an earlier model: people label the validation sample first, without suggestions
    earlier = MODEL_ARN.format("pets-earlier-alm2-0")
    view = loop.start(
        60, auto_batch_size=10, auto_validation_size=20, initial_active_learning_model_arn=earlier
    )
    assert not any(SUGGESTION_KEY in line for line in batch_lines(loop, view))
    view = loop.label(view)
    # When the model is sure (and right) of the objects below 40 and unsure (wrong, at 0.55) of the rest
    loop.transform(view, lambda i: i < 40)
    view = loop.invoke(
        "auto_round",
        state_uri=view["state_uri"],
        model={"model_name": "pets-earlier-alm2-0", "model_arn": earlier},
        transform=TRANSFORM,
    )
    # Then the validation objects it disputes (40 and over) go to people once more, without suggestions
    disputed = batch_lines(loop, view)
    assert disputed and all(line["id"] >= 40 and SUGGESTION_KEY not in line for line in disputed)
    view = loop.label(view)
    # And once confirmed, the next human batch's lines carry the model's prediction and confidence as their
    # suggestion
    assert view["next"] == "label"
    lines = batch_lines(loop, view)
    assert len(lines) == 10
    assert all(line[SUGGESTION_KEY] == {"label": 1 - truth(line["id"]), "confidence": 0.55} for line in lines)
    # and the builtin job opened from that manifest hands each suggestion out with its object
    objects = store.objects_from_manifest(loop.read_uri(view["batch_manifest_uri"]))
    split = store.split_suggestions(spec(), objects)
    assert [json.loads(o.suggestion or "null")["label"] for o in split] == [
        1 - truth(line["id"]) for line in lines
    ]
    assert all(SUGGESTION_KEY not in json.loads(o.line) for o in split)


def test_the_final_team_statistics_sum_the_batches_acceptances(loop: Loop) -> None:
    # Given a loop whose only batch's team statistics counted 7 of 10 answers taking the suggestion
    view = loop.start(20, auto_batch_size=20, auto_validation_size=20, auto_max_rounds=1)
    key = "labeling/batch/manifests/output/output.manifest"
    loop.cloud.put(key, "")
    team = {
        "answers": 10,
        "objects": 10,
        "suggestions": {"objects": 10, "answers": 10, "accepted": 7, "accepted_share": 0.7},
    }
    view = loop.invoke(
        "auto_add",
        state_uri=view["state_uri"],
        batch={"output_uri": f"s3://{DATA_BUCKET}/{key}", "team": team},
    )
    # When the loop finishes, then the run's team statistics say so
    result = loop.invoke("auto_finish", state_uri=view["state_uri"])
    assert result["team"]["suggestions"] == {
        "objects": 10,
        "answers": 10,
        "accepted": 7,
        "accepted_share": 0.7,
    }
