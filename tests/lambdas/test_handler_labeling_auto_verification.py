"""Verified validation labels in the builtin loop (labeling/auto.py): a reused model's round first asks
people again about the validation objects it disputes, then calibrates on the settled labels."""

from __future__ import annotations

import json

from tests.lambdas.test_handler_labeling_auto import EARLIER, Loop, loop, truth

__all__ = ["loop"]  # the fixture


def reuse_round(loop: Loop, wrong: frozenset[int]) -> tuple[dict, list[int]]:
    """A run of 60 from an earlier model that is sure and right about everything; people slip on the
    validation objects in ``wrong`` (by position in the sample). The auto_round view and the sample."""
    view = loop.start(
        60, auto_batch_size=10, auto_validation_size=20, initial_active_learning_model_arn=EARLIER
    )
    validation = loop.batch(view)
    view = loop.label(view, wrong=frozenset(validation[i] for i in wrong))
    loop.transform(view, lambda i: True)
    view = loop.earlier_round(view, EARLIER)
    return view, validation


def test_a_slip_on_a_validation_object_is_verified_and_the_model_then_labels_the_rest(loop: Loop) -> None:
    # Given 20 validation objects the reused model is sure and right about, and a person who slipped on one
    view, validation = reuse_round(loop, wrong=frozenset({0}))
    # Then before any threshold, that object alone goes to people again (two agreeing answers are needed:
    # the slip and a right answer differ, so a third decides)
    assert view["next"] == "label" and loop.batch(view) == [validation[0]] and view["machine"] == 0
    view = loop.label(view)
    assert view["next"] == "label" and loop.batch(view) == [validation[0]]
    view = loop.label(view)
    # And on the settled labels (20 of 20 agree: 21/22 >= 95%) the model labels the other 40
    assert view["next"] == "finish" and view["machine"] == 40 and view["human"] == 20
    result = loop.invoke("auto_finish", state_uri=view["state_uri"])
    # And the object's label is the majority's (right), the round records the 2 extra answers and the
    # team's answers count them (3 per object per batch in this test's crowd)
    lines = {line["id"]: line for line in map(json.loads, loop.read_uri(result["output_uri"]).splitlines())}
    assert lines[validation[0]]["category"] == truth(validation[0])
    assert result["auto_labeling"]["rounds"][0]["verification_answers"] == 2
    assert result["team"]["answers"] == loop.answers == 3 * (20 + 2)


def test_two_slips_no_longer_cost_the_whole_round(loop: Loop) -> None:
    # Given two slips among the 20: unverified, 18 of 20 agree, (18 + 1) / 22 = 0.86 < 0.95, no threshold
    view, validation = reuse_round(loop, wrong=frozenset({0, 5}))
    # When people answer the two disputed objects twice more
    assert sorted(loop.batch(view)) == sorted([validation[0], validation[5]])
    view = loop.label(loop.label(view))
    # Then the model labels all 40 others
    assert view["next"] == "finish" and view["machine"] == 40
