"""Ground Truth's automated data labeling (active learning), as a plain loop over injected operations.

Ground Truth labels a dataset in iterations. Without a model to start from:

1. people label a random sample (the *training* batch), then
2. another random sample (the *validation* batch);
3. a model is trained on the human labels (the validation batch validates it), predicts every object
   still unlabeled, and the objects it is confident enough about are **machine-labeled**;
4. the least confident of the rest (at most one batch) go to people; their labels join the training
   set and step 3 repeats, until nothing is left or ``max_rounds`` model rounds have run, after which
   people label whatever remains.

With an initial model (``InitialActiveLearningModelArn``), step 1 is skipped and step 3 first uses that
model as is; later rounds fine-tune it (the training algorithm's ``model`` channel) on the human labels.

**Confidence threshold** (:func:`choose_threshold`), as Ground Truth chooses it: the model also predicts
the human-labeled validation batch; the threshold is the *lowest* confidence ``t`` such that the machine
labels of the validation objects with confidence ``>= t`` reach ``accuracy`` (95%) against the human
labels (the task decides what "agree" means, see :mod:`.labeling_tasks`). The accuracy is estimated
with Laplace's rule of succession, ``(agreeing + 1) / (objects + 2)``, so that a few lucky objects at
the top cannot set the threshold: reaching 95% takes at least 18 validation objects above it, all
agreeing (38 with one disagreement ...). When no threshold reaches it, nothing is machine-labeled this
round. The builtin loop asks more (``credibility``, :func:`credibility_of`): the posterior probability,
from a uniform prior, that the machine labels above ``t`` are at least 95% right must reach the plan's
credibility (0.65 there: 20 of 20 agreeing, 43 with one disagreement). Laplace's rule is that posterior's
mean, and a mean at 95% leaves the true accuracy below 95% about as often as above it; once validation
labels are verified (below) that showed (BENCHMARKS.md, builtin-auto).

**Verified validation labels** (:func:`needs_verification`, the builtin loop): the rule above compares the
model with *human* labels, and one person's label is sometimes wrong. With one answer per object and people
erring 3% of the time, a 40-object sample holds a wrong human label about 70% of the time (1 - 0.97^40);
where it lies among the most confident objects (the model right, the person wrong) it breaks the run of
agreements the rule needs and no threshold is reached (measured: BENCHMARKS.md, builtin-auto). So a
validation object whose label disagrees with the model's prediction gets another, independent answer, and a
third while no label has two answers; its label is the most given one (ties: the earliest). Only
disagreements cost extra answers; an object whose person and model agree is settled (both wrong alike is
rare: a 3% error that also lands on the model's wrong class). The labels then estimate the model's
accuracy against the truth rather than against one person. Ground Truth documents only that it validates
the model on the human-labeled validation sample and estimates the quality of machine labels from it
(https://docs.aws.amazon.com/sagemaker/latest/dg/sms-automated-labeling.html); its validation labels are
the job's consolidated labels (several workers per object by default), which this verification stands in
for when ``workersPerObject`` is 1. Labels that are not one value (an image's boxes) are compared with a
``same`` relation instead of equality: two labels are the same when they agree (boxes: matched one-to-one at
IoU >= 0.5 in their classes), and each answer is then the job's consolidated label; three answers per image
leave 2-2.7% of box images wrong, and at the boxes' credibility one wrong label among the 44 images above a
threshold withholds it (BENCHMARKS.md, box-confidence, session 17).

**Widening** (:func:`widening`, the builtin loop): when a model round reaches no threshold, often because 40
validation objects cannot certify 95% (20 of 20 agreeing are needed, 43 with one disagreement) or one
confident model error sits among the most confident, people label more queued objects, drawn at random, as
validation before the round is decided, with the same predictions (no new training or transform), up to
:data:`WIDEN_LIMIT` times the validation sample. They would be labeled by people anyway if the round
machine-labeled nothing; what it costs is a batch's wait and, in a round that is not the last, human labels
on random objects rather than the least confident ones. Ground Truth's validation sample is fixed; this is the
builtin loop's own rule (simulated on measured models: BENCHMARKS.md, builtin-auto).

**The model's own expectation** (:func:`own_threshold`, the builtin loop for classes): the validation
sample certifies the labels above a threshold from a few dozen objects, and about one first round in ten
certified a threshold whose machine labels were below 95% right (a model right on 80-90% of the objects
above it, whose first 20-30 validation objects there all agreed; replayed on measured models: BENCHMARKS.md,
builtin-auto). The model's confidences say the same thing about every queued object, not a sample: the mean
confidence of the objects at or above a threshold is the accuracy the model itself expects of them. So the
threshold is never below the lowest confidence whose queued objects at or above it the model expects to be
95% right; when the model expects that of none, nothing is machine-labeled. Where the model is surer than
it is right, its own threshold mostly lies below the sample's and the sample decides alone; where it is about
calibrated, it stops the rounds the sample certified by luck. Box confidences are
a cut-off's scores, not a probability that every box is right, so the rule is for classes only.

The operations (people labeling a batch, training, predicting, recording machine labels) are a
:class:`LabelingOperations`; this module does no I/O. One round's decision (threshold, machine labels, the
next human batch, most uncertain first) is :func:`decide_round`, which both the local Ground Truth
emulation (``local.sagemaker.labeling_automated``) and the builtin labeling service's loop in the pipeline
(``lambdas/labeling/auto.py``) use, so both label the same way.
"""

from __future__ import annotations

import math
import operator
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

DEFAULT_ACCURACY = 0.95
# A disputed validation object gets at most this many answers: a third decides between two that differ.
VERIFY_ANSWERS = 3
# Widening (:func:`widening`): the validation sample grows to at most this many times the plan's size, and
# only while the queue holds more than WIDEN_QUEUE times it (so at least one sample's worth is left after).
WIDEN_LIMIT = 3
WIDEN_QUEUE = 2


@dataclass(frozen=True)
class Prediction:
    """A model's label for one object and its confidence (0..1); ``value`` is the task's label
    (a class index, or a tuple of ``(Box, score)``), None when the model gave none."""

    value: Any
    confidence: float


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 10_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1.0) < 1e-12:
            break
    return result


def credibility_of(agreeing: int, objects: int, accuracy: float) -> float:
    """The posterior probability that the machine labels' accuracy is at least ``accuracy`` after
    ``agreeing`` of ``objects`` validation objects agreed, from a uniform prior: the survival of
    Beta(agreeing + 1, objects - agreeing + 1) at ``accuracy`` (its mean is Laplace's rule)."""
    if not 0 <= agreeing <= objects:
        raise ValueError(f"agreeing must be in 0..objects, got {agreeing} of {objects}")
    if accuracy >= 1.0:
        return 0.0
    a, b, x = agreeing + 1.0, objects - agreeing + 1.0, accuracy
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return 1.0 - front * _beta_fraction(a, b, x) / a
    return front * _beta_fraction(b, a, 1.0 - x) / b


def choose_threshold(
    scored: Iterable[tuple[float, bool]],
    accuracy: float = DEFAULT_ACCURACY,
    credibility: float | None = None,
) -> float | None:
    """The lowest confidence ``t`` whose machine labels (objects with confidence ``>= t``) reach
    ``accuracy`` on ``(confidence, agrees with the human label)`` pairs, estimated as
    ``(agreeing + 1) / (objects + 2)`` (Laplace's rule, Ground Truth's emulation); with ``credibility``
    (the builtin loop), reached when :func:`credibility_of` the count is at least ``credibility``. None if
    none does."""
    if not 0.0 < accuracy <= 1.0:
        raise ValueError(f"accuracy must be in (0, 1], got {accuracy}")
    if credibility is not None and not 0.0 < credibility < 1.0:
        raise ValueError(f"credibility must be in (0, 1), got {credibility}")
    ordered = sorted(scored, key=lambda item: -item[0])
    best: float | None = None
    correct = 0
    for position, (confidence, agrees) in enumerate(ordered):
        correct += bool(agrees)
        # Only at the last object of a run of equal confidences: a threshold takes them all or none.
        if position + 1 < len(ordered) and ordered[position + 1][0] == confidence:
            continue
        if credibility is None:
            reached = correct + 1 >= accuracy * (position + 3) - 1e-9
        else:
            reached = credibility_of(correct, position + 1, accuracy) >= credibility - 1e-9
        if reached:
            best = confidence
    return best


def own_threshold(confidences: Iterable[float], accuracy: float = DEFAULT_ACCURACY) -> float | None:
    """The lowest confidence ``t`` whose objects at or above it (of ``confidences``) have a mean confidence of
    at least ``accuracy``: the threshold the model's own confidences give, were they calibrated (module
    docstring, "The model's own expectation"). A run of equal confidences is taken whole. None when no
    ``t`` reaches it (and for no confidences)."""
    if not 0.0 < accuracy <= 1.0:
        raise ValueError(f"accuracy must be in (0, 1], got {accuracy}")
    ordered = sorted(confidences, reverse=True)
    total, best = 0.0, None
    for position, confidence in enumerate(ordered):
        total += confidence
        last_of_run = position + 1 == len(ordered) or ordered[position + 1] != confidence
        if last_of_run and total >= accuracy * (position + 1) - 1e-9:
            best = confidence
    return best


def floored(
    threshold: float | None, confidences: Iterable[float], accuracy: float = DEFAULT_ACCURACY
) -> float | None:
    """``threshold`` never below :func:`own_threshold` of ``confidences``: the higher of the two, None when
    either is None (no threshold reached, or none the model itself expects ``accuracy`` of)."""
    if threshold is None:
        return None
    own = own_threshold(confidences, accuracy)
    return None if own is None else max(threshold, own)


def _agreeing(answers: Sequence[Any], same: Callable[[Any, Any], bool]) -> list[int]:
    """For each answer, how many of ``answers`` (itself included) are the ``same``."""
    return [sum(1 for other in answers if same(answer, other)) for answer in answers]


def validation_label(answers: Sequence[Any], same: Callable[[Any, Any], bool] = operator.eq) -> Any:
    """A validation object's label from its independent human answers (first first): the one the most
    answers are the ``same`` as (equality; boxes: agreement), ties to the earliest. ValueError for no
    answers."""
    if not answers:
        raise ValueError("a validation object needs at least one answer")
    counts = _agreeing(answers, same)
    return answers[counts.index(max(counts))]


def needs_verification(
    answers: Sequence[Any],
    predicted: Any | None,
    maximum: int = VERIFY_ANSWERS,
    same: Callable[[Any, Any], bool] = operator.eq,
) -> bool:
    """Whether a validation object needs another human answer before it calibrates the threshold (module
    docstring): it has a model prediction (``predicted``, in the answers' form; None: none, nothing to
    verify against), fewer than ``maximum`` answers, and either one answer that is not the ``same`` as the
    prediction or several of which no two are the same. ValueError for no answers."""
    label = validation_label(answers, same)
    if predicted is None or len(answers) >= maximum:
        return False
    if max(_agreeing(answers, same)) >= 2:
        return False  # two people agree: settled, whatever the model says
    return not same(label, predicted) or len(answers) > 1


def worth_verifying(
    scored: Mapping[int, tuple[float, bool]],
    disputed: Iterable[int],
    accuracy: float = DEFAULT_ACCURACY,
    credibility: float | None = None,
) -> list[int]:
    """The ``disputed`` validation objects whose verification can change the round's decision, ascending;
    ``scored`` maps each validation object to ``(confidence, agrees with its human label)``.

    They are those at or above the threshold :func:`choose_threshold` would give if every disputed object
    turned out to agree (the most verification can bring): an object below it lies below every threshold
    the sample can reach whatever its label, so another answer for it would be paid for nothing. None when
    even that threshold is not reached."""
    doubted = set(disputed)
    optimistic = [(confidence, agrees or index in doubted) for index, (confidence, agrees) in scored.items()]
    lowest = choose_threshold(optimistic, accuracy, credibility)
    if lowest is None:
        return []
    return sorted(index for index in doubted if scored[index][0] >= lowest)


def widening(
    threshold: float | None,
    drawn: int,
    queued: int,
    validation_size: int,
    limit: int = WIDEN_LIMIT,
) -> int:
    """How many queued objects people label next as more validation sample before a model round is decided
    (the builtin loop; module docstring, "Widening"): 0 when the round reached a ``threshold``, when
    ``drawn`` (validation objects drawn so far, answered or not) has reached ``limit`` x ``validation_size``,
    or when the queue (``queued`` objects) holds no more than :data:`WIDEN_QUEUE` x ``validation_size``
    (too few left for machine labels to be worth a larger sample); otherwise ``validation_size``, or what
    is left below the limit. ValueError for a ``validation_size`` below 1 or a negative count."""
    if validation_size < 1 or drawn < 0 or queued < 0:
        raise ValueError(
            f"validation_size must be >= 1 and counts >= 0, got {validation_size}, {drawn}, {queued}"
        )
    if threshold is not None or queued <= WIDEN_QUEUE * validation_size:
        return 0
    return max(0, min(validation_size, limit * validation_size - drawn))


@dataclass(frozen=True)
class ActiveLearningPlan:
    """Batch sizes and limits of the loop (see the module docstring)."""

    batch_size: int
    validation_size: int
    max_rounds: int = 5
    accuracy: float = DEFAULT_ACCURACY
    seed: int = 0
    credibility: float | None = None
    own_confidence: bool = False  # the threshold is never below :func:`own_threshold` of the queue
    split_last_batches: bool = False  # between one and two batches left: people label half (decide_round)

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.validation_size < 1:
            raise ValueError("batch_size and validation_size must be >= 1")
        if self.max_rounds < 1:
            raise ValueError("max_rounds must be >= 1")


@dataclass(frozen=True)
class RoundDecision:
    """One model round's outcome: the threshold (None: none reached the accuracy), the remaining objects the
    model labels, the next objects for people (most uncertain first) and whether that batch is the last
    (``max_rounds`` reached: people label everything left, no further model round). ``validated`` is the
    threshold the validation sample reached, when the model's own expectation (``plan.own_confidence``)
    raised it or withheld it; else None."""

    threshold: float | None
    machine: dict[int, Prediction]
    next_batch: list[int]
    last: bool
    validated: float | None = None


def decide_round(
    validation: Iterable[tuple[float, bool]],
    remaining: Sequence[int],
    predictions: Mapping[int, Prediction],
    rounds_done: int,
    plan: ActiveLearningPlan,
) -> RoundDecision:
    """Decide model round ``rounds_done`` (1-based): ``validation`` is ``(confidence, agrees with the human
    label)`` of the validation sample, ``remaining`` the unlabeled objects (indices) in queue order and
    ``predictions`` the model's labels for them (empty: no model yet; then nothing is machine-labeled and
    the next batch is the queue's head). Objects whose prediction has no value are never machine-labeled.
    After ``plan.max_rounds`` rounds every object left goes to people (``last``). With
    ``plan.own_confidence`` the threshold is at least :func:`own_threshold` of the remaining objects'
    confidences (those with a label), none when that is None. With ``plan.split_last_batches``, when more
    than one batch but fewer than two are left, the next batch is half of them (rounded up): a whole batch
    would leave the next model round fewer objects than people just labeled."""
    threshold = choose_threshold(validation, plan.accuracy, plan.credibility) if predictions else None
    validated = None
    if plan.own_confidence:
        labeled = (predictions[key].confidence for key in remaining if predictions[key].value is not None)
        own = floored(threshold, labeled, plan.accuracy)
        if own != threshold:
            validated, threshold = threshold, own
    machine: dict[int, Prediction] = {}
    if threshold is not None:
        for key in remaining:
            prediction = predictions[key]
            if prediction.value is not None and prediction.confidence >= threshold:
                machine[key] = prediction
    left = [key for key in remaining if key not in machine]
    if rounds_done >= plan.max_rounds:
        return RoundDecision(threshold, machine, left, True, validated)
    if predictions:  # the least confident first (ties by object index): where people teach the model most
        left = sorted(left, key=lambda key: (predictions[key].confidence, key))
    size = plan.batch_size
    if plan.split_last_batches and predictions and size < len(left) < 2 * size:
        size = math.ceil(len(left) / 2)
    return RoundDecision(threshold, machine, left[:size], len(left) <= plan.batch_size, validated)


class LabelingOperations(Protocol):
    """What the loop needs from a labeling job."""

    def label_by_people(self, objects: Sequence[int], iteration: int) -> Mapping[int, Any]:
        """Send ``objects`` to the workforce as iteration ``iteration``; the consolidated labels of those
        that could be labeled (failures are the job's to record)."""

    def train(self, training: Sequence[int], validation: Sequence[int], iteration: int) -> Any:
        """A model trained on the human labels of ``training`` (validated on ``validation``), starting
        from the initial model if the job has one."""

    def predict(self, model: Any, objects: Sequence[int]) -> Mapping[int, Prediction]:
        """The model's label and confidence for each object (``value`` None: no prediction, never
        machine-labeled)."""

    def agrees(self, prediction: Prediction, human: Any) -> bool:
        """Whether a machine label agrees with the human one."""

    def label_by_machine(
        self, predictions: Mapping[int, Prediction], iteration: int, threshold: float
    ) -> None:
        """Record machine labels (iteration ``iteration``, confidence threshold ``threshold``)."""


@dataclass
class ActiveLearningResult:
    """What the loop did: labels by origin, the final model (None if none was ever used), per-iteration
    counts, and the thresholds chosen per iteration (None: none reached the accuracy)."""

    human: dict[int, Any] = field(default_factory=dict)
    machine: dict[int, Prediction] = field(default_factory=dict)
    model: Any = None
    trained: bool = False
    human_per_iteration: dict[int, int] = field(default_factory=dict)
    machine_per_iteration: dict[int, int] = field(default_factory=dict)
    thresholds: dict[int, float | None] = field(default_factory=dict)
    iterations: int = 0


def run_active_learning(
    objects: Sequence[int],
    plan: ActiveLearningPlan,
    operations: LabelingOperations,
    *,
    initial_model: Any = None,
) -> ActiveLearningResult:
    """Label ``objects`` (indices) by people and machine as Ground Truth's automated labeling does."""
    rng = random.Random(f"active-learning:{plan.seed}")
    remaining = list(objects)
    rng.shuffle(remaining)  # the random samples people label first
    result = ActiveLearningResult(model=initial_model)
    training: list[int] = []
    validation: list[int] = []
    iteration = 0

    def people(batch: list[int], into: list[int]) -> None:
        nonlocal remaining
        taken = set(batch)
        remaining = [index for index in remaining if index not in taken]
        labels = operations.label_by_people(batch, iteration)
        result.human.update(labels)
        result.human_per_iteration[iteration] = len(labels)
        into.extend(index for index in batch if index in labels)

    if initial_model is None and remaining:
        iteration += 1
        people(remaining[: plan.batch_size], training)
    if remaining:
        iteration += 1
        people(remaining[: plan.validation_size], validation)

    trained_on = 0
    rounds = 0
    while remaining:
        rounds += 1
        if training and validation and len(training) > trained_on:
            result.model = operations.train(training, validation, iteration)
            result.trained = True
            trained_on = len(training)
        predictions: Mapping[int, Prediction] = {}
        if result.model is not None and validation:
            predictions = operations.predict(result.model, [*validation, *remaining])
        scored = [
            (predictions[i].confidence, operations.agrees(predictions[i], result.human[i]))
            for i in validation
            if predictions
        ]
        decision = decide_round(scored, remaining, predictions, rounds, plan)
        if predictions:
            result.thresholds[iteration] = decision.threshold
        if decision.machine:
            operations.label_by_machine(decision.machine, iteration, float(decision.threshold or 0.0))
            result.machine.update(decision.machine)
            result.machine_per_iteration[iteration] = len(decision.machine)
            remaining = [i for i in remaining if i not in decision.machine]
        if not remaining:
            break
        iteration += 1
        people(decision.next_batch, training)
    result.iterations = iteration
    return result
