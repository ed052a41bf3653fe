"""Stateful tables: the runs ledger, the task-token table, the idempotency table and the labeling tasks."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

# The runs table's sparse index of reusable labeling models (lambdas/gtpipe_shared/ledger.py declares the
# same names): partition `labeling_fingerprint` (task type + class names), sort `labeling_model_at`, which
# only runs whose labeling job left a final active-learning model carry. start_run reads the newest one.
LABELING_MODEL_INDEX = "labeling-model-by-fingerprint"
LABELING_MODEL_INDEX_PARTITION = "labeling_fingerprint"
LABELING_MODEL_INDEX_SORT = "labeling_model_at"
LABELING_MODEL_INDEX_ATTRIBUTES = ["final_active_learning_model_arn"]
# The builtin labeling service's table (docs/labeling-service.md): jobs, objects, answers and workers under
# `JOB#<job_name>`; the sparse index lists the jobs that take answers (`open_jobs` = "OPEN" only then).
OPEN_JOBS_INDEX = "open-jobs"
OPEN_JOBS_INDEX_PARTITION = "open_jobs"
OPEN_JOBS_INDEX_SORT = "created_at"
LABELING_TTL_ATTRIBUTE = "expires_ttl"


def _add_string_index(
    table: dynamodb.Table,
    index_name: str,
    *,
    partition_key: str,
    sort_key: str,
    projection_type: dynamodb.ProjectionType,
    non_key_attributes: list[str] | None = None,
) -> None:
    """A global secondary index with string partition and sort keys (sparse: items without them are left
    out)."""
    table.add_global_secondary_index(
        index_name=index_name,
        partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name=sort_key, type=dynamodb.AttributeType.STRING),
        projection_type=projection_type,
        non_key_attributes=non_key_attributes,
    )


class Ledger(Construct):
    """DynamoDB tables, encrypted with the stack key, with point-in-time recovery and retained."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.runs_table = self._table("RunsTable", key, partition_key="run_id", time_to_live_attribute=None)
        # Adding an index keeps the table (and its logical ID); CloudFormation builds it in place.
        _add_string_index(
            self.runs_table,
            LABELING_MODEL_INDEX,
            partition_key=LABELING_MODEL_INDEX_PARTITION,
            sort_key=LABELING_MODEL_INDEX_SORT,
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=LABELING_MODEL_INDEX_ATTRIBUTES,
        )
        # Step Functions task tokens waiting for an endpoint state change, keyed by endpoint name.
        self.task_token_table = self._table(
            "TaskTokenTable", key, partition_key="id", time_to_live_attribute="expiration"
        )
        # Powertools idempotency records: the same S3 event delivered twice starts one run.
        self.idempotency_table = self._table(
            "IdempotencyTable", key, partition_key="id", time_to_live_attribute="expiration"
        )
        # Always created, whatever gtpipe:labelingBackend: this stack takes no configuration, an empty
        # on-demand table costs nothing, and switching the backend never orphans or replaces a retained table.
        self.labeling_table = self._table(
            "LabelingTable",
            key,
            partition_key="pk",
            sort_key="sk",
            time_to_live_attribute=LABELING_TTL_ATTRIBUTE,
        )
        _add_string_index(
            self.labeling_table,
            OPEN_JOBS_INDEX,
            partition_key=OPEN_JOBS_INDEX_PARTITION,
            sort_key=OPEN_JOBS_INDEX_SORT,
            # Only job items carry the partition key; the sweep and the job list read them whole.
            projection_type=dynamodb.ProjectionType.ALL,
        )

    def _table(
        self,
        construct_id: str,
        key: kms.IKey,
        *,
        partition_key: str,
        time_to_live_attribute: str | None,
        sort_key: str | None = None,
    ) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            construct_id,
            partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=sort_key, type=dynamodb.AttributeType.STRING)
            if sort_key
            else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=time_to_live_attribute,
            removal_policy=RemovalPolicy.RETAIN,
            deletion_protection=True,
        )
