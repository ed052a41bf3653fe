"""notify: ledger bookkeeping and SNS notifications for the state machine.

Actions:

* ``step``: record ``steps.<step>`` (status plus any extra fields) with the ordering rules.
* ``labeled``: record a completed labeling job (``task_type`` required): ``label_counters`` (human, machine, total, failed,
  unlabeled), ``labeling_cost`` (estimated vs actual), the final active-learning model (which makes the
  run's model reusable by later runs), the reused model, if any, and the builtin labeling service's team
  statistics (``labeling.team``, stored as ``labeling_team``).
* ``publish``: write the ``@serving`` item the predict function reads (``task_type`` required): which run's
  model serves (``model_package.source_run_id`` for a rollback, else the run), its model package, and the run
  or rollback that deployed it.
* ``champion``: the serving model the new one is compared with (``gtpipe_shared.champion``): ``found``
  true with its ``model_name`` and ``source_run_id`` when ``@serving`` serves the same label set and the
  champion/challenger gate is ``enabled``; ``found`` false otherwise (the run is then gated as before).
* ``succeeded`` / ``rejected``: end the run with its metrics and notify.
* ``failed``: end the run with ``failure: {step, error, cause}`` and notify.

The three final actions take the run report step's result (``report``): its ``report_uri`` is stored on
the run and linked from the notification (S3 URI and S3 console page); a report error is stored as
``report_error`` and never changes the run's outcome.

Every action is safe to retry: ledger writes are conditional and a notification already recorded on the
item is not published again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from gtpipe_shared import incremental, ledger
from gtpipe_shared.aws import table
from gtpipe_shared.champion import champion_for
from gtpipe_shared.config import require_env
from gtpipe_shared.ledger_store import finish_run, get_run, publish_once, record_labeling, record_step
from gtpipe_shared.naming import s3_console_url
from gtpipe_shared.payload import payload_action
from gtpipe_shared.pricing import BuiltinPricing, LabelingPrices
from gtpipe_shared.s3uri import S3UriError, parse_s3_uri
from gtpipe_shared.tasks import task_spec

logger = Logger()
tracer = Tracer()
metrics = Metrics()

FINAL_ACTIONS = {"succeeded": ledger.SUCCEEDED, "rejected": ledger.REJECTED, "failed": ledger.FAILED}
STEP_RESERVED = {"action", "run_id", "step", "status"}
CAUSE_MAX = 4000


class InvalidRequest(ValueError):
    """The payload lacks a field or names an unknown action."""


def _required(event: dict[str, Any], name: str) -> str:
    value = event.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"notify payload field '{name}' must be a non-empty string")
    return value


def _task_type(event: Mapping[str, Any]) -> str:
    """The payload's ``task_type`` (the state machine passes ``$.config.task_type``); InvalidRequest when it
    is missing or not a registered task type (no task type is assumed)."""
    value = _required(dict(event), "task_type")
    try:
        return task_spec(value).value
    except ValueError as exc:
        raise InvalidRequest(f"notify payload field 'task_type': {exc}") from None


def readable_cause(cause: Any) -> str:
    """A human-readable failure cause.

    Step Functions passes a Lambda failure as a JSON string ``{"errorMessage", "errorType", ...}`` and a
    SageMaker failure as a JSON string with ``FailureReason``; show the message, not the JSON.
    """
    if cause is None:
        return ""
    if isinstance(cause, dict):
        parsed: Any = cause
    else:
        text = str(cause)
        try:
            parsed = json.loads(text)
        except ValueError:
            return text[:CAUSE_MAX]
    if isinstance(parsed, dict):
        for key in ("errorMessage", "FailureReason", "Cause", "message"):
            if isinstance(parsed.get(key), str) and parsed[key]:
                return str(parsed[key])[:CAUSE_MAX]
    return json.dumps(parsed, default=str)[:CAUSE_MAX]


TIMEOUT_ERRORS = frozenset({"States.Timeout", "States.HeartbeatTimeout"})


def failure_cause(error: str, cause: Any) -> str:
    """The readable cause, or, when Step Functions gave none (a task timeout has no cause), one derived
    from the error name, so every recorded failure has a reason."""
    text = readable_cause(cause)
    if text:
        return text
    if error in TIMEOUT_ERRORS:
        return f"{error}: the step got no answer or heartbeat within its configured time"
    return f"{error} (no cause was reported)"


@tracer.capture_method
def record(event: dict[str, Any], runs: Any) -> dict[str, Any]:
    """``action: step``."""
    run_id, step, status = _required(event, "run_id"), _required(event, "step"), _required(event, "status")
    extra = {k: v for k, v in event.items() if k not in STEP_RESERVED and v is not None}
    now = ledger.now_iso()
    rank = ledger.status_rank(status)
    record_ = ledger.StepRecord(
        status=status,
        event_time=now,
        job_name=extra.pop("job_name", None),
        failure_reason=extra.pop("failure_reason", None),
        started_at=extra.pop("started_at", None) or (now if rank == 1 else None),
        ended_at=extra.pop("ended_at", None) or (now if rank == 2 else None),
        extra=extra,
    )
    result = record_step(runs, run_id, step, record_, now)
    return {"run_id": run_id, "step": step, "status": status, "outcome": result.outcome}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def labeling_attributes(event: Mapping[str, Any]) -> dict[str, Any]:
    """What a completed labeling job adds to its run, from the ``labeled`` payload.

    ``labeling`` is the Label state's result (``job_arn``, ``counters``: LabelCounters, ``job_output``:
    LabelingJobOutput; the builtin labeling service adds ``team``, its team statistics); ``settings`` is the
    execution input's ``config.labeling`` (workers per object, prices, the cost guard's estimate and
    budget, the reused model).
    """
    labeling = event.get("labeling")
    settings = event.get("settings")
    if not isinstance(labeling, Mapping) or not isinstance(settings, Mapping):
        raise InvalidRequest("notify 'labeled' payload needs the objects 'labeling' and 'settings'")
    task_type = _task_type(event)
    try:
        counters = ledger.label_counters(labeling.get("counters"))
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from exc
    job_output = labeling.get("job_output")
    final_model = job_output.get("FinalActiveLearningModelArn") if isinstance(job_output, Mapping) else None
    workers = settings.get("workers_per_object")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidRequest(f"settings.workers_per_object must be a whole number >= 1, got {workers!r}")
    team = labeling.get("team")
    if team is not None and not isinstance(team, Mapping):
        raise InvalidRequest(
            f"labeling.team must be an object (the team statistics), got {type(team).__name__}"
        )
    try:
        prices = LabelingPrices.from_mapping(settings.get("prices"))
        cost = ledger.labeling_cost_record(
            counters=counters,
            workers_per_object=workers,
            task_type=task_type,
            prices=prices,
            estimated_usd=_number(settings.get("estimated_cost_usd")),
            budget_usd=_number(settings.get("budget_usd")),
            # The builtin service's runs are priced by their measured answers and seconds.
            builtin=BuiltinPricing.from_settings(settings),
            team=team,
            # The builtin service's automated labeling: its labeling models' SageMaker cost.
            auto_labeling=labeling.get("auto_labeling"),
            # The tuning part of the cost guard's estimate (start_run), kept next to the labeling part.
            tuning=settings.get("tuning_estimate")
            if isinstance(settings.get("tuning_estimate"), Mapping)
            else None,
        )
    except ValueError as exc:
        raise InvalidRequest(f"labeling cost: {exc}") from exc
    reused = settings.get("initial_active_learning_model_arn")
    return {
        "job_arn": labeling.get("job_arn") if isinstance(labeling.get("job_arn"), str) else None,
        "counters": counters,
        "cost": cost,
        "final_model_arn": final_model if isinstance(final_model, str) and final_model else None,
        "reused_model_arn": reused if isinstance(reused, str) and reused else None,
        "reused_model_source_run_id": settings.get("initial_model_source_run_id") if reused else None,
        "team": dict(team) if team else None,
    }


@tracer.capture_method
def record_labeled(event: dict[str, Any], runs: Any) -> dict[str, Any]:
    """``action: labeled``."""
    run_id = _required(event, "run_id")
    attributes = labeling_attributes(event)
    now = ledger.now_iso()
    result = record_labeling(runs, run_id, ledger.labeling_update(now=now, **attributes))
    if result.outcome == "unknown-run":
        logger.warning("run not in ledger; labeling outcome not recorded")
    metrics.add_metric(name="HumanLabels", unit=MetricUnit.Count, value=attributes["counters"]["human"])
    metrics.add_metric(name="MachineLabels", unit=MetricUnit.Count, value=attributes["counters"]["machine"])
    return {
        "run_id": run_id,
        "status": "RECORDED" if result.outcome == "updated" else "NOT_RECORDED",
        "outcome": result.outcome,
        "label_counters": attributes["counters"],
        "labeling_cost": {k: v for k, v in attributes["cost"].items() if v is not None},
        "final_active_learning_model_arn": attributes["final_model_arn"],
    }


def report_fields(report: Any, region: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(ledger attributes, notification fields)`` from the report step's result.

    The result is ``{"report_uri", "figures"}`` when the report was written, the step's caught error
    ``{"Error", "Cause"}`` when it failed, or ``{"skipped": reason}`` when the run has nothing to report
    (labeling produced no output).
    """
    if not isinstance(report, Mapping):
        return {}, {}
    uri = report.get("report_uri")
    if isinstance(uri, str) and uri:
        try:
            bucket, key = parse_s3_uri(uri)
        except S3UriError:
            return {"report_uri": uri}, {"report_uri": uri}
        return {"report_uri": uri}, {
            "report_uri": uri,
            "report_console_url": s3_console_url(bucket, key, region),
        }
    if "Error" in report:
        error = str(report.get("Error") or "Error")
        report_error = {"error": error, "cause": failure_cause(error, report.get("Cause"))}
        return {"report_error": report_error}, {"report_error": f"{error}: {report_error['cause']}"}
    return {}, {}


def _class_names(event: dict[str, Any]) -> list[Any]:
    """The payload's ``class_names``; InvalidRequest unless a non-empty list."""
    class_names = event.get("class_names")
    if not isinstance(class_names, list) or not class_names:
        raise InvalidRequest("notify payload field 'class_names' must be a non-empty list")
    return class_names


@tracer.capture_method
def publish_serving(event: dict[str, Any], runs: Any) -> dict[str, Any]:
    """``action: publish``: point the predict function at the new endpoint config."""
    run_id = _required(event, "run_id")
    class_names = _class_names(event)
    task_type = _task_type(event)
    now = ledger.now_iso()
    # The run's model package ($.registry): a rollback's names the earlier run whose model it deploys.
    raw_package = event.get("model_package")
    package: dict[str, Any] = raw_package if isinstance(raw_package, dict) else {}
    item = ledger.serving_item(
        endpoint_name=_required(event, "endpoint_name"),
        endpoint_config_name=_required(event, "endpoint_config_name"),
        model_name=_required(event, "model_name"),
        class_names=[str(name) for name in class_names],
        source_run_id=str(package.get("source_run_id") or run_id),
        metrics=event.get("metrics") if isinstance(event.get("metrics"), dict) else None,
        task_type=task_type,
        now=now,
        model_package_arn=str(package.get("package_arn") or "") or None,
        deployed_by_run_id=run_id,
        # The served model's artifact, image and network: a later feedback run may warm-start from it.
        serving_model=incremental.serving_model(event.get("training"), task_type) or None,
    )
    runs.put_item(Item=ledger.to_dynamo(item))
    record_step(
        runs,
        run_id,
        "publish",
        ledger.StepRecord(
            status="Completed", event_time=now, ended_at=now, extra={"endpoint_name": item["endpoint_name"]}
        ),
        now,
    )
    # "status" is what the state machine's ResultSelector reads from every notify answer.
    return {
        "run_id": run_id,
        "status": "PUBLISHED",
        "serving": {
            k: item[k]
            for k in ("endpoint_name", "endpoint_config_name", "model_name", "source_run_id")
            if k in item
        },
    }


@tracer.capture_method
def find_champion(event: dict[str, Any], runs: Any) -> dict[str, Any]:
    """``action: champion``: the serving model of the same label set, if any (one GetItem on ``@serving``)."""
    run_id = _required(event, "run_id")
    class_names = _class_names(event)
    task_type = _task_type(event)
    if event.get("enabled") is False:
        return {"run_id": run_id, "found": False, "why": "championChallenger is disabled"}
    serving = get_run(runs, ledger.SERVING_RUN_ID)
    champion = champion_for(serving, task_type, [str(name) for name in class_names])
    if champion is None:
        why = "no model serves" if not serving else "the serving model predicts a different label set"
        return {"run_id": run_id, "found": False, "why": why}
    if champion["source_run_id"] == run_id:
        # A retried execution of the run that already serves: it is not its own challenger.
        return {"run_id": run_id, "found": False, "why": "this run's model already serves"}
    return {"run_id": run_id, "found": True, **champion}


def _summary_metrics(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    keep = (
        "metric_name",
        "metric_value",
        "accuracy",
        "macro_f1",
        "quality_threshold",
        "passed",
        "metrics_uri",
        "count",
        "champion",
    )
    return {k: value[k] for k in keep if k in value} or dict(list(value.items())[:20])


def endpoint_cleanup(failure: Any) -> dict[str, Any] | None:
    """What the CleanUpEndpoint state did with the failed run's endpoint (``failure.endpoint``): ``{"action":
    "deleted" | "kept" | "left-running" | "none", ...}``, ``{"action": "unknown", "error", "cause"}`` when the
    cleanup itself failed (the endpoint may still be running), None when the run never deployed."""
    endpoint = failure.get("endpoint") if isinstance(failure, dict) else None
    if not isinstance(endpoint, dict):
        return None
    if isinstance(endpoint.get("cleanup"), dict):
        return dict(endpoint["cleanup"])
    return {
        "action": "unknown",
        "error": str(endpoint.get("Error") or "Error"),
        "cause": readable_cause(endpoint.get("Cause"))[:1000],
    }


def rejection_reason(summary: Mapping[str, Any] | None) -> tuple[str, bool]:
    """Why the gate refused the model, and whether the champion/challenger gate did (the serving model
    scored better by more than the margin) rather than the fixed quality threshold."""
    champion = (summary or {}).get("champion")
    if isinstance(champion, dict) and champion.get("passed") is False:
        return str(champion.get("reason") or "worse than the serving model"), True
    if not summary:
        return "", False
    name, value = summary.get("metric_name", "accuracy"), summary.get("metric_value")
    threshold = summary.get("quality_threshold")
    suffix = f" {threshold}" if threshold is not None else ""
    return f"{name} {value} is below the quality threshold{suffix}", False


@tracer.capture_method
def finish(event: dict[str, Any], runs: Any, topic_arn: str) -> dict[str, Any]:
    """``succeeded`` / ``rejected`` / ``failed``: end the run and notify once."""
    action = event["action"]
    status = FINAL_ACTIONS[action]
    run_id = _required(event, "run_id")
    now = ledger.now_iso()
    summary = _summary_metrics(event.get("metrics"))
    failure = None
    if status == ledger.FAILED:
        error = str(event.get("error") or "Error")
        failure = {
            "step": str(event.get("step") or "unknown"),
            "error": error,
            "cause": failure_cause(error, event.get("cause")),
        }
    extra = {k: event.get(k) for k in ("endpoint_name", "model_name", "endpoint_config_name") if event.get(k)}
    cleanup = endpoint_cleanup(event.get("failure"))
    if cleanup:
        extra["endpoint_cleanup"] = cleanup
    report_attributes, report_message = report_fields(
        event.get("report"), os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    )
    extra.update(report_attributes)
    rejection, refused_by_champion = rejection_reason(summary) if status == ledger.REJECTED else ("", False)
    if rejection:
        extra["rejection_reason"] = rejection
    result = finish_run(runs, run_id, status, now, failure=failure, metrics=summary, extra=extra or None)
    if result.outcome == "unknown-run":
        logger.warning("run not in ledger; notification sent without ledger update")
    elif result.outcome == "conflict":
        current = (result.old or {}).get("status")
        logger.warning("run already ended differently", extra={"current": current, "requested": status})
        return {"run_id": run_id, "status": current, "outcome": "conflict"}
    old = result.old or {}
    if failure and failure["step"] in ledger.JOB_STEP_OF_FAILURE:
        job_step = ledger.JOB_STEP_OF_FAILURE[failure["step"]]
        stored = (old.get("steps") or {}).get(job_step)
        record_step(runs, run_id, job_step, ledger.failed_job_step(stored, failure["cause"], now), now)
    reason = failure["cause"] if failure else rejection
    message = {
        "run_id": run_id,
        "status": status,
        "step": failure["step"] if failure else event.get("step"),
        "reason": reason or None,
        "error": failure["error"] if failure else None,
        "metrics": summary,
        "endpoint_name": event.get("endpoint_name"),
        **report_message,
    }
    if cleanup:
        message["endpoint_cleanup"] = cleanup
    for name in ("label_counters", "labeling_cost", "reused_model_arn"):
        if old.get(name):
            message[name] = old[name]
    what = {
        ledger.SUCCEEDED: "succeeded",
        ledger.REJECTED: "rejected by the quality gate",
        ledger.FAILED: "failed",
    }[status]
    if refused_by_champion:
        what += ": worse than the serving model"
    step_part = f" at {failure['step']}" if failure else ""
    if cleanup and cleanup.get("action") == "left-running":
        step_part += f"; endpoint {cleanup.get('endpoint_name')} is still running (billed per instance-hour)"
    subject = f"gtpipe run {run_id} {what}{step_part}"
    rollback = old.get("rollback")
    if isinstance(rollback, dict):
        # A rollback (gtpipe deploy --package): say which package it deployed or tried to.
        message["rollback"] = rollback
        subject = f"gtpipe rollback {run_id} {what}{step_part}"
    already = old.get("notified_status")
    message_id = publish_once(
        runs, topic_arn, run_id, status, subject=subject, message=message, already_notified=already, now=now
    )
    metrics.add_metric(name=f"Runs{status.title()}", unit=MetricUnit.Count, value=1)
    return {"run_id": run_id, "status": status, "outcome": result.outcome, "notified": message_id is not None}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Dispatch on ``action`` (see module docstring)."""
    action = payload_action(event, logger, InvalidRequest, "notify payload")
    runs = table(require_env("RUNS_TABLE"))
    if action == "step":
        return record(event, runs)
    if action == "labeled":
        return record_labeled(event, runs)
    if action == "publish":
        return publish_serving(event, runs)
    if action == "champion":
        return find_champion(event, runs)
    if action in FINAL_ACTIONS:
        return finish(event, runs, require_env("TOPIC_ARN"))
    raise InvalidRequest(
        f"unknown notify action {action!r} (expected step, labeled, publish, champion, succeeded, rejected, failed)"
    )
