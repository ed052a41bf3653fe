"""Widening in the builtin loop (labeling/auto_round.py): a model round that reaches no threshold on its
validation sample first asks people to label more queued objects, drawn at random, as validation, and
decides again with the same predictions (no new training or transform), up to three samples' worth."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from gtpipe_shared.labeling_suggestions import SUGGESTION_KEY

from tests.lambdas.conftest import DATA_BUCKET
from tests.lambdas.test_handler_labeling_auto import CLASSES, Loop, loop, truth

__all__ = ["loop"]  # the fixture

Model = Callable[[int], tuple[int, float]]


def confident(index: int) -> tuple[int, float]:
    """A model right about the object, at a confidence from 0.950 to 0.989 (by index)."""
    return truth(index), 0.95 + (index % 40) / 1000


def wrong_at_top(wrong: int, rest: Model = confident) -> Model:
    """``rest``, but the model is wrong about ``wrong`` at 0.999: above every other object."""
    return lambda index: (1 - truth(index), 0.999) if index == wrong else rest(index)


def predict(loop: Loop, view: dict[str, Any], model: Model) -> None:
    """The batch transform's outputs: each object's class and confidence by ``model``."""
    manifest = json.loads(loop.read_uri(view["transform_manifest_uri"]))
    for relative in manifest[1:]:
        index = int(relative.rsplit("/", 1)[-1].split(".")[0])
        label, confidence = model(index)
        probabilities = [confidence if c == label else 1 - confidence for c in range(len(CLASSES))]
        key = f"{view['transform_output_uri']}{relative}.out"[len(f"s3://{DATA_BUCKET}/") :]
        loop.cloud.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=json.dumps(probabilities).encode())


def state_of(loop: Loop, view: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(loop.read_uri(view["state_uri"])))


def lines_of(loop: Loop, view: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in loop.read_uri(view["batch_manifest_uri"]).decode().splitlines()]


def settle(loop: Loop, view: dict[str, Any]) -> tuple[dict[str, Any], list[list[int]]]:
    """People answer the round's own batches (verification and widening) right until the round is decided;
    the view then and the widening batches."""
    widened = []
    while view["next"] == "label":
        state = state_of(loop, view)
        if state.get("pending_widening"):
            widened.append(loop.batch(view))
        elif not state.get("pending_verification"):
            break
        view = loop.label(view)
    return view, widened


def first_round(loop: Loop, objects: int, model: Callable[[list[int]], Model]) -> tuple[dict, list[int]]:
    """Start a run of ``objects`` (batch 20, validation 40, one model round), people label the first batch,
    the model (``model(validation sample)``) predicts; the auto_round view and the validation sample."""
    view = loop.start(objects, auto_batch_size=20, auto_validation_size=40, auto_max_rounds=1)
    validation = loop.batch(view)[20:]
    view = loop.label(view)
    assert view["next"] == "train"
    predict(loop, view, model(validation))
    return loop.round(view, "m1"), validation


def test_no_threshold_on_40_sends_40_random_queued_objects_to_people_as_validation(loop: Loop) -> None:
    # Given 300 objects and a model right about all of them but confidently wrong about one validation object
    view, validation = first_round(loop, 300, lambda sample: wrong_at_top(sample[0]))
    # When people have confirmed that object's label (verification)
    assert view["next"] == "label" and loop.batch(view) == [validation[0]]
    queue = state_of(loop, view)["queue"]
    view = loop.label(view)
    # Then, 39 of 40 agreeing being no credible 95%, 40 queued objects go to people as validation before any
    # machine label: without suggestions, marked as widening
    assert view["next"] == "label" and view["batch_size"] == 40 and view["machine"] == 0
    lines = lines_of(loop, view)
    drawn = [line["id"] for line in lines]
    assert len(set(drawn)) == 40 and set(drawn) <= set(queue)
    assert not any(SUGGESTION_KEY in line for line in lines)
    state = state_of(loop, view)
    assert state["pending_widening"] == drawn and state["validation_drawn"] == 80
    # And drawn at random: not the 40 the model is least sure of, and from across the confidences
    by_confidence = sorted(queue, key=lambda i: (confident(i)[1], i))
    assert set(drawn) != set(by_confidence[:40])
    assert any(by_confidence.index(i) >= len(queue) // 2 for i in drawn)
    # When people answer them
    view = loop.label(view)
    # Then the round is decided with the same predictions (no training, no transform): on 80 validation
    # objects, 79 agreeing, a threshold is reached and the model labels the queued objects above it, right
    assert view["next"] in ("label", "finish")
    state = state_of(loop, view)
    assert len(state["validation"]) == 80 and set(drawn) <= set(state["validation"])
    [record] = state["rounds"]
    assert record["validation_added"] == 40 and record["verification_answers"] == 1
    assert record["threshold"] is not None
    expected = {i for i in queue if i not in drawn and confident(i)[1] >= record["threshold"]}
    assert {int(i) for i in state["machine"]} == expected and len(expected) > 150
    assert all(state["machine"][str(i)]["category"] == truth(i) for i in expected)
    # And the widening answers count as human answers of the run
    if view["next"] == "label":
        view = loop.label(view)
    result = loop.invoke("auto_finish", state_uri=view["state_uri"])
    assert result["counters"]["HumanLabeled"] == 300 - len(expected)
    assert result["team"]["answers"] == loop.answers == 3 * (300 - len(expected) + 1)


def test_at_three_samples_the_round_is_decided_and_people_label_the_rest(loop: Loop) -> None:
    # Given 300 objects and a model confidently wrong about every fifth: no sample certifies 95%
    view, _ = first_round(loop, 300, lambda _: lambda i: (1 - truth(i), 0.99) if i % 5 == 0 else confident(i))
    # When people answer the round's verification and widening batches
    view, widened = settle(loop, view)
    # Then the sample was widened twice by 40, to three times its size, and no further
    assert [len(batch) for batch in widened] == [40, 40]
    state = state_of(loop, view)
    assert len(state["validation"]) == 120
    [record] = state["rounds"]
    assert record["validation_added"] == 80 and record["threshold"] is None
    # And nothing is machine-labeled: the last batch is everything left
    assert view["next"] == "label" and view["machine"] == 0 and view["batch_size"] == 300 - 20 - 120


def test_a_small_queue_is_not_worth_a_wider_sample(loop: Loop) -> None:
    # Given 120 objects: after the first batch (20 + 40) 60 are queued, no more than two samples' worth
    view, _ = first_round(loop, 120, lambda sample: wrong_at_top(sample[0]))
    # When the disputed label is confirmed
    view, widened = settle(loop, view)
    # Then no threshold, no widening: people label all 60 left
    assert widened == []
    assert view["next"] == "label" and view["machine"] == 0 and view["batch_size"] == 60
    [record] = state_of(loop, view)["rounds"]
    assert record["validation_added"] == 0 and record["threshold"] is None


def test_an_unanswered_widening_object_goes_back_to_the_queue(loop: Loop) -> None:
    # Given a round widening its sample (as in the first test)
    view, _ = first_round(loop, 300, lambda sample: wrong_at_top(sample[0]))
    view = loop.label(view)
    drawn = loop.batch(view)
    # When the widening job ends without a label for one of the 40
    view = loop.label(view, missing=frozenset({drawn[0]}))
    # Then the 39 answered join the validation sample and the round records 39
    state = state_of(loop, view)
    assert len(state["validation"]) == 79 and drawn[0] not in state["validation"]
    assert state["rounds"][0]["validation_added"] == 39
    # And the unanswered object is not failed but decided with the queue: above the threshold, machine-labeled
    assert drawn[0] not in state["failed"] and str(drawn[0]) not in state["human"]
    assert confident(drawn[0])[1] >= state["rounds"][0]["threshold"]
    assert state["machine"][str(drawn[0])]["category"] == truth(drawn[0])


def test_a_later_rounds_widening_draws_at_random_not_the_least_confident_first(loop: Loop) -> None:
    # Given a first round that machine-labels the even objects and leaves the odd ones, unsure (0.60 to
    # 0.699), least confident first in the queue
    view = loop.start(400, auto_batch_size=20, auto_validation_size=40, auto_max_rounds=2)
    validation = loop.batch(view)[20:]
    view = loop.label(view)
    unsure = {i for i in range(400) if i % 2 and i not in validation}
    predict(loop, view, lambda i: (truth(i), 0.6 + (i % 100) / 1000) if i in unsure else confident(i))
    view, widened = settle(loop, loop.round(view, "m1"))
    assert widened == [] and view["machine"] > 0 and view["batch_size"] == 20
    # When people label the next batch and the retrained model is wrong about one validation object at the top
    view = loop.label(view)
    assert view["next"] == "train"
    predict(loop, view, wrong_at_top(validation[0]))
    view = loop.round(view, "m2")
    queue = state_of(loop, view)["queue"]
    view, widened = settle(loop, view)
    # Then the round's widening batch is drawn at random from the queue, not its least confident head
    [drawn] = widened
    assert set(drawn) <= set(queue) and set(drawn) != set(queue[:40])
    assert any(queue.index(i) >= len(queue) // 2 for i in drawn)
    # And the wider sample reaches a threshold with round 2's predictions
    record = state_of(loop, view)["rounds"][1]
    assert record["model"] == "m2" and record["validation_added"] == 40 and record["threshold"] is not None
