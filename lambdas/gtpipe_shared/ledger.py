"""Runs-ledger item shapes and DynamoDB update builders (see docs/design.md, "Runs ledger").

Events arrive at least once and out of order (EventBridge, SageMaker, Step Functions retries), so every
write is conditional:

* a step record only moves forward: a record replaces the stored one when its status rank is higher
  (in progress < terminal), or when the rank is equal and its event time is not older. A late
  ``InProgress`` event can never overwrite ``Completed``.
* a run's status leaves ``RUNNING`` once; the same terminal status may be written again (retries), a
  different one may not.

Times are ISO-8601 UTC strings with microseconds (``2024-01-01T00:00:00.000000Z``): fixed width, so they
compare correctly as strings inside DynamoDB condition expressions.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from gtpipe_shared.pricing import BuiltinPricing, LabelingCost, LabelingPrices, labeling_cost, measured_work

RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
REJECTED = "REJECTED"
FAILED = "FAILED"
RUN_STATUSES = (RUNNING, SUCCEEDED, REJECTED, FAILED)
SERVING_RUN_ID = "@serving"

# Model reuse for labeling. Every run that labels carries `labeling_fingerprint`; only runs whose labeling
# job left a final active-learning model also carry `labeling_model_at`, so the index (partition
# fingerprint, sort time) is sparse and holds exactly the reusable models, newest last. The
# infrastructure declares the same index name (infra/constructs/ledger.py).
LABELING_MODEL_INDEX = "labeling-model-by-fingerprint"
FINGERPRINT_ATTRIBUTE = "labeling_fingerprint"
MODEL_AT_ATTRIBUTE = "labeling_model_at"
FINAL_MODEL_ATTRIBUTE = "final_active_learning_model_arn"

# Statuses after which a step does not change again. Everything else (InProgress, Creating, Updating,
# Stopping, Initializing, SystemUpdating, RollingBack, ...) is "in progress".
TERMINAL_STATUSES = frozenset(
    {
        "Completed",
        "Failed",
        "Stopped",
        "InService",
        "Created",
        "Deleted",
        "UpdateRollbackFailed",
        "Succeeded",
        "SUCCEEDED",
        "FAILED",
        "REJECTED",
        "TIMED_OUT",
        "ABORTED",
    }
)
FAILURE_STATUSES = frozenset({"Failed", "Stopped", "UpdateRollbackFailed", "FAILED", "TIMED_OUT", "ABORTED"})


def now_iso(moment: datetime | None = None) -> str:
    """Fixed-width ISO-8601 UTC timestamp (microseconds, ``Z``)."""
    moment = moment or datetime.now(tz=UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def status_rank(status: str) -> int:
    """1 for in-progress statuses, 2 for terminal ones."""
    return 2 if status in TERMINAL_STATUSES else 1


def to_dynamo(value: Any) -> Any:
    """Convert floats to Decimal (recursively) for the DynamoDB resource API; drop None map values."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {str(k): to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [to_dynamo(v) for v in value]
    return value


def from_dynamo(value: Any) -> Any:
    """Convert Decimal back to int/float (recursively) so items serialize to JSON."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamo(v) for v in value]
    if isinstance(value, set):
        return sorted(from_dynamo(v) for v in value)
    return value


_DESERIALIZER = TypeDeserializer()


def from_low_level_item(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A low-level (client API, ``{"S": ...}``) DynamoDB item as plain Python, as :func:`from_dynamo` gives
    a resource API item: Decimals become int/float, sets sorted lists."""
    return {key: from_dynamo(_DESERIALIZER.deserialize(value)) for key, value in raw.items()}


@dataclass
class Update:
    """Keyword arguments for ``Table.update_item`` (resource API)."""

    update_expression: str
    condition_expression: str
    names: dict[str, str]
    values: dict[str, Any]

    def kwargs(self, run_id: str, *, return_values: str = "ALL_OLD") -> dict[str, Any]:
        """``update_item`` keyword arguments for the item ``run_id``."""
        return {
            "Key": {"run_id": run_id},
            "UpdateExpression": self.update_expression,
            "ConditionExpression": self.condition_expression,
            "ExpressionAttributeNames": self.names,
            "ExpressionAttributeValues": to_dynamo(self.values),
            "ReturnValues": return_values,
        }


@dataclass
class StepRecord:
    """``steps.<name>`` in a run item. ``event_time`` orders records of equal rank."""

    status: str
    event_time: str
    job_name: str | None = None
    secondary_status: str | None = None
    failure_reason: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_item(self) -> dict[str, Any]:
        """The stored map (None fields left out)."""
        item: dict[str, Any] = {**self.extra}
        item.update(
            {
                "status": self.status,
                "rank": status_rank(self.status),
                "event_time": self.event_time,
                "job_name": self.job_name,
                "secondary_status": self.secondary_status,
                "failure_reason": self.failure_reason[:1024] if self.failure_reason else None,
                "started_at": self.started_at,
                "ended_at": self.ended_at,
            }
        )
        return {k: v for k, v in item.items() if v is not None}


def new_run_item(
    run_id: str,
    *,
    status: str,
    input_bucket: str,
    input_key: str,
    input_version_id: str | None,
    manifest_kind: str | None,
    task_type: str | None,
    now: str,
    failure: dict[str, Any] | None = None,
    errors: list[str] | None = None,
    line_count: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A new run item (written with ``attribute_not_exists(run_id)``).

    ``extra`` adds attributes such as ``labeling_fingerprint``, ``labeling_cost`` or ``reused_model_arn``;
    it may not replace the attributes set here.
    """
    if status not in RUN_STATUSES:
        raise ValueError(f"unknown run status '{status}'")
    item: dict[str, Any] = {
        "run_id": run_id,
        "status": status,
        "input_bucket": input_bucket,
        "input_key": input_key,
        "input_version_id": input_version_id or "null",
        "manifest_kind": manifest_kind,
        "task_type": task_type,
        "line_count": line_count,
        "created_at": now,
        "updated_at": now,
        "steps": {},
        "failure": failure,
        "errors": errors,
    }
    clashes = sorted(set(extra or {}) & set(item))
    if clashes:
        raise ValueError(f"extra attributes may not replace {', '.join(clashes)}")
    item.update(extra or {})
    return {k: v for k, v in item.items() if v is not None}


# The job step (``steps.<name>``, written from the job's own state-change events) that a failed run's
# ``failure.step`` names. The run's end records it too: the state machine's .sync polling can see a job fail
# before the job's event reaches job_status, and a failed run must not show its job still InProgress.
JOB_STEP_OF_FAILURE = {"labeling": "label", "training": "train", "transform": "xform"}


def failed_job_step(old_step: Mapping[str, Any] | None, cause: str, now: str) -> StepRecord:
    """The record of the job step that ended a run FAILED; the stored record's job name and start are kept."""
    old_step = old_step or {}
    return StepRecord(
        status="Failed",
        event_time=now,
        job_name=old_step.get("job_name"),
        failure_reason=cause,
        started_at=old_step.get("started_at"),
        ended_at=now,
    )


def step_update(step: str, record: StepRecord, now: str) -> Update:
    """Set ``steps.<step>`` unless the stored record is further along (see module docstring).

    The run must exist (``attribute_exists(run_id)``): events for unknown runs never create items.
    """
    item = record.as_item()
    return Update(
        update_expression="SET #steps.#step = :record, #updated = :now",
        condition_expression=(
            "attribute_exists(run_id) AND (attribute_not_exists(#steps.#step) "
            "OR #steps.#step.#rank < :rank "
            "OR (#steps.#step.#rank = :rank AND #steps.#step.#event_time <= :event_time))"
        ),
        names={
            "#steps": "steps",
            "#step": step,
            "#rank": "rank",
            "#event_time": "event_time",
            "#updated": "updated_at",
        },
        values={":record": item, ":rank": item["rank"], ":event_time": record.event_time, ":now": now},
    )


def ensure_steps_update() -> Update:
    """Create an empty ``steps`` map on an existing item that lacks one (older or foreign items)."""
    return Update(
        update_expression="SET #steps = if_not_exists(#steps, :empty)",
        condition_expression="attribute_exists(run_id)",
        names={"#steps": "steps"},
        values={":empty": {}},
    )


def status_update(
    status: str,
    now: str,
    *,
    failure: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Update:
    """Move a run to a terminal ``status`` (allowed from RUNNING, or repeating the same status)."""
    if status not in RUN_STATUSES:
        raise ValueError(f"unknown run status '{status}'")
    sets = ["#status = :status", "#updated = :now"]
    names = {"#status": "status", "#updated": "updated_at"}
    values: dict[str, Any] = {":status": status, ":now": now, ":running": RUNNING}
    if status != RUNNING:
        sets.append("#ended = if_not_exists(#ended, :now)")
        names["#ended"] = "ended_at"
    optional = {"failure": failure, "metrics": metrics, **(extra or {})}
    for index, (name, value) in enumerate(sorted(optional.items())):
        if value is None:
            continue
        sets.append(f"#o{index} = :o{index}")
        names[f"#o{index}"] = name
        values[f":o{index}"] = value
    return Update(
        update_expression="SET " + ", ".join(sets),
        condition_expression="attribute_exists(run_id) AND (#status = :running OR #status = :status)",
        names=names,
        values=values,
    )


def notified_update(status: str, message_id: str, now: str) -> Update:
    """Record that the notification for ``status`` was published (retries then skip publishing)."""
    return Update(
        update_expression="SET #notified = :status, #notified_at = :now, #message_id = :message_id",
        condition_expression="attribute_exists(run_id)",
        names={
            "#notified": "notified_status",
            "#notified_at": "notified_at",
            "#message_id": "notification_id",
        },
        values={":status": status, ":now": now, ":message_id": message_id},
    )


def serving_item(
    *,
    endpoint_name: str,
    endpoint_config_name: str,
    model_name: str,
    class_names: list[str],
    source_run_id: str,
    metrics: dict[str, Any] | None,
    task_type: str,
    now: str,
    model_package_arn: str | None = None,
    deployed_by_run_id: str | None = None,
    serving_model: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``@serving`` item the predict function reads.

    ``source_run_id`` is the run whose model serves; ``deployed_by_run_id`` the execution that deployed it
    (the same run, or a rollback's ``rollback-...`` id); ``model_package_arn`` the registry version serving;
    ``serving_model`` its artifact, training image and architecture (``gtpipe_shared.incremental``: a
    feedback run warm-starts from it).
    """
    optional = {
        "model_package_arn": model_package_arn,
        "deployed_by_run_id": deployed_by_run_id,
        "serving_model": serving_model,
    }
    return {
        **{k: v for k, v in optional.items() if v},
        "run_id": SERVING_RUN_ID,
        "endpoint_name": endpoint_name,
        "endpoint_config_name": endpoint_config_name,
        "model_name": model_name,
        "class_names": list(class_names),
        "source_run_id": source_run_id,
        "metrics": metrics or {},
        "task_type": task_type,
        "updated_at": now,
    }


# --- Labeling: counters, cost and the model a later run may reuse -------------------------------------


def labeling_fingerprint(task_type: str, class_names: Sequence[str]) -> str:
    """What a labeling model predicts, as an index key: the task type and the class names in class-id order.

    Order matters: class ids are positions in the list, so ``["cat", "dog"]`` and ``["dog", "cat"]`` are
    different label sets and their models must not be exchanged.
    """
    if not class_names:
        raise ValueError("a labeling fingerprint needs at least one class name")
    canonical = json.dumps(
        {"task_type": task_type, "class_names": [str(name) for name in class_names]},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return "lf1-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def label_counters(raw: Mapping[str, Any] | None) -> dict[str, int]:
    """``{"human", "machine", "total", "failed", "unlabeled"}`` from DescribeLabelingJob ``LabelCounters``.

    Missing counters are 0 (SageMaker leaves out counters that never moved).
    """
    raw = raw or {}
    names = {
        "human": "HumanLabeled",
        "machine": "MachineLabeled",
        "total": "TotalLabeled",
        "failed": "FailedNonRetryableError",
        "unlabeled": "Unlabeled",
    }
    counters: dict[str, int] = {}
    for name, field_name in names.items():
        value = raw.get(field_name, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"LabelCounters.{field_name} must be a non-negative number, got {value!r}")
        counters[name] = int(value)
    return counters


def labeling_cost_record(
    *,
    counters: Mapping[str, int],
    workers_per_object: int,
    task_type: str,
    prices: LabelingPrices,
    estimated_usd: float | None,
    budget_usd: float | None,
    builtin: BuiltinPricing | None = None,
    team: Mapping[str, Any] | None = None,
    auto_labeling: Mapping[str, Any] | None = None,
    tuning: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``labeling_cost`` of a run item: the estimate the cost guard checked next to the actual cost.

    With ``builtin`` (a run on the builtin labeling service) the actual cost is the measured answers'
    AWS requests plus their measured seconds at the labeler rate, from ``team`` (its team statistics);
    without them, every human-labeled object's ``workers_per_object`` answers at the assumed seconds. The
    record then adds ``answers``, ``seconds`` and the model (``builtin``). With ``auto_labeling`` (the
    builtin service's automated labeling: its rounds and ``model_usd``, the labeling models' SageMaker
    training and transform cost) the machine labels cost ``model_usd`` (``machine_usd``, in the actual
    cost; unpriced instance types leave it out and say so with ``model_usd`` None) and the record adds
    ``model_usd`` and ``model_rounds``. ``tuning`` (the tuning part of start_run's estimate, when the run
    tunes) is kept as ``tuning``, with ``total_usd`` the labeling estimate plus its ``estimated_usd``.
    """
    if builtin is None:
        actual = labeling_cost(counters["human"], counters["machine"], workers_per_object, task_type, prices)
        extra: dict[str, Any] = {}
    else:
        measured = measured_work(team)
        if measured is None:
            answers = counters["human"] * workers_per_object
            measured = (answers, answers * builtin.seconds_per_task)
        actual = builtin.cost(*measured)
        extra = {"answers": measured[0], "seconds": round(measured[1], 2), "builtin": builtin.as_dict()}
        if isinstance(auto_labeling, Mapping):
            model_usd = auto_labeling.get("model_usd")
            rounds = auto_labeling.get("rounds")
            if isinstance(model_usd, int | float) and not isinstance(model_usd, bool):
                actual = LabelingCost(human_usd=actual.human_usd, machine_usd=round(float(model_usd), 2))
            extra["model_usd"] = model_usd if isinstance(model_usd, int | float) else None
            extra["model_rounds"] = len(rounds) if isinstance(rounds, list) else 0
    return {
        "estimated_usd": estimated_usd,
        "budget_usd": budget_usd,
        "actual_usd": actual.total_usd,
        "human_usd": actual.human_usd,
        "machine_usd": actual.machine_usd,
        "prices": prices.as_dict(),
        **extra,
        **_tuning_part(estimated_usd, tuning),
    }


def _tuning_part(estimated_usd: float | None, tuning: Mapping[str, Any] | None) -> dict[str, Any]:
    if not isinstance(tuning, Mapping):
        return {}
    usd = tuning.get("estimated_usd")
    counted = float(usd) if isinstance(usd, int | float) and not isinstance(usd, bool) else 0.0
    total = None if estimated_usd is None else round(estimated_usd + counted, 2)
    return {"tuning": dict(tuning), "total_usd": total}


def labeling_update(
    *,
    job_arn: str | None,
    counters: Mapping[str, int],
    cost: Mapping[str, Any],
    final_model_arn: str | None,
    reused_model_arn: str | None,
    reused_model_source_run_id: str | None,
    now: str,
    team: Mapping[str, Any] | None = None,
) -> Update:
    """Record a completed labeling job on its run.

    A final active-learning model also sets ``labeling_model_at`` (kept from the first write, so retries
    do not reorder runs), which puts the run into the reusable-model index. ``team`` (the builtin labeling
    service's team statistics) is stored as ``labeling_team``.
    """
    sets = ["#counters = :counters", "#cost = :cost", "#updated = :now"]
    names = {"#counters": "label_counters", "#cost": "labeling_cost", "#updated": "updated_at"}
    values: dict[str, Any] = {":counters": dict(counters), ":cost": dict(cost), ":now": now}
    optional = {
        "labeling_job_arn": job_arn,
        "reused_model_arn": reused_model_arn,
        "reused_model_source_run_id": reused_model_source_run_id,
        FINAL_MODEL_ATTRIBUTE: final_model_arn,
        "labeling_team": dict(team) if team else None,
    }
    for index, (name, value) in enumerate(optional.items()):
        if value:
            sets.append(f"#l{index} = :l{index}")
            names[f"#l{index}"] = name
            values[f":l{index}"] = value
    if final_model_arn:
        sets.append("#model_at = if_not_exists(#model_at, :now)")
        names["#model_at"] = MODEL_AT_ATTRIBUTE
    return Update(
        update_expression="SET " + ", ".join(sets),
        condition_expression="attribute_exists(run_id)",
        names=names,
        values=values,
    )
