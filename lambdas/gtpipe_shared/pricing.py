"""Labeling prices and costs: the estimate the cost guard checks and the actual cost a run records.

Ground Truth bills every labeled data object a per-object fee and, for each human answer, a per-answer
price that depends on the task type; an object labeled by automated data labeling costs the per-object
fee only (the seeds quote $0.08 per object, $0.012 per classification answer, $0.036 per bounding-box
answer). Prices are configuration (``gtpipe:labelingPrices``), because they vary by region, workforce
and year; these defaults are the seeds' figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gtpipe_shared.tasks import TaskType

DEFAULT_PER_ANSWER_USD: Mapping[str, float] = {
    TaskType.IMAGE_CLASSIFICATION.value: 0.012,
    TaskType.OBJECT_DETECTION.value: 0.036,
}


def _default_per_answer() -> dict[str, float]:
    return dict(DEFAULT_PER_ANSWER_USD)


@dataclass(frozen=True)
class LabelingPrices:
    """US dollars per labeled object, per human answer (by task type) and per machine-labeled object."""

    per_object_usd: float = 0.08
    per_answer_usd: Mapping[str, float] = field(default_factory=_default_per_answer)
    per_machine_label_usd: float = 0.08

    def __post_init__(self) -> None:
        prices = {"per_object_usd": self.per_object_usd, "per_machine_label_usd": self.per_machine_label_usd}
        prices.update({f"per_answer_usd[{task}]": price for task, price in self.per_answer_usd.items()})
        for name, price in prices.items():
            if not isinstance(price, int | float) or isinstance(price, bool) or price < 0:
                raise ValueError(f"labeling price {name} must be a non-negative number, got {price!r}")

    def answer_price(self, task_type: str) -> float:
        """Price of one human answer for ``task_type``; unknown task types are an error."""
        try:
            return float(self.per_answer_usd[task_type])
        except KeyError:
            known = ", ".join(sorted(self.per_answer_usd))
            raise ValueError(
                f"no per-answer labeling price for task type {task_type!r} (known: {known})"
            ) from None

    @classmethod
    def from_mapping(cls, value: Mapping[str, Any] | None) -> LabelingPrices:
        """Prices from ``{"perObjectUsd", "perAnswerUsd": {task: usd}, "perMachineLabelUsd"}`` (camel or snake)."""
        if not value:
            return cls()
        per_answer = value.get("perAnswerUsd", value.get("per_answer_usd"))
        answers = _default_per_answer()
        if per_answer is not None:
            if not isinstance(per_answer, Mapping):
                raise ValueError("labeling price perAnswerUsd must map task types to prices")
            answers.update({str(task): price for task, price in per_answer.items()})
        defaults = cls()
        return cls(
            per_object_usd=value.get("perObjectUsd", value.get("per_object_usd", defaults.per_object_usd)),
            per_answer_usd=answers,
            per_machine_label_usd=value.get(
                "perMachineLabelUsd", value.get("per_machine_label_usd", defaults.per_machine_label_usd)
            ),
        )

    def as_dict(self) -> dict[str, Any]:
        """The snake_case form carried in the execution input and the ledger."""
        return {
            "per_object_usd": self.per_object_usd,
            "per_answer_usd": dict(self.per_answer_usd),
            "per_machine_label_usd": self.per_machine_label_usd,
        }


@dataclass(frozen=True)
class LabelingCost:
    """A labeling job's cost split into human and machine labels (US dollars, rounded to cents)."""

    human_usd: float
    machine_usd: float

    @property
    def total_usd(self) -> float:
        """Human plus machine cost."""
        return round(self.human_usd + self.machine_usd, 2)

    def as_dict(self) -> dict[str, float]:
        """``{"human_usd", "machine_usd", "total_usd"}``."""
        return {"human_usd": self.human_usd, "machine_usd": self.machine_usd, "total_usd": self.total_usd}


def human_object_cost(workers_per_object: int, task_type: str, prices: LabelingPrices) -> float:
    """Cost of one object labeled by ``workers_per_object`` people (unrounded)."""
    if workers_per_object < 1:
        raise ValueError(f"workers per object must be at least 1, got {workers_per_object}")
    return prices.per_object_usd + workers_per_object * prices.answer_price(task_type)


def estimate_labeling_cost(
    objects: int, workers_per_object: int, task_type: str, prices: LabelingPrices
) -> float:
    """Upper bound of a labeling job's cost before it starts: every object labeled by people."""
    if objects < 0:
        raise ValueError(f"object count must not be negative, got {objects}")
    return round(objects * human_object_cost(workers_per_object, task_type, prices), 2)


def labeling_cost(
    human_labeled: int,
    machine_labeled: int,
    workers_per_object: int,
    task_type: str,
    prices: LabelingPrices,
) -> LabelingCost:
    """Actual cost from a labeling job's counters (``HumanLabeled``, ``MachineLabeled``)."""
    if human_labeled < 0 or machine_labeled < 0:
        raise ValueError("label counts must not be negative")
    return LabelingCost(
        human_usd=round(human_labeled * human_object_cost(workers_per_object, task_type, prices), 2),
        machine_usd=round(machine_labeled * prices.per_machine_label_usd, 2),
    )


@dataclass(frozen=True)
class BudgetCheck:
    """The cost guard's verdict on one labeling job before it starts."""

    objects: int
    workers_per_object: int
    task_type: str
    estimated_usd: float
    budget_usd: float | None
    per_object_usd: float
    per_answer_usd: float

    @property
    def exceeded(self) -> bool:
        """True when a budget is set and the estimate is above it (an estimate equal to it passes)."""
        return self.budget_usd is not None and self.estimated_usd > self.budget_usd

    def reason(self) -> str:
        """The refusal reason, naming the estimate, how it was computed and the budget."""
        budget = "no budget" if self.budget_usd is None else f"the labeling budget ${self.budget_usd:,.2f}"
        verdict = "exceeds" if self.exceeded else "is within"
        return (
            f"estimated labeling cost ${self.estimated_usd:,.2f} ({self.objects:,} objects x "
            f"(${self.per_object_usd:g} per object + {self.workers_per_object} workers x "
            f"${self.per_answer_usd:g} per {self.task_type} answer)) {verdict} {budget} "
            "(gtpipe:labelingBudgetUsd)"
        )

    def as_dict(self) -> dict[str, Any]:
        """``{"estimated_usd", "budget_usd", "objects", "workers_per_object"}`` for the ledger."""
        return {
            "estimated_usd": self.estimated_usd,
            "budget_usd": self.budget_usd,
            "objects": self.objects,
            "workers_per_object": self.workers_per_object,
        }


def check_labeling_budget(
    objects: int,
    workers_per_object: int,
    task_type: str,
    prices: LabelingPrices,
    budget_usd: float | None,
) -> BudgetCheck:
    """Estimate a labeling job (every object labeled by people: the upper bound) against a budget.

    ``budget_usd`` None means no limit. With automated labeling the actual cost is lower than this estimate
    whenever a machine label costs less than a human-labeled object (as with the seeds' prices).
    """
    if budget_usd is not None and (isinstance(budget_usd, bool) or budget_usd < 0):
        raise ValueError(f"labeling budget must be a non-negative number, got {budget_usd!r}")
    return BudgetCheck(
        objects=objects,
        workers_per_object=workers_per_object,
        task_type=task_type,
        estimated_usd=estimate_labeling_cost(objects, workers_per_object, task_type, prices),
        budget_usd=None if budget_usd is None else float(budget_usd),
        per_object_usd=float(prices.per_object_usd),
        per_answer_usd=prices.answer_price(task_type),
    )
