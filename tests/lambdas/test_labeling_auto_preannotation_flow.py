"""Automated labeling's human round carries the labeling model's suggestions, through the real handlers
(moto S3 and DynamoDB, the state machine's part played by the test): ``auto_round`` writes the next batch,
the labeling function opens it as a builtin job (``open``), people lease (the suggestion comes with each
task) and answer, the job's ``finish`` writes its output, ``auto_add`` and ``auto_finish`` carry the
acceptance counts into the run's output manifest and team statistics."""

from __future__ import annotations

import json
from typing import Any

import pytest
from gtpipe_shared import labeling_store as store
from labeling import handler

from tests.lambdas.conftest import DATA_BUCKET, put_running_run
from tests.lambdas.test_handler_labeling import MANIFEST_KEY, Labeling, labeling, open_event
from tests.lambdas.test_handler_labeling_auto import MODEL_ARN, RUN, TRANSFORM, Loop, loop, truth

__all__ = ["labeling", "loop"]  # the fixtures

NOW = 1_800_000_000.0


def open_batch(labeling: Labeling, view: dict[str, Any]) -> str:
    """``LabelAutoBatch``: the labeling function opens the batch manifest as a builtin job (one answer each)."""
    job_name = f"{RUN}-al{view['round']}-0"
    event = open_event()
    event.update(run_id=RUN, job_name=job_name, manifest_uri=view["batch_manifest_uri"])
    event["settings"].update(class_names=["cat", "dog"], workers_per_object=1, label_attribute="category")
    assert handler.lambda_handler(event, labeling.context)["status"] == "OPEN"
    return job_name


def test_people_see_the_models_suggestions_and_the_run_counts_how_many_they_took(
    labeling: Labeling, loop: Loop
) -> None:
    put_running_run(labeling.cloud, RUN)
    # Given a run reusing an earlier model: people labeled the validation sample, the model predicted the
    # rest, sure and right but on 10 objects of the queue, where it is unsure (0.55) and wrong
    earlier = MODEL_ARN.format("pets-earlier-alm2-0")
    view = loop.start(
        50,
        auto_batch_size=10,
        auto_validation_size=20,
        auto_max_rounds=1,
        initial_active_learning_model_arn=earlier,
    )
    view = loop.label(view)
    unsure = set(json.loads(loop.read_uri(view["state_uri"]))["queue"][:10])
    loop.transform(view, lambda i: i not in unsure)
    model = {"model_name": "pets-earlier-alm2-0", "model_arn": earlier}
    view = loop.invoke("auto_round", state_uri=view["state_uri"], model=model, transform=TRANSFORM)
    assert view["next"] == "label" and view["batch_size"] == 10
    # When the last batch is opened as a builtin job and a person leases every task
    job_name = open_batch(labeling, view)
    seen = []
    while (lease := store.lease(labeling.tasks, job_name, "person", NOW)) is not None:
        source = int(lease.source_ref.rsplit("/", 1)[-1].split(".")[0])
        seen.append((source, lease.suggestion))
        # the person takes the model's (wrong) class on the first 3 tasks and corrects the rest
        label = lease.suggestion["label"] if len(seen) <= 3 else truth(source)  # type: ignore[index]
        store.answer(
            labeling.tasks, job_name, lease.index, "person", lease.lease_id, {"label": label}, 2, NOW
        )
        if store.get_job(labeling.tasks, job_name)["status"] != "OPEN":
            break
    # Then every task came with the model's prediction as its suggestion
    assert sorted(source for source, _ in seen) == sorted(unsure)
    assert all(suggestion == {"label": 1 - truth(source), "confidence": 0.55} for source, suggestion in seen)
    # And when the job finishes and the loop takes its labels and ends
    finished = handler.lambda_handler({"action": "finish", "job_name": job_name}, labeling.context)
    assert finished["status"] == "COMPLETED"
    output_uri = f"s3://{DATA_BUCKET}/labeling/{job_name}/manifests/output/output.manifest"
    view = loop.invoke("auto_add", state_uri=view["state_uri"], batch={"output_uri": output_uri})
    result = loop.invoke("auto_finish", state_uri=view["state_uri"])
    # Then the run's team statistics count the 3 answers of 10 that took the suggestion unchanged
    assert result["team"]["suggestions"] == {
        "objects": 10,
        "answers": 10,
        "accepted": 3,
        "accepted_share": 0.3,
    }
    # and the run's output manifest records it per object, on the objects people labeled in that round
    lines = [json.loads(raw) for raw in loop.read_uri(result["output_uri"]).decode().splitlines()]
    marked = {
        line["id"]: line["category-metadata"]["suggestion"]
        for line in lines
        if "suggestion" in line["category-metadata"]
    }
    assert sorted(marked) == sorted(source for source, _ in seen)
    assert sum(entry["accepted"] for entry in marked.values()) == 3
    assert all(entry["answers"] == 1 and entry["confidence"] == 0.55 for entry in marked.values())


def test_a_manifest_whose_suggestion_is_no_valid_answer_fails_the_task_naming_its_line(
    labeling: Labeling,
) -> None:
    # Given a manifest whose second line suggests a class the job does not have (classes 0..2)
    lines = [
        {"source-ref": f"s3://{DATA_BUCKET}/images/000.jpg", "gtpipe-suggestion": {"label": 1}},
        {"source-ref": f"s3://{DATA_BUCKET}/images/001.jpg", "gtpipe-suggestion": {"label": 5}},
    ]
    version = str(
        labeling.cloud.put(MANIFEST_KEY, "".join(json.dumps(line) + "\n" for line in lines))["VersionId"]
    )
    # When the labeling function opens the job
    answer = labeling.invoke(open_event(version_id=version))
    # Then the task fails as bad input naming the line and the problem, and no job exists
    assert answer["status"] == "input-invalid"
    [failure] = labeling.sfn.named("failure")
    assert failure["error"] == "LabelingInputInvalid"
    assert "line 2: gtpipe-suggestion: label 5 is not a known class id" in failure["cause"]
    with pytest.raises(store.UnknownJob):
        labeling.job()
