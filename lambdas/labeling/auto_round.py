"""Automated labeling on the builtin service: a model round's decision (``auto_round``, and ``auto_add`` of
the round's own verification and widening batches).

The batch transform has predicted the validation sample and every queued object. Before the round is decided:

1. **Verification**: validation objects whose human label the model disputes
   (:func:`gtpipe_shared.auto_labeling.needs_verification`) go to people again (``pending_verification``,
   ``next: label``, no suggestions: the answer must not lean on the model it checks), and a third time
   while no label has two answers (boxes: a label is the batch's consolidated boxes, and two are the same
   when their boxes agree, :func:`labeling.auto_model.same_label`).
2. **Widening**: when the verified sample reaches no threshold, people label more queued objects, drawn at
   random, as validation (``pending_widening``, no suggestions; how many:
   :func:`gtpipe_shared.auto_labeling.widening`, at most 3 x the plan's ``validation_size`` in all). Their
   answers join the validation sample and the human labels; their disputes are verified in turn (1.) and the
   round is decided again with the **same predictions** (the transform predicted every queued object: no
   new training or transform). An object of a widening batch that got no answer goes back to the queue: it
   is still unlabeled and predicted, so the round decides it like any other queued object (machine label or
   people), where failing it would turn a lost measurement into a lost label.
3. **Decision**: the threshold calibrated on the sample (95 % accuracy at the plan's credibility; for
   classes never below the model's own expectation, :func:`gtpipe_shared.auto_labeling.own_threshold`),
   machine labels, the queue least confident first, the round's record (``verification_answers``,
   ``validation_added``, ``validated_threshold`` when the model's own expectation raised or withheld the
   sample's, its cost) and the next human batch with the model's predictions as suggestions.

The round of the run's final labeling model (trained on every label outside the validation sample once
nothing is left to label, :func:`labeling.auto_training.final_model_due`) has nothing left to label: it is
recorded (``final``, its validation accuracy and cost) and the loop finishes.

While verification or widening batches are out, the round's record waits in the state (``deciding``).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from gtpipe_shared import labeling_paths
from gtpipe_shared.auto_labeling import (
    Prediction,
    choose_threshold,
    decide_round,
    needs_verification,
    validation_label,
    widening,
    worth_verifying,
)
from gtpipe_shared.pricing import labeling_round_cost

from labeling import auto_model
from labeling.auto_state import (
    AutoLabelingFailed,
    batch_manifest,
    load,
    plan,
    save,
    to_people,
    view,
)
from labeling.auto_training import final_model_due, train_final_model

# A round verifies at most this share of the validation sample and of the objects it could machine-label
# (at least 1): people's slips are rare (3 % of answers in the local crowd), so the disputes worth another
# answer are few, and what verifying can save is bounded by the objects left.
VERIFY_SHARE = 0.1


def model_round(event: Mapping[str, Any], now: float) -> dict[str, Any]:
    """``auto_round``: verify disputed validation labels, widen the sample while no threshold is reached,
    then calibrate, machine-label, re-order and price the round (module docstring)."""
    state = load(event)
    model = event.get("model") if isinstance(event.get("model"), Mapping) else None
    if model is None or not model.get("model_name"):
        raise AutoLabelingFailed("auto_round payload needs model.model_name (the model that predicted)")
    predictions, cutoff = auto_model.predictions(state, [*state["validation"], *state["queue"]])
    state["model_rounds"] += 1
    state["model"] = {"name": str(model["model_name"]), "arn": model.get("model_arn")}
    state["deciding"] = {
        "round": state["round"],
        "model": state["model"]["name"],
        "verification_answers": 0,
        "validation_added": 0,
        "box_cutoff": cutoff,
        **labeling_round_cost(event.get("training"), event.get("transform")),
        "date": labeling_paths.creation_date(dt.datetime.fromtimestamp(now, dt.UTC)),
    }
    if state.pop("final_model", False):
        return _record_final_model(state, predictions)
    return _settle(state, predictions, cutoff, event, new=True)


def _record_final_model(state: dict[str, Any], predictions: Mapping[int, Prediction]) -> dict[str, Any]:
    """The final labeling model's round (``labeling.auto_training.final_model_due``): nothing is left to
    label, so no verification, widening or threshold; the round records its accuracy on the validation
    sample (held out of its training) and its cost, and the loop finishes with it as the run's final model."""
    record = state.pop("deciding")
    record.pop("date")
    scored = _scored(state, predictions)
    state["rounds"].append(
        {
            **record,
            "final": True,
            "threshold": None,
            "validation_accuracy": _validation_accuracy(scored),
            "machine_labeled": 0,
            "remaining": 0,
        }
    )
    return view(state, save(state), "finish")


def _validation_accuracy(scored: Sequence[tuple[float, bool]]) -> float | None:
    """The share of validation objects whose prediction agrees with their human label (None: no sample)."""
    return round(sum(a for _, a in scored) / len(scored), 3) if scored else None


def _settle(
    state: dict[str, Any],
    predictions: Mapping[int, Prediction],
    cutoff: float | None,
    event: Mapping[str, Any],
    *,
    new: bool,
    unanswered: Collection[int] = (),
) -> dict[str, Any]:
    """Verify the disputes that need it (not ``unanswered`` ones: a verification batch that got no answer
    for them keeps their labels), else widen the sample while no threshold is reached, else decide
    (``event``: the action's payload, whose ``hyperparameters`` a final labeling model trains with)."""
    disputed = [i for i in _disputed(state, predictions, new=new) if i not in unanswered]
    if disputed:
        return _verify(state, disputed)
    state["deciding"]["box_cutoff"] = cutoff  # a wider box sample calibrates the cut-off anew
    scored = _scored(state, predictions)
    rules = plan(state)
    threshold = choose_threshold(scored, rules.accuracy, rules.credibility)
    drawn = int(state.get("validation_drawn", len(state["validation"])))
    more = widening(threshold, drawn, len(state["queue"]), rules.validation_size)
    if more:
        return _widen(state, more, drawn)
    return _decide(state, predictions, scored, state.pop("deciding"), event)


def _scored(state: Mapping[str, Any], predictions: Mapping[int, Prediction]) -> list[tuple[float, bool]]:
    """``(confidence, agrees with its human label)`` of each validation object."""
    return [
        (predictions[i].confidence, auto_model.agrees(state, predictions[i], state["human"][str(i)]))
        for i in state["validation"]
    ]


# --- verification ---------------------------------------------------------------------------------


def _disputed(state: Mapping[str, Any], predictions: Mapping[int, Prediction], *, new: bool) -> list[int]:
    """The validation objects that need another answer before the threshold is chosen (verification,
    :func:`gtpipe_shared.auto_labeling.needs_verification`; answers in the form of
    :func:`labeling.auto_model.label_form`, first first), those
    that can change the threshold only (:func:`gtpipe_shared.auto_labeling.worth_verifying`). A round asks
    about new objects once per batch of new validation objects (``new``: the round's first verification
    batch, and the first after each widening batch), at most :data:`VERIFY_SHARE` of the validation sample
    and of the queue, the ones the model is surest of (where a person's slip is likeliest; lower down a
    dispute is mostly the model's own error, and asking again there cost as many answers as it saved);
    later batches only continue those. Boxes too: each answer is then the batch's consolidated label, and
    labels are the same when their boxes agree (:func:`labeling.auto_model.same_label`)."""
    answers = state.get("answers", {})
    same = auto_model.same_label(state)
    given = {i: answers.get(str(i)) or [state["human"][str(i)]] for i in state["validation"]}
    disputed = [
        i
        for i, g in given.items()
        if needs_verification(
            [auto_model.label_form(state, a) for a in g],
            auto_model.predicted_form(state, predictions[i]),
            same=same,
        )
    ]
    scored = {
        i: (predictions[i].confidence, auto_model.agrees(state, predictions[i], state["human"][str(i)]))
        for i in state["validation"]
    }
    rules = plan(state)
    chosen = worth_verifying(scored, disputed, rules.accuracy, rules.credibility)
    asked = [i for i in chosen if str(i) in answers]
    if not new:
        return asked
    fresh = sorted(
        (i for i in chosen if str(i) not in answers), key=lambda i: (-predictions[i].confidence, i)
    )
    cap = max(1, math.ceil(VERIFY_SHARE * min(len(state["validation"]), len(state["queue"]))))
    return sorted(asked + fresh[:cap])


def _verify(state: dict[str, Any], objects: Sequence[int]) -> dict[str, Any]:
    """Send disputed validation objects to people once more (no suggestion: the answer must not lean on
    the model it checks); ``next: label``, the round is decided when the answers are in."""
    state["round"] += 1
    state["pending"] = list(objects)
    state["pending_validation"] = []
    state["pending_verification"] = list(objects)
    uri = batch_manifest(state)
    return view(state, save(state), "label", batch_manifest_uri=uri, batch_size=len(objects))


def add_verification(
    state: dict[str, Any], labels: Mapping[str, dict[str, Any]], event: Mapping[str, Any]
) -> dict[str, Any]:
    """``auto_add`` of a verification batch: record its answers per validation object (the label is the
    most given one); ask again, widen or decide the round."""
    answers = state.setdefault("answers", {})
    same = auto_model.same_label(state)
    unanswered = []
    for index in state.pop("pending_verification"):
        label = labels.get(state["refs"][index])
        if label is None:
            unanswered.append(index)  # no answer this time: the object keeps the labels it has
            continue
        given = answers.setdefault(str(index), [state["human"][str(index)]])
        given.append(label)
        forms = [auto_model.label_form(state, item) for item in given]
        state["human"][str(index)] = given[forms.index(validation_label(forms, same))]
        state["deciding"]["verification_answers"] += 1
    state["pending"] = []
    predictions, cutoff = auto_model.predictions(state, [*state["validation"], *state["queue"]])
    return _settle(state, predictions, cutoff, event, new=False, unanswered=unanswered)


# --- widening -------------------------------------------------------------------------------------


def _widen(state: dict[str, Any], count: int, drawn: int) -> dict[str, Any]:
    """Send ``count`` queued objects, drawn at random, to people as more validation sample (no suggestion:
    a validation label must not lean on the model it checks); ``next: label``. A random sample, not the
    queue's head: after a model round the queue is least confident first, and a sample of those would
    calibrate the threshold on the model's worst objects (seeded by the run id and the batch's round, so a
    retried action draws the same objects)."""
    batch = random.Random(f"auto-labeling-widen:{state['run_id']}:{state['round']}").sample(
        state["queue"], count
    )
    taken = set(batch)
    state["queue"] = [index for index in state["queue"] if index not in taken]
    state["validation_drawn"] = drawn + count
    state["round"] += 1
    state["pending"] = batch
    state["pending_validation"] = []
    state["pending_widening"] = batch
    uri = batch_manifest(state)
    return view(state, save(state), "label", batch_manifest_uri=uri, batch_size=count)


def add_widening(
    state: dict[str, Any], labels: Mapping[str, dict[str, Any]], event: Mapping[str, Any]
) -> dict[str, Any]:
    """``auto_add`` of a widening batch: its answered objects join the validation sample and the human
    labels, an unanswered one goes back to the queue (module docstring); then their disputes are verified,
    the sample widened again or the round decided, with the round's predictions."""
    added = 0
    for index in state.pop("pending_widening"):
        label = labels.get(state["refs"][index])
        if label is None:
            state["queue"].append(index)
            continue
        state["human"][str(index)] = label
        state["validation"].append(index)
        added += 1
    state["pending"] = []
    record = state["deciding"]
    record["validation_added"] = int(record.get("validation_added", 0)) + added
    predictions, cutoff = auto_model.predictions(state, [*state["validation"], *state["queue"]])
    return _settle(state, predictions, cutoff, event, new=True)


# --- the decision ---------------------------------------------------------------------------------


def _decide(
    state: dict[str, Any],
    predictions: Mapping[int, Prediction],
    scored: Sequence[tuple[float, bool]],
    record: dict[str, Any],
    event: Mapping[str, Any],
) -> dict[str, Any]:
    """Calibrate on the (verified, widened) validation sample's ``scored`` objects, machine-label, re-order,
    record the round; when it machine-labeled the rest, the final labeling model is next if it is due
    (:func:`labeling.auto_training.final_model_due`), else the loop finishes."""
    decision = decide_round(scored, state["queue"], predictions, state["model_rounds"], plan(state))
    date = record.pop("date")
    for index, prediction in decision.machine.items():
        state["machine"][str(index)] = auto_model.machine_content(state, index, prediction, date)
    # The least confident first: the next batch, then the rest of the queue in confidence order.
    state["queue"] = sorted(
        (i for i in state["queue"] if i not in decision.machine),
        key=lambda i: (predictions[i].confidence, i),
    )
    state["rounds"].append(
        {
            **record,
            "threshold": decision.threshold,
            **({"validated_threshold": decision.validated} if decision.validated is not None else {}),
            "validation_accuracy": _validation_accuracy(scored),
            "machine_labeled": len(decision.machine),
            "remaining": len(state["queue"]),
        }
    )
    if not state["queue"]:
        if final_model_due(state):
            return train_final_model(state, event)
        return view(state, save(state), "finish")
    return to_people(state, decision.next_batch, decision.last, predictions)
