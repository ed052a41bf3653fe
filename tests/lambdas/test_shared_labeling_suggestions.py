"""Pre-annotation: model suggestions on a job's objects (gtpipe_shared.labeling_suggestions and the tasks
table, gtpipe_shared.labeling_store, against moto DynamoDB)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from gtpipe_shared import labeling_store as store
from gtpipe_shared import labeling_suggestions as suggestions
from gtpipe_shared.consolidation import Box

from tests.lambdas.test_shared_labeling_store import JOB, NOW, spec, table

__all__ = ["table"]  # the moto tasks table fixture

KEY = suggestions.SUGGESTION_KEY
BOXES = {
    "boxes": [
        {"class_id": 1, "left": 10, "top": 20, "width": 30, "height": 40, "score": 0.9},
        {"class_id": 0, "left": 100, "top": 50, "width": 20, "height": 20, "score": 0.6},
    ],
    "image_size": {"width": 200, "height": 100},
}


def manifest(suggested: dict[int, Any], count: int = 3) -> bytes:
    """``count`` lines; line ``i`` carries ``suggested[i]`` as its suggestion when given."""
    lines = []
    for i in range(count):
        line: dict[str, Any] = {"source-ref": f"s3://gtpipe-data-bucket/images/{i:03d}.jpg", "id": i}
        if i in suggested:
            line[KEY] = suggested[i]
        lines.append(json.dumps(line) + "\n")
    return "".join(lines).encode()


def open_suggested(table: Any, suggested: dict[int, Any], count: int = 3, **kwargs: Any) -> None:
    job_spec = spec(**{key: value for key, value in kwargs.items() if key != "adaptive"})
    if "adaptive" in kwargs:
        job_spec = replace(job_spec, adaptive_threshold=kwargs["adaptive"])
    store.open_job(table, job_spec, store.objects_from_manifest(manifest(suggested, count)), NOW)


def item(table: Any, index: int) -> dict[str, Any]:
    return dict(table.get_item(Key={"pk": store.job_pk(JOB), "sk": store.object_sk(index)})["Item"])


def answer_next(table: Any, worker: str, label: int) -> store.Lease:
    lease = store.lease(table, JOB, worker, NOW)
    assert lease is not None
    store.answer(table, JOB, lease.index, worker, lease.lease_id, {"label": label}, 2.0, NOW, username=worker)
    return lease


def answer_items(table: Any) -> dict[tuple[int, str], dict[str, Any]]:
    found = table.query(
        KeyConditionExpression="pk = :pk AND begins_with(sk, :ans)",
        ExpressionAttributeValues={":pk": store.job_pk(JOB), ":ans": "ANS#"},
    )["Items"]
    return {(int(entry["index"]), str(entry["worker_id"])): entry for entry in found}


# --- the pure rules ---------------------------------------------------------------------------------


def test_a_suggestion_is_a_valid_answer_with_its_confidence() -> None:
    # Given a classification and a box suggestion, when parsed
    classes = suggestions.parse("image-classification", {"label": 2, "confidence": 0.61}, ["a", "b", "c"])
    boxes = suggestions.parse("object-detection", BOXES, ["car", "person"])
    # Then they keep the answer form and the model's confidence (each box its score)
    assert classes == {"label": 2, "confidence": 0.61}
    assert [box["score"] for box in boxes["boxes"]] == [0.9, 0.6]
    assert suggestions.as_answer(boxes)["boxes"][0] == {
        "class_id": 1,
        "left": 10,
        "top": 20,
        "width": 30,
        "height": 40,
    }


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"label": 7}, "not a known class id"),
        ({"label": 1, "confidence": 1.5}, "confidence must be a number from 0 to 1"),
        ("cat", "must be a JSON object"),
        ({}, "needs 'label'"),
    ],
)
def test_a_bad_suggestion_is_refused_naming_the_problem(raw: Any, problem: str) -> None:
    # Given a suggestion that is not a valid answer of the job, when parsed, then a ValueError names it
    with pytest.raises(ValueError, match=problem):
        suggestions.parse("image-classification", raw, ["a", "b", "c"])


def test_a_box_suggestion_is_clipped_to_the_image_and_has_at_most_an_answers_boxes() -> None:
    # Given a model's box reaching past the right edge, and a suggestion of more boxes than an answer may have
    past = {**BOXES, "boxes": [{"class_id": 0, "left": 150, "top": 10, "width": 100, "height": 10}]}
    box = {"class_id": 0, "left": 1, "top": 1, "width": 5, "height": 5}
    many = {**BOXES, "boxes": [box] * 501}
    # Then the first is clipped to the image, the second refused naming the limit
    clipped = suggestions.parse("object-detection", past, ["car"])["boxes"][0]
    assert (clipped["left"], clipped["width"]) == (150, 50)
    with pytest.raises(ValueError, match="at most 500 boxes"):
        suggestions.parse("object-detection", many, ["car"])


def test_a_labeling_models_boxes_become_a_suggestion_the_job_accepts() -> None:
    # Given a labeling model's pixel boxes with their scores on a 200x100 image
    predicted = ((Box(1, 20.4, 10.6, 39.8, 30.2), 0.4213), (Box(0, 150, 60, 50, 40), 0.3))
    # When made a suggestion
    suggestion = suggestions.from_boxes(predicted, (200, 100, 3))
    # Then it is an answer's whole-pixel boxes with their scores, on the image's size, and parses as one
    assert suggestion == {
        "boxes": [
            {"class_id": 1, "left": 20, "top": 11, "width": 40, "height": 30, "score": 0.4213},
            {"class_id": 0, "left": 150, "top": 60, "width": 50, "height": 40, "score": 0.3},
        ],
        "image_size": {"width": 200, "height": 100},
    }
    assert (
        suggestions.parse("object-detection", suggestion, ["circle", "square"])["boxes"][0]["score"] == 0.4213
    )


def test_accepted_means_the_answer_is_the_suggestion_unchanged() -> None:
    # Given a class and a box suggestion
    model = {"label": 1, "confidence": 0.7}
    drawn = suggestions.parse("object-detection", BOXES, ["car", "person"])
    same = {"boxes": list(reversed(suggestions.as_answer(drawn)["boxes"]))}
    moved = {"boxes": [{**same["boxes"][0], "left": 11}, same["boxes"][1]]}
    # Then the same class, or the same boxes in any order, is accepted; any change is not
    assert suggestions.accepted({"label": 1}, model) and not suggestions.accepted({"label": 0}, model)
    assert suggestions.accepted(same, drawn)
    assert not suggestions.accepted(moved, drawn)
    assert not suggestions.accepted({"boxes": same["boxes"][:1]}, drawn)


# --- the store ------------------------------------------------------------------------------------


def test_the_suggestion_moves_from_the_line_to_the_object_and_comes_with_its_lease(table: Any) -> None:
    # Given a job whose first line carries a suggestion and whose others do not
    open_suggested(table, {0: {"label": 2, "confidence": 0.55}}, workers=1)
    # Then the object keeps it and its line is the input's without it
    first, second = item(table, 0), item(table, 1)
    assert json.loads(first["suggestion"]) == {"label": 2, "confidence": 0.55}
    assert json.loads(first["line"]) == {"source-ref": "s3://gtpipe-data-bucket/images/000.jpg", "id": 0}
    assert "suggestion" not in second  # jobs and objects without suggestions look as they always did
    # When a worker leases twice (answering the first)
    lease = answer_next(table, "w", 2)
    again = store.lease(table, JOB, "w", NOW)
    # Then the first lease carries the suggestion, the next none
    assert lease.suggestion == {"label": 2, "confidence": 0.55}
    assert again is not None and again.index == 1 and again.suggestion is None


def test_each_answer_records_whether_it_took_the_suggestion_unchanged(table: Any) -> None:
    # Given two suggested objects and one without, two workers each
    open_suggested(table, {0: {"label": 1, "confidence": 0.6}, 1: {"label": 2, "confidence": 0.7}}, workers=2)
    # When worker a answers as the model said and worker b corrects it, on every object
    for worker, labels in (("a", {0: 1, 1: 2, 2: 0}), ("b", {0: 0, 1: 0, 2: 0})):
        for _ in range(3):
            lease = store.lease(table, JOB, worker, NOW)
            assert lease is not None
            store.answer(
                table, JOB, lease.index, worker, lease.lease_id, {"label": labels[lease.index]}, 1, NOW
            )
    # Then a's answers accepted, b's did not, and the unsuggested object's answers record nothing
    items = answer_items(table)
    assert [items[(i, "a")]["suggestion_accepted"] for i in (0, 1)] == [True, True]
    assert [items[(i, "b")]["suggestion_accepted"] for i in (0, 1)] == [False, False]
    assert "suggestion_accepted" not in items[(2, "a")] and "suggestion_accepted" not in items[(2, "b")]


def test_consolidation_counts_only_peoples_answers_and_the_output_counts_acceptances(table: Any) -> None:
    # Given one answer per object; the model suggests bird (2) very confidently for objects 0 and 1
    strong = {"label": 2, "confidence": 0.99}
    open_suggested(table, {0: strong, 1: strong}, workers=1)
    # When the worker answers cat (0) on object 0, takes bird on object 1 and answers dog (1) on object 2
    for label in (0, 2, 1):
        answer_next(table, "w", label)
    output = store.job_output(table, store.get_job(table, JOB), NOW)
    lines = [
        json.loads(raw)
        for raw in output.files[next(k for k in output.files if k.endswith("output.manifest"))].splitlines()
    ]
    # Then each label is the person's alone: the suggestion outvoted nobody and is nobody's answer
    assert [line["category"] for line in lines] == [0, 2, 1]
    assert output.team["answers"] == 3 and [w["worker_id"] for w in output.team["workers"]] == ["w"]
    assert lines[0]["category-metadata"]["confidence"] == lines[2]["category-metadata"]["confidence"]
    # and the output says how many answers took the suggestion unchanged, per object and in all
    meta = [line["category-metadata"].get("suggestion") for line in lines]
    assert meta == [
        {"accepted": 0, "answers": 1, "confidence": 0.99},
        {"accepted": 1, "answers": 1, "confidence": 0.99},
        None,
    ]
    assert output.team["suggestions"] == {"objects": 2, "answers": 2, "accepted": 1, "accepted_share": 0.5}
    assert KEY not in lines[0]  # the line written back is the input's


def test_a_job_without_suggestions_has_the_same_output_as_before(table: Any) -> None:
    # Given a job whose manifest carries no suggestion, answered once per object
    open_suggested(table, {}, workers=1)
    for label in (0, 1, 2):
        answer_next(table, "w", label)
    output = store.job_output(table, store.get_job(table, JOB), NOW)
    # Then neither the lines nor the team statistics mention suggestions
    assert "suggestions" not in output.team
    assert all(b"suggestion" not in body for body in output.files.values())


def test_adaptive_redundancy_asks_again_when_the_answer_disagrees_with_the_model(table: Any) -> None:
    # Given adaptive redundancy that takes one answer (threshold 0.5) up to 3, and suggestions on 2 objects
    open_suggested(
        table,
        {0: {"label": 1, "confidence": 0.6}, 1: {"label": 1, "confidence": 0.6}},
        workers=3,
        adaptive=0.5,
    )
    # When the first answers agree with the model on object 0, disagree on object 1, and object 2 has none
    for label in (1, 0, 0):
        answer_next(table, "first", label)
    # Then only the object whose answer disagreed with the model asks for another answer
    assert [int(item(table, i)["answers_wanted"]) for i in range(3)] == [1, 2, 1]


def test_a_bad_suggestion_in_the_manifest_is_bad_input_naming_its_line() -> None:
    # Given a manifest whose second line suggests a class the job does not have
    objects = store.objects_from_manifest(manifest({1: {"label": 9}}))
    # When the job's objects are split from their suggestions, then InvalidManifest names the line
    with pytest.raises(
        store.InvalidManifest, match="line 2: gtpipe-suggestion: label 9 is not a known class"
    ):
        store.split_suggestions(spec(), objects)
