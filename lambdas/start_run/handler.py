"""start_run: an S3 ``Object Created`` event for a dropped manifest starts one pipeline run.

Flow: parse the event -> stream the manifest object (that exact version) through validation -> invalid:
FAILED ledger item + SNS, no execution -> valid input manifest: plan the labeling job (cost guard against
``gtpipe:labelingBudgetUsd``; with ``reuseModel``, the newest reusable model of the same task type and
label set from the ledger) -> over budget: FAILED ledger item (step ``costguard``) + SNS, no execution ->
otherwise: write the labeling files (input manifests), a RUNNING ledger item and start the execution
named after the run id. Validation warnings (lines of an unlabeled manifest that carry a label attribute
without its ``-metadata``, and so go to labeling) are logged and stored in the item's ``warnings``.

Duplicates are expected (EventBridge delivers at least once): Powertools idempotency returns the first
answer for the same bucket/key/version/etag; past its expiry, the conditional ledger put and the
deterministic execution name still prevent a second run. The manifest is only read, never changed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from gtpipe_shared import ledger
from gtpipe_shared.aws import client, error_code, table
from gtpipe_shared.aws_limits import label_category_names
from gtpipe_shared.config import ConfigError, PipelineConfig, load_pipeline_config, require_env
from gtpipe_shared.events import S3ObjectCreated, parse_s3_object_created
from gtpipe_shared.ledger_store import (
    ReusableModel,
    find_reusable_model,
    get_run,
    publish_once,
    put_new_run,
)
from gtpipe_shared.manifest import (
    ManifestIssue,
    ManifestReport,
    ManifestRules,
    ManifestSummary,
    validate_manifest,
)
from gtpipe_shared.naming import labeling_key, run_id_for, seed_for
from gtpipe_shared.pricing import BudgetCheck, TuningEstimate, check_labeling_budget, estimate_tuning
from gtpipe_shared.s3uri import s3_uri
from gtpipe_shared.templates import label_categories_json, ui_template
from gtpipe_shared.tuning_ledger import plan_tuning

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# The persistence layer is built at import (the decorator needs it); a missing IDEMPOTENCY_TABLE is
# reported by load_settings() before any idempotency call is made.
_persistence = DynamoDBPersistenceLayer(
    table_name=os.environ.get("IDEMPOTENCY_TABLE") or "IDEMPOTENCY_TABLE-unset"
)
_idempotency = IdempotencyConfig(
    event_key_jmespath=(
        '[detail.bucket.name, detail.object.key, detail.object."version-id", detail.object.etag]'
    ),
    expires_after_seconds=24 * 3600,
)


# Written into this function's code at synth (infra/constructs/pipeline.py, LABEL_CATEGORIES_BUNDLE).
LABEL_CATEGORIES_FILE = Path(__file__).with_name("label-categories.json")


@dataclass(frozen=True)
class Settings:
    """Environment of the function."""

    state_machine_arn: str
    runs_table: str
    topic_arn: str
    data_bucket: str
    config: PipelineConfig


def load_settings() -> Settings:
    """Read and validate the environment; ConfigError names the missing or invalid variable."""
    require_env("IDEMPOTENCY_TABLE")
    data_bucket = require_env("DATA_BUCKET")
    return Settings(
        state_machine_arn=require_env("STATE_MACHINE_ARN"),
        runs_table=require_env("RUNS_TABLE"),
        topic_arn=require_env("TOPIC_ARN"),
        data_bucket=data_bucket,
        config=load_pipeline_config(
            os.environ.get("PIPELINE_CONFIG"),
            data_bucket=data_bucket,
            label_categories=bundled_label_categories(),
        ),
    )


def bundled_label_categories(path: Path = LABEL_CATEGORIES_FILE) -> list[str] | None:
    """The class names of the label category file the stack bundles with this function, or None without one.

    The class list is not in ``PIPELINE_CONFIG``: Lambda allows 4 KB of environment variables in total
    (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). ConfigError when the file is
    not a valid label category configuration file.
    """
    if not path.is_file():
        return None
    try:
        return label_category_names(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise ConfigError(f"{path.name} bundled with start_run is invalid: {exc}") from exc


def manifest_rules(config: PipelineConfig, data_bucket: str) -> ManifestRules:
    """Validation rules from the pipeline configuration."""
    return ManifestRules(
        allowed_buckets=frozenset([data_bucket, *config.allowed_source_buckets]),
        max_bytes=config.max_manifest_bytes,
        max_lines=config.max_manifest_lines,
        max_line_bytes=config.max_line_bytes,
        class_names=tuple(config.label_categories),
        task_type=config.task_type,
        label_attribute=config.labeling.label_attribute,
    )


def execution_input(
    run_id: str, s3_event: S3ObjectCreated, key: str, summary: ManifestSummary, config: PipelineConfig
) -> dict[str, Any]:
    """The execution input exactly as docs/design.md "Execution input" describes it.

    ``manifest.label_attribute`` is the attribute the labels are (or, for input manifests, will be) under,
    so the state machine can always read ``$.manifest.label_attribute``. ``config.split.seed`` is the
    configured seed or one derived from the run id, recorded here so the split can be reproduced.
    """
    block = config.execution_config()
    bucket = block["data_bucket"]
    labeling = block["labeling"]
    labeling["label_categories_uri"] = s3_uri(bucket, labeling_key(run_id, "label-categories.json"))
    labeling["ui_template_uri"] = s3_uri(bucket, labeling_key(run_id, "template.liquid"))
    labeling["output_path"] = labeling.get("output_path") or s3_uri(bucket, "labeling/")
    # The class names in class-id order for the labeling step; not in PIPELINE_CONFIG, which has to fit
    # Lambda's 4 KB environment limit.
    labeling.setdefault("class_names", list(block["label_categories"]))
    if block["split"].get("seed") is None:
        block["split"]["seed"] = seed_for(run_id)
    return {
        "run_id": run_id,
        "input": {
            "bucket": s3_event.bucket,
            "key": key,
            "version_id": s3_event.version_id,
            "manifest_uri": s3_uri(s3_event.bucket, key),
        },
        "manifest": {
            "kind": summary.kind,
            "label_attribute": summary.label_attribute or config.labeling.label_attribute,
            "line_count": summary.line_count,
        },
        "config": block,
    }


COST_GUARD_STEP = "costguard"
BUDGET_EXCEEDED = "LabelingBudgetExceeded"


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


def _estimate_name(budget: BudgetCheck) -> str:
    return "labeling estimate" if budget.tuning is None else "labeling + tuning estimate"


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


def _open_manifest(s3_event: S3ObjectCreated) -> tuple[str, dict[str, Any]]:
    """get_object of the event's exact version; falls back to the URL-decoded key once, because S3
    notification formats have differed on key encoding (``a+b`` vs ``a b``)."""
    s3 = client("s3")
    keys = [s3_event.key]
    decoded = unquote_plus(s3_event.key)
    if decoded != s3_event.key:
        keys.append(decoded)
    for index, key in enumerate(keys):
        params: dict[str, Any] = {"Bucket": s3_event.bucket, "Key": key}
        if s3_event.version_id:
            params["VersionId"] = s3_event.version_id
        try:
            return key, s3.get_object(**params)
        except ClientError as exc:
            if error_code(exc) not in ("NoSuchKey", "NoSuchVersion", "404") or index == len(keys) - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


@tracer.capture_method
def read_and_validate(s3_event: S3ObjectCreated, rules: ManifestRules) -> tuple[str, ManifestReport]:
    """Stream the manifest through validation without holding it in memory."""
    try:
        key, response = _open_manifest(s3_event)
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "NoSuchVersion", "404"):
            report = ManifestReport(
                summary=ManifestSummary(kind="input", label_attribute=None, line_count=0, task_type=None),
                issues=[ManifestIssue(0, f"manifest object not found ({error_code(exc)})")],
                issue_count=1,
            )
            return s3_event.key, report
        raise
    body = response["Body"]
    try:
        size = response.get("ContentLength")
        if isinstance(size, int) and size > rules.max_bytes:
            # Do not download an object that cannot pass anyway.
            report = ManifestReport(
                summary=ManifestSummary(kind="input", label_attribute=None, line_count=0, task_type=None),
                issues=[
                    ManifestIssue(
                        0, f"manifest is {size} bytes, more than max_manifest_bytes {rules.max_bytes}"
                    )
                ],
                issue_count=1,
            )
            return key, report
        return key, validate_manifest(body, rules)
    finally:
        body.close()


def _run_item(
    run_id: str, status: str, s3_event: S3ObjectCreated, key: str, task_type: str, now: str, **fields: Any
) -> dict[str, Any]:
    """The new ledger item of a run of the manifest ``key`` that ``s3_event`` announced
    (:func:`gtpipe_shared.ledger.new_run_item`; ``fields``: its other arguments)."""
    return ledger.new_run_item(
        run_id,
        status=status,
        input_bucket=s3_event.bucket,
        input_key=key,
        input_version_id=s3_event.version_id,
        task_type=task_type,
        now=now,
        **fields,
    )


def _refuse(
    run_id: str,
    s3_event: S3ObjectCreated,
    key: str,
    settings: Settings,
    *,
    failure: dict[str, Any],
    subject: str,
    message: dict[str, Any],
    manifest_kind: str | None,
    line_count: int,
    errors: list[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> bool:
    """Record a run that never starts (FAILED ledger item) and notify once; True when the item is new."""
    now = ledger.now_iso()
    runs = table(settings.runs_table)
    item = _run_item(
        run_id,
        ledger.FAILED,
        s3_event,
        key,
        settings.config.task_type,
        now,
        manifest_kind=manifest_kind,
        failure=failure,
        errors=errors,
        line_count=line_count,
        extra=extra,
    )
    created = put_new_run(runs, item)
    stored = item if created else (get_run(runs, run_id) or item)
    publish_once(
        runs,
        settings.topic_arn,
        run_id,
        ledger.FAILED,
        subject=subject,
        message={"run_id": run_id, "status": ledger.FAILED, **message},
        already_notified=stored.get("notified_status"),
        now=now,
    )
    return created


def _reject(
    run_id: str, s3_event: S3ObjectCreated, key: str, report: ManifestReport, settings: Settings
) -> dict[str, Any]:
    manifest_uri = s3_uri(s3_event.bucket, key)
    errors = report.messages()
    first = errors[0] if errors else "unknown problem"
    cause = f"{report.issue_count} problem(s) in {manifest_uri}; first: {first}"[:2000]
    name = key.rsplit("/", 1)[-1]
    created = _refuse(
        run_id,
        s3_event,
        key,
        settings,
        failure={"step": "validate", "error": "InvalidManifest", "cause": cause},
        subject=f"gtpipe: manifest {name} rejected ({report.issue_count} problems)",
        message={
            "step": "validate",
            "error": "InvalidManifest",
            "reason": cause,
            "manifest_uri": manifest_uri,
            "error_count": report.issue_count,
            "errors": errors,
        },
        manifest_kind=report.summary.kind if report.summary.line_count else None,
        line_count=report.summary.line_count,
        errors=errors,
    )
    metrics.add_metric(name="ManifestsRejected", unit=MetricUnit.Count, value=1)
    logger.warning("manifest rejected", extra={"error_count": report.issue_count, "errors": errors[:5]})
    return {
        "run_id": run_id,
        "status": ledger.FAILED,
        "error": "InvalidManifest",
        "error_count": report.issue_count,
        "errors": errors,
        "duplicate": not created,
    }


def _refuse_over_budget(
    run_id: str,
    s3_event: S3ObjectCreated,
    key: str,
    summary: ManifestSummary,
    plan: LabelingPlan,
    settings: Settings,
) -> dict[str, Any]:
    """The cost guard: the labeling job would cost more than the budget; record, notify, start nothing."""
    reason = plan.budget.reason()
    name = key.rsplit("/", 1)[-1]
    created = _refuse(
        run_id,
        s3_event,
        key,
        settings,
        failure={"step": COST_GUARD_STEP, "error": BUDGET_EXCEEDED, "cause": reason},
        subject=(
            f"gtpipe: manifest {name} refused: {_estimate_name(plan.budget)} ${plan.budget.total_usd:,.2f} "
            f"over budget ${plan.budget.budget_usd:,.2f}"
        ),
        message={
            "step": COST_GUARD_STEP,
            "error": BUDGET_EXCEEDED,
            "reason": reason,
            "manifest_uri": s3_uri(s3_event.bucket, key),
            "labeling_cost": plan.budget.as_dict(),
        },
        manifest_kind=summary.kind,
        line_count=summary.line_count,
        extra=plan.ledger_attributes(),
    )
    metrics.add_metric(name="RunsOverBudget", unit=MetricUnit.Count, value=1)
    logger.warning("labeling over budget", extra={"labeling_cost": plan.budget.as_dict()})
    return {
        "run_id": run_id,
        "status": ledger.FAILED,
        "error": BUDGET_EXCEEDED,
        "reason": reason,
        "labeling_cost": plan.budget.as_dict(),
        "duplicate": not created,
    }


def _write_labeling_files(run_id: str, config: PipelineConfig) -> None:
    s3 = client("s3")
    bucket = config.data_bucket
    s3.put_object(
        Bucket=bucket,
        Key=labeling_key(run_id, "label-categories.json"),
        Body=label_categories_json(config.label_categories).encode(),
        ContentType="application/json",
    )
    s3.put_object(
        Bucket=bucket,
        Key=labeling_key(run_id, "template.liquid"),
        Body=ui_template(
            config.task_type,
            config.label_categories,
            header=config.labeling.task_title,
            description=config.labeling.task_description,
        ).encode(),
        ContentType="text/html",
    )


def _duplicate(run_id: str, reason: str, existing: dict[str, Any] | None) -> dict[str, Any]:
    logger.info("duplicate manifest event", extra={"reason": reason})
    metrics.add_metric(name="DuplicateEvents", unit=MetricUnit.Count, value=1)
    answer: dict[str, Any] = {"run_id": run_id, "duplicate": True, "reason": reason}
    if existing:
        answer["status"] = existing.get("status")
        answer["execution_arn"] = existing.get("execution_arn")
    return answer


def _start(
    run_id: str, s3_event: S3ObjectCreated, key: str, report: ManifestReport, settings: Settings
) -> dict[str, Any]:
    summary = report.summary
    config = settings.config
    payload = execution_input(run_id, s3_event, key, summary, config)
    runs = table(settings.runs_table)
    labeling_attributes: dict[str, Any] = {}
    if report.warnings:
        logger.warning("manifest warnings", extra={"warnings": report.warnings})
        labeling_attributes["warnings"] = list(report.warnings)
    if summary.kind == "input":
        plan = plan_labeling(summary.line_count, config, lambda fp: find_reusable_model(runs, fp))
        if plan.budget.exceeded:
            return _refuse_over_budget(run_id, s3_event, key, summary, plan, settings)
        plan.apply(payload)
        labeling_attributes.update(plan.ledger_attributes())
        _write_labeling_files(run_id, config)
    now = ledger.now_iso()
    # gtpipe:tuning: the run's tuning job in the ledger and, with warmStart, the label set's previous one.
    tuning = plan_tuning(runs, config, run_id, now)
    labeling_attributes.update(tuning)
    if tuning.get("tuning_parent_job_name"):
        parent = {"HyperParameterTuningJobName": tuning["tuning_parent_job_name"]}
        payload["config"]["tuning"]["parent_tuning_jobs"] = [parent]
    item = _run_item(
        run_id,
        ledger.RUNNING,
        s3_event,
        key,
        config.task_type,
        now,
        manifest_kind=summary.kind,
        line_count=summary.line_count,
        extra=labeling_attributes or None,
    )
    if not put_new_run(runs, item):
        existing = get_run(runs, run_id)
        if existing and (existing.get("execution_arn") or existing.get("status") != ledger.RUNNING):
            return _duplicate(run_id, "run already recorded", existing)
        # RUNNING without an execution: an earlier attempt stopped before StartExecution; finish it with
        # the model choice that attempt recorded, so the ledger and the execution agree.
        if existing and summary.kind == "input":
            labeling = payload["config"]["labeling"]
            labeling["initial_active_learning_model_arn"] = existing.get("reused_model_arn")
            labeling["initial_model_source_run_id"] = existing.get("reused_model_source_run_id")
    try:
        response = client("stepfunctions").start_execution(
            stateMachineArn=settings.state_machine_arn, name=run_id, input=json.dumps(payload)
        )
    except ClientError as exc:
        if error_code(exc) == "ExecutionAlreadyExists":
            return _duplicate(run_id, "execution already exists", get_run(runs, run_id))
        raise
    execution_arn = response["executionArn"]
    runs.update_item(
        Key={"run_id": run_id},
        UpdateExpression="SET execution_arn = :arn, updated_at = :now",
        ExpressionAttributeValues={":arn": execution_arn, ":now": ledger.now_iso()},
    )
    metrics.add_metric(name="RunsStarted", unit=MetricUnit.Count, value=1)
    logger.info("run started", extra={"execution_arn": execution_arn, "kind": summary.kind})
    answer: dict[str, Any] = {
        "run_id": run_id,
        "status": ledger.RUNNING,
        "execution_arn": execution_arn,
        "manifest": payload["manifest"],
        "duplicate": False,
    }
    if report.warnings:
        answer["warnings"] = list(report.warnings)
    if summary.kind == "input":
        labeling = payload["config"]["labeling"]
        answer["labeling"] = {
            "estimated_cost_usd": labeling["estimated_cost_usd"],
            "initial_active_learning_model_arn": labeling["initial_active_learning_model_arn"],
        }
    return answer


@idempotent_function(data_keyword_argument="event", persistence_store=_persistence, config=_idempotency)
def start_run(event: dict[str, Any], s3_event: S3ObjectCreated, settings: Settings) -> dict[str, Any]:
    """Validate the manifest and start (or refuse) the run; idempotent per object version and etag."""
    run_id = run_id_for(s3_event.bucket, s3_event.key, s3_event.version_id)
    logger.append_keys(run_id=run_id)
    key, report = read_and_validate(s3_event, manifest_rules(settings.config, settings.data_bucket))
    if not report.ok:
        return _reject(run_id, s3_event, key, report, settings)
    return _start(run_id, s3_event, key, report, settings)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """EventBridge S3 ``Object Created`` -> run summary (see module docstring)."""
    s3_event = parse_s3_object_created(event)
    try:
        settings = load_settings()
    except ConfigError:
        logger.exception("configuration error")
        raise
    logger.append_keys(bucket=s3_event.bucket, key=s3_event.key, version_id=s3_event.version_id)
    _idempotency.register_lambda_context(context)
    return start_run(event=event, s3_event=s3_event, settings=settings)
