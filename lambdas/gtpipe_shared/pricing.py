"""Labeling prices and costs: the estimate the cost guard checks and the actual cost a run records.

Ground Truth bills every labeled data object a per-object fee and, for each human answer, a per-answer
price that depends on the task type; an object labeled by automated data labeling costs the per-object
fee only (the seeds quote $0.08 per object, $0.012 per classification answer, $0.036 per bounding-box
answer). Prices are configuration (``gtpipe:labelingPrices``), because they vary by region, workforce
and year; these defaults are the seeds' figures. Ground Truth's automated labeling trains and runs its
labeling model inside the job, which reports no instance time: its rounds are priced through the
machine-labeled objects (``per_machine_label_usd``, configurable to include what a round costs per label).

The builtin labeling service (``labeling.backend`` "builtin") is priced as what it is: the AWS requests
one answer makes (:class:`AnswerRequests`, at AWS's public us-east-1 prices, :class:`AwsUnitPrices`) plus,
optionally, what the labelers are paid (``labeling.labeler_hourly_rate_usd`` x seconds per task: assumed
for the estimate, measured for the actual). See :class:`BuiltinPricing`.
"""

from __future__ import annotations

import datetime as dt
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


def estimate_tuning_cost(
    max_jobs: int, instance_count: int, max_runtime_seconds: int, hourly_usd: float
) -> float:
    """Upper bound of a hyperparameter tuning job's training cost (gtpipe:tuning): every one of ``max_jobs``
    trials billed for its maximum runtime on each of its instances at ``hourly_usd`` per instance-hour."""
    if min(max_jobs, instance_count, max_runtime_seconds) < 1 or hourly_usd < 0:
        raise ValueError("trials, instances and runtime must be at least 1 and the hourly price not negative")
    return round(max_jobs * instance_count * max_runtime_seconds / 3600 * hourly_usd, 2)


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


# AWS's public on-demand prices in us-east-1 (first tier; free tiers ignored, so an upper bound):
# API Gateway REST $3.50 per million requests (https://aws.amazon.com/api-gateway/pricing/), Lambda $0.20 per
# million requests and $0.0000166667 per GB-second on x86 (https://aws.amazon.com/lambda/pricing/), DynamoDB
# on-demand $0.125 per million read and $0.625 per million write request units
# (https://aws.amazon.com/dynamodb/pricing/on-demand/), S3 Standard GET $0.0004 per 1,000 requests
# (https://aws.amazon.com/s3/pricing/). Cognito bills per monthly active labeler, not per answer, so a run's
# model leaves it out (README, "Cost warning and cleanup").
@dataclass(frozen=True)
class AwsUnitPrices:
    """US dollars per request (or unit) of the services one builtin answer uses."""

    api_request_usd: float = 3.50 / 1_000_000
    lambda_request_usd: float = 0.20 / 1_000_000
    lambda_gb_second_usd: float = 0.0000166667
    dynamodb_read_unit_usd: float = 0.125 / 1_000_000
    dynamodb_write_unit_usd: float = 0.625 / 1_000_000
    s3_get_usd: float = 0.0004 / 1_000


# The labeling API function's memory (infra/constructs/labeling_service.py) and the billed time assumed for
# one call (it reads and writes a few DynamoDB items; 300 ms is generous for a warm function).
LABELING_API_MEMORY_GB = 512 / 1024
LABELING_API_CALL_SECONDS = 0.3
# Seconds a person spends on one task when the configuration does not say (labeling.secondsPerTask): the
# estimate's assumption; the actual cost uses the seconds the labeling store measured.
DEFAULT_SECONDS_PER_TASK = 30.0


@dataclass(frozen=True)
class AnswerRequests:
    """The AWS requests of one answer on the builtin service's normal path: lease -> image GET -> answer.

    ``POST .../lease`` (API Gateway + one labeling_api invocation) reads the job item once and one page of
    unfinished objects (a consistent query of 25 small items: 3 read units), moves the job's frontier (1 write)
    and takes a slot on the object (1 write). The browser GETs the image once from S3 (presigned). ``POST
    .../answer`` reads the job item once, the object, the job and the worker's count for the progress (4
    reads), writes one 4-item transaction (transactional writes cost 2 units each: 8), and, once per object,
    moves it to done (1 write) and records the run's progress (1 write: the run id is the job item's); those
    per-object requests are counted for every answer (an upper bound).
    """

    api_requests: int = 2
    lambda_invocations: int = 2
    lambda_gb_seconds: float = 2 * LABELING_API_MEMORY_GB * LABELING_API_CALL_SECONDS
    dynamodb_read_units: float = 4 + 4
    dynamodb_write_units: float = 2 + 8 + 1 + 1
    s3_gets: int = 1

    def cost_usd(self, prices: AwsUnitPrices) -> float:
        """The AWS cost of one answer (unrounded)."""
        return (
            self.api_requests * prices.api_request_usd
            + self.lambda_invocations * prices.lambda_request_usd
            + self.lambda_gb_seconds * prices.lambda_gb_second_usd
            + self.dynamodb_read_units * prices.dynamodb_read_unit_usd
            + self.dynamodb_write_units * prices.dynamodb_write_unit_usd
            + self.s3_gets * prices.s3_get_usd
        )


@dataclass(frozen=True)
class BuiltinPricing:
    """The builtin labeling service's price model: AWS requests per answer plus the labelers' pay.

    ``labeler_hourly_rate_usd`` 0 means the labelers are not priced (the default: a team paid otherwise);
    ``seconds_per_task`` is the estimate's assumption of one answer's time.
    """

    labeler_hourly_rate_usd: float = 0.0
    seconds_per_task: float = DEFAULT_SECONDS_PER_TASK
    aws: AwsUnitPrices = field(default_factory=AwsUnitPrices)
    requests: AnswerRequests = field(default_factory=AnswerRequests)

    def __post_init__(self) -> None:
        for name in ("labeler_hourly_rate_usd", "seconds_per_task"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"builtin labeling {name} must be a non-negative number, got {value!r}")

    @property
    def aws_answer_usd(self) -> float:
        """The AWS requests of one answer, in US dollars (unrounded)."""
        return self.requests.cost_usd(self.aws)

    def labeler_usd(self, seconds: float) -> float:
        """What ``seconds`` of labeling pay at the hourly rate (unrounded)."""
        return seconds / 3600 * self.labeler_hourly_rate_usd

    def estimate(self, objects: int, workers_per_object: int) -> float:
        """Before the job: every object answered ``workers_per_object`` times, each in the assumed seconds."""
        if objects < 0 or workers_per_object < 1:
            raise ValueError("object count must not be negative and workers per object at least 1")
        answers = objects * workers_per_object
        return round(answers * (self.aws_answer_usd + self.labeler_usd(self.seconds_per_task)), 2)

    def cost(self, answers: int, seconds: float) -> LabelingCost:
        """After the job: the measured answers' requests plus their measured seconds at the hourly rate
        (all human: the builtin service has no machine labels)."""
        if answers < 0 or seconds < 0:
            raise ValueError("answers and seconds must not be negative")
        return LabelingCost(
            human_usd=round(answers * self.aws_answer_usd + self.labeler_usd(seconds), 2), machine_usd=0.0
        )

    def formula(self, objects: int, workers_per_object: int) -> str:
        """How :meth:`estimate` is computed, for the cost guard's reason."""
        rate = (
            f" + {self.seconds_per_task:g} s x ${self.labeler_hourly_rate_usd:g}/h labeler pay"
            if self.labeler_hourly_rate_usd
            else ""
        )
        return (
            f"{objects:,} objects x {workers_per_object} answers x (${self.aws_answer_usd:.8f} AWS requests"
            f"{rate}) on the builtin labeling service"
        )

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> BuiltinPricing | None:
        """The model of a run's ``config.labeling`` (``backend``, ``labeler_hourly_rate_usd``,
        ``seconds_per_task``; unset: not priced / the default); None when the run labels on Ground Truth."""
        if settings.get("backend") != "builtin":
            return None
        rate, seconds = settings.get("labeler_hourly_rate_usd"), settings.get("seconds_per_task")
        return cls(
            labeler_hourly_rate_usd=0.0 if rate is None else rate,
            seconds_per_task=DEFAULT_SECONDS_PER_TASK if seconds is None else seconds,
        )

    def as_dict(self) -> dict[str, Any]:
        """The ledger's record of the model (rate, assumed seconds, AWS cost of one answer)."""
        return {
            "labeler_hourly_rate_usd": self.labeler_hourly_rate_usd,
            "seconds_per_task": self.seconds_per_task,
            "aws_answer_usd": self.aws_answer_usd,
        }


def measured_work(team: Mapping[str, Any] | None) -> tuple[int, float] | None:
    """``(answers, seconds)`` the builtin service measured, from its team statistics
    (``gtpipe_shared.labeling_stats``: ``answers`` and ``mean_seconds_per_task``); None when they are absent."""
    if not isinstance(team, Mapping):
        return None
    answers, mean = team.get("answers"), team.get("mean_seconds_per_task")
    if isinstance(answers, bool) or not isinstance(answers, int | float) or answers < 0:
        return None
    if isinstance(mean, bool) or not isinstance(mean, int | float) or mean < 0:
        mean = 0.0
    return int(answers), float(answers) * float(mean)


@dataclass(frozen=True)
class TuningEstimate:
    """The worst case of a run's hyperparameter tuning job (``config.tuning``), counted by the run-time cost
    guard: every one of ``trials`` (``max_jobs``) billed for ``max_runtime_seconds`` on ``instance_count``
    instances of ``instance_type`` at :data:`SAGEMAKER_INSTANCE_HOURLY_USD`. ``estimated_usd`` None: the
    instance type has no price there, so the trials are recorded but not counted."""

    trials: int
    instance_type: str
    instance_count: int
    max_runtime_seconds: int
    estimated_usd: float | None

    def formula(self) -> str:
        """How the estimate is computed, naming the trials (for the cost guard's reason)."""
        hourly = SAGEMAKER_INSTANCE_HOURLY_USD.get(self.instance_type)
        price = f"${hourly:g}" if hourly is not None else "an unpriced"
        return (
            f"{self.trials} tuning trials x {self.instance_count} instances x "
            f"{self.max_runtime_seconds / 3600:g} h (training.maxRuntimeSeconds) x {price} per "
            f"{self.instance_type} instance-hour"
        )

    def as_dict(self) -> dict[str, Any]:
        """The ledger's ``tuning`` part of the estimate."""
        return {
            "estimated_usd": self.estimated_usd,
            "trials": self.trials,
            "instance_type": self.instance_type,
            "instance_count": self.instance_count,
            "max_runtime_seconds": self.max_runtime_seconds,
        }


def estimate_tuning(
    trials: int, instance_type: str, instance_count: int, max_runtime_seconds: int
) -> TuningEstimate:
    """The tuning job's worst case at SageMaker's on-demand training price (:func:`instance_usd`); the
    same product :func:`estimate_tuning_cost` computes at synth from a configured hourly price."""
    usd = instance_usd(instance_type, instance_count, trials * max_runtime_seconds)
    return TuningEstimate(
        trials=trials,
        instance_type=instance_type,
        instance_count=instance_count,
        max_runtime_seconds=max_runtime_seconds,
        estimated_usd=None if usd is None else round(usd, 2),
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
    # How the estimate was computed when not at Ground Truth's prices (the builtin service's model).
    formula: str | None = None
    # The run's tuning job (gtpipe:tuning), counted with the labeling estimate against the budget.
    tuning: TuningEstimate | None = None

    @property
    def total_usd(self) -> float:
        """Labeling plus the tuning worst case (when tuning is on and priced); ``estimated_usd`` stays the
        labeling part, which the run's actual labeling cost is compared with."""
        tuning = self.tuning.estimated_usd if self.tuning and self.tuning.estimated_usd else 0.0
        return round(self.estimated_usd + tuning, 2)

    @property
    def exceeded(self) -> bool:
        """True when a budget is set and the total estimate is above it (an estimate equal to it passes)."""
        return self.budget_usd is not None and self.total_usd > self.budget_usd

    def reason(self) -> str:
        """The refusal reason, naming the estimate, how it was computed (the trials too) and the budget."""
        budget = "no budget" if self.budget_usd is None else f"the labeling budget ${self.budget_usd:,.2f}"
        verdict = "exceeds" if self.exceeded else "is within"
        formula = self.formula or (
            f"{self.objects:,} objects x (${self.per_object_usd:g} per object + {self.workers_per_object} "
            f"workers x ${self.per_answer_usd:g} per {self.task_type} answer)"
        )
        labeling = f"estimated labeling cost ${self.estimated_usd:,.2f} ({formula})"
        if self.tuning is None:
            return f"{labeling} {verdict} {budget} (gtpipe:labelingBudgetUsd)"
        if self.tuning.estimated_usd is None:
            tuning = f"tuning not counted ({self.tuning.formula()})"
        else:
            tuning = f"tuning worst case ${self.tuning.estimated_usd:,.2f} ({self.tuning.formula()})"
        return (
            f"estimated cost ${self.total_usd:,.2f}: {labeling} + {tuning} {verdict} {budget} "
            "(gtpipe:labelingBudgetUsd)"
        )

    def as_dict(self) -> dict[str, Any]:
        """``{"estimated_usd", "budget_usd", "objects", "workers_per_object"}`` for the ledger, plus
        ``total_usd`` and the ``tuning`` part when the run tunes."""
        answer: dict[str, Any] = {
            "estimated_usd": self.estimated_usd,
            "budget_usd": self.budget_usd,
            "objects": self.objects,
            "workers_per_object": self.workers_per_object,
        }
        if self.tuning is not None:
            answer["total_usd"] = self.total_usd
            answer["tuning"] = self.tuning.as_dict()
        return answer


def check_labeling_budget(
    objects: int,
    workers_per_object: int,
    task_type: str,
    prices: LabelingPrices,
    budget_usd: float | None,
    builtin: BuiltinPricing | None = None,
    tuning: TuningEstimate | None = None,
) -> BudgetCheck:
    """Estimate a labeling job (every object labeled by people: the upper bound) against a budget.

    ``budget_usd`` None means no limit. With automated labeling the actual cost is lower than this estimate
    whenever a machine label costs less than a human-labeled object (as with the seeds' prices). ``builtin``
    (the builtin labeling service's model) prices the job by its answers instead of Ground Truth's prices.
    ``tuning`` (the run's tuning job, :func:`estimate_tuning`) is added to the estimate the budget checks.
    """
    if budget_usd is not None and (isinstance(budget_usd, bool) or budget_usd < 0):
        raise ValueError(f"labeling budget must be a non-negative number, got {budget_usd!r}")
    return BudgetCheck(
        objects=objects,
        workers_per_object=workers_per_object,
        task_type=task_type,
        estimated_usd=estimate_labeling_cost(objects, workers_per_object, task_type, prices)
        if builtin is None
        else builtin.estimate(objects, workers_per_object),
        budget_usd=None if budget_usd is None else float(budget_usd),
        per_object_usd=float(prices.per_object_usd),
        per_answer_usd=prices.answer_price(task_type),
        formula=None if builtin is None else builtin.formula(objects, workers_per_object),
        tuning=tuning,
    )


# --- Serving: what a real-time endpoint's instances cost per hour (idle parking's "cost avoided") ------------

# On-demand real-time inference, us-east-1, USD per instance-hour (https://aws.amazon.com/sagemaker/pricing/,
# "Real-Time Inference"). An instance type not listed is not priced: the ledger then records hours only.
ENDPOINT_HOURLY_USD: Mapping[str, float] = {
    "ml.t2.medium": 0.056,
    "ml.m5.large": 0.115,
    "ml.m5.xlarge": 0.23,
    "ml.m5.2xlarge": 0.461,
    "ml.c5.large": 0.102,
    "ml.c5.xlarge": 0.204,
    "ml.g4dn.xlarge": 0.7364,
    "ml.p3.2xlarge": 3.825,
}


def endpoint_hourly_usd(instance_type: str | None, instance_count: int = 1) -> float | None:
    """What ``instance_count`` instances of ``instance_type`` cost per hour as a real-time endpoint; None when
    the type is not in :data:`ENDPOINT_HOURLY_USD`."""
    price = ENDPOINT_HOURLY_USD.get(str(instance_type or ""))
    return None if price is None else price * max(int(instance_count), 0)


# --- Jobs: what training and batch transform instances cost (the builtin loop's labeling models) ---------

# SageMaker on-demand prices per instance-hour of training and batch transform (us-east-1; for these types
# the same as ENDPOINT_HOURLY_USD's where both list one), https://aws.amazon.com/sagemaker-ai/pricing/ ; an
# instance type not listed is not priced.
SAGEMAKER_INSTANCE_HOURLY_USD: Mapping[str, float] = {
    "ml.m5.large": 0.115,
    "ml.m5.xlarge": 0.23,
    "ml.m5.2xlarge": 0.461,
    "ml.c5.xlarge": 0.204,
    "ml.c5.2xlarge": 0.408,
    "ml.g4dn.xlarge": 0.7364,
    "ml.g5.xlarge": 1.408,
    "ml.p3.2xlarge": 3.825,
}


def instance_usd(instance_type: str, instance_count: int, seconds: float) -> float | None:
    """What ``instance_count`` SageMaker instances of ``instance_type`` cost for ``seconds`` (a training
    job's ``BillableTimeInSeconds`` is billed per instance: "BillableTimeInSeconds * InstanceCount",
    https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/sagemaker/aws.sdk.kotlin.services.sagemaker.model/-describe-training-job-response/billable-time-in-seconds.html);
    None when the type has no price in :data:`SAGEMAKER_INSTANCE_HOURLY_USD` (unrounded)."""
    if instance_count < 0 or seconds < 0:
        raise ValueError("instance count and seconds must not be negative")
    hourly = SAGEMAKER_INSTANCE_HOURLY_USD.get(instance_type)
    return None if hourly is None else hourly * instance_count * seconds / 3600


def _sagemaker_time(value: Any) -> dt.datetime | None:
    """A SageMaker timestamp as the state machine passes it: epoch seconds or milliseconds, or ISO text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value / 1000 if value > 1e11 else value, dt.UTC)
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return None


def labeling_round_cost(training: Any, transform: Any) -> dict[str, Any]:
    """The round's SageMaker cost (:func:`instance_usd`): the training job's
    billable seconds per instance, and the transform's instances from creation to end (an upper bound:
    DescribeTransformJob reports no billable time). ``usd`` None when an instance type has no price."""
    seconds = {"training": 0.0, "transform": 0.0}
    usd: float | None = 0.0
    for name, job in (("training", training), ("transform", transform)):
        if not isinstance(job, Mapping):
            continue
        if name == "training":
            spent = float(job.get("billable_seconds") or 0)
        else:
            created, ended = _sagemaker_time(job.get("created")), _sagemaker_time(job.get("ended"))
            spent = max((ended - created).total_seconds(), 0.0) if created and ended else 0.0
        seconds[name] = round(spent, 1)
        price = instance_usd(str(job.get("instance_type")), int(job.get("instance_count") or 1), spent)
        usd = None if price is None or usd is None else usd + price
    return {"training_seconds": seconds["training"], "transform_seconds": seconds["transform"], "usd": usd}
