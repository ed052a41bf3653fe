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

DEFAULT_PER_ANSWER_USD: Mapping[str, float] = {
    "image-classification": 0.012,
    "object-detection": 0.036,
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
