"""The label set's tuning jobs in the runs ledger, for warm start (``gtpipe:tuning`` ``warmStart``; README
"Hyperparameter tuning").

Every run that tunes records its tuning job's name on its run item (``tuning_job_name``: the Tune state names
the job ``States.Hash($.run_id, 'MD5')``, so start_run knows it before the execution starts) and in its label
set's index item ``@tuning#<labeling fingerprint>`` (task type + class names, ``ledger.labeling_fingerprint``,
the same key reuseModel and the model registry group use), newest last, at most :data:`KEPT` entries. Each
entry carries the tuning *signature*: the objective metric, each tuned hyperparameter's type and the static
hyperparameter names, which SageMaker requires to match between a warm start job and its parents
("Warm Start Tuning Restrictions", https://docs.aws.amazon.com/sagemaker/latest/dg/automatic-model-tuning-warm-start.html).

:func:`find_parent_tuning_job` returns the newest earlier entry of the same signature whose run ended
SUCCEEDED or REJECTED (its tuning job then completed: SageMaker also accepts Stopped and Failed parents, but a
run that failed may have failed before its tuning job ended, and a parent must be in a terminal state). The
cost is one GetItem on the index item plus one per candidate (at most :data:`KEPT`), whatever the ledger's size.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from botocore.exceptions import ClientError

from gtpipe_shared import ledger
from gtpipe_shared.config import PipelineConfig
from gtpipe_shared.ledger_store import get_run

INDEX_PREFIX = "@tuning#"
KEPT = 10
# Run statuses whose tuning job certainly completed (the run got past Tune and DescribeBestTrainingJob).
FINISHED = (ledger.SUCCEEDED, ledger.REJECTED)
_KIND = {
    "ContinuousParameterRanges": "continuous",
    "IntegerParameterRanges": "integer",
    "CategoricalParameterRanges": "categorical",
}


def tuning_job_name(run_id: str) -> str:
    """The run's tuning job name: the MD5 of the run id in hex, as the Tune state computes it."""
    return hashlib.md5(run_id.encode(), usedforsecurity=False).hexdigest()


def index_id(config: PipelineConfig) -> str:
    """The ``run_id`` of the label set's index item."""
    return INDEX_PREFIX + ledger.labeling_fingerprint(config.task_type, config.label_categories)


def signature(config: PipelineConfig) -> str:
    """What must match between a warm start job and its parent: objective metric, tuned types, static names."""
    tuning = config.tuning
    if tuning is None:
        raise ValueError("the run does not tune")
    kinds = {str(i["Name"]): _KIND[k] for k, items in tuning.parameter_ranges.items() for i in items}
    text = json.dumps(
        [tuning.objective_metric, sorted(kinds.items()), sorted(config.training.hyperparameters)],
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def find_parent_tuning_job(table: Any, config: PipelineConfig, run_id: str) -> str | None:
    """The newest earlier tuning job of the label set with the same signature whose run finished
    (SUCCEEDED or REJECTED), or None."""
    item = get_run(table, index_id(config)) or {}
    wanted = signature(config)
    for entry in reversed(item.get("jobs") or []):
        if not isinstance(entry, dict) or entry.get("run_id") == run_id or entry.get("signature") != wanted:
            continue
        run = get_run(table, str(entry.get("run_id")))
        if run and run.get("status") in FINISHED:
            return str(entry["tuning_job_name"])
    return None


def record_tuning_job(table: Any, config: PipelineConfig, run_id: str, now: str) -> None:
    """Append the run's tuning job to the label set's index item (kept to the newest :data:`KEPT`)."""
    entry = {
        "run_id": run_id,
        "tuning_job_name": tuning_job_name(run_id),
        "signature": signature(config),
        "at": now,
    }
    key = {"run_id": index_id(config)}
    answer = table.update_item(
        Key=key,
        UpdateExpression="SET jobs = list_append(if_not_exists(jobs, :empty), :entry), updated_at = :now",
        ExpressionAttributeValues={":empty": [], ":entry": [entry], ":now": now},
        ReturnValues="ALL_NEW",
    )
    extra = len(answer.get("Attributes", {}).get("jobs", [])) - KEPT
    if extra > 0:
        table.update_item(Key=key, UpdateExpression="REMOVE " + ", ".join(f"jobs[{i}]" for i in range(extra)))


def plan_tuning(table: Any, config: PipelineConfig, run_id: str, now: str) -> dict[str, Any]:
    """start_run's tuning step: with ``warmStart`` the parent (before this run is recorded, so never itself),
    then the run recorded. Returns the run item's attributes (``tuning_job_name``, ``tuning_parent_job_name``
    when warm-started); {} when the run does not tune. A failed lookup does not stop the run: it tunes cold,
    and ``tuning_lookup_error`` says why (as reuseModel's lookup does)."""
    if config.tuning is None:
        return {}
    attributes = {"tuning_job_name": tuning_job_name(run_id)}
    parent = None
    if config.tuning.warm_start:
        try:
            parent = find_parent_tuning_job(table, config, run_id)
        except ClientError as exc:
            attributes["tuning_lookup_error"] = str(exc)[:500]
    record_tuning_job(table, config, run_id, now)
    if parent:
        attributes["tuning_parent_job_name"] = parent
    return attributes
