"""start_run's labeling plan: the cost guard's estimate and, with ``reuseModel``, the model to start from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from gtpipe_shared import ledger
from gtpipe_shared.config import PipelineConfig
from gtpipe_shared.ledger_store import ReusableModel, find_reusable_model
from gtpipe_shared.pricing import BudgetCheck, TuningEstimate, check_labeling_budget, estimate_tuning

logger = Logger()


@dataclass(frozen=True)
class LabelingPlan:
    """What start_run decides about a labeling job before anything is spent."""

    fingerprint: str
    budget: BudgetCheck
    reuse: ReusableModel | None = None
    reuse_lookup_error: str | None = None

    def ledger_attributes(self) -> dict[str, Any]:
        """Attributes of the new run item (see docs/design.md, "Runs ledger")."""
        attributes: dict[str, Any] = {
            ledger.FINGERPRINT_ATTRIBUTE: self.fingerprint,
            "labeling_cost": {
                k: v
                for k, v in self.budget.as_dict().items()
                if k in ("estimated_usd", "budget_usd", "total_usd", "tuning") and v is not None
            },
            "reuse_lookup_error": self.reuse_lookup_error,
        }
        if self.reuse:
            attributes["reused_model_arn"] = self.reuse.model_arn
            attributes["reused_model_source_run_id"] = self.reuse.source_run_id
            attributes["reused_model_kind"] = self.reuse.kind
        return attributes

    def apply(self, payload: dict[str, Any]) -> None:
        """Write the plan into the execution input's ``config.labeling``."""
        labeling = payload["config"]["labeling"]
        labeling["fingerprint"] = self.fingerprint
        labeling["estimated_cost_usd"] = self.budget.estimated_usd
        if self.budget.tuning is not None:
            labeling["tuning_estimate"] = self.budget.tuning.as_dict()
        labeling["initial_active_learning_model_arn"] = self.reuse.model_arn if self.reuse else None
        labeling["initial_model_source_run_id"] = self.reuse.source_run_id if self.reuse else None


def tuning_estimate(config: PipelineConfig) -> TuningEstimate | None:
    """The run's tuning worst case for the cost guard (None without ``config.tuning``): ``max_jobs`` trials,
    each on the training step's instances for its ``max_runtime_seconds`` (a trial's ``StoppingCondition``)."""
    if config.tuning is None:
        return None
    training = config.training
    return estimate_tuning(
        config.tuning.max_jobs, training.instance_type, training.instance_count, training.max_runtime_seconds
    )


def plan_labeling(
    objects: int, config: PipelineConfig, lookup: Callable[[str], ReusableModel | None]
) -> LabelingPlan:
    """Estimate the labeling job against the budget and, when reuse is on, find the model to start from.

    ``lookup(fingerprint)`` returns the newest reusable model of the label set. It is not called when the
    run is over budget (it will not label) or reuse is off. A failed lookup does not stop the run: it
    labels without a reused model, and the reason is recorded.
    """
    labeling = config.labeling
    fingerprint = ledger.labeling_fingerprint(config.task_type, config.label_categories)
    budget = check_labeling_budget(
        objects,
        labeling.workers_per_object,
        config.task_type,
        labeling.labeling_prices(),
        labeling.budget_usd,
        # The builtin service is priced by its AWS requests and the labelers' time, not Ground Truth's prices.
        builtin=labeling.builtin_pricing(),
        tuning=tuning_estimate(config),
    )
    if budget.exceeded or not labeling.reuse_model:
        return LabelingPlan(fingerprint=fingerprint, budget=budget)
    try:
        reuse = lookup(fingerprint)
    except ClientError as exc:
        logger.warning("reusable model lookup failed; labeling without one", extra={"error": str(exc)})
        return LabelingPlan(fingerprint=fingerprint, budget=budget, reuse_lookup_error=str(exc)[:500])
    return LabelingPlan(fingerprint=fingerprint, budget=budget, reuse=reuse)


def reusable_model_lookup(runs: Any, config: PipelineConfig) -> Callable[[str], ReusableModel | None]:
    """The ledger lookup :func:`plan_labeling` calls: the builtin loop can start from any model of the run's
    algorithm, so the label set's serving model (trained on a whole dataset) first
    (``ledger_store.find_reusable_model``); Ground Truth only from its own final active-learning models."""
    builtin = config.labeling.backend == "builtin"
    return lambda fingerprint: find_reusable_model(runs, fingerprint, serving_first=builtin)
