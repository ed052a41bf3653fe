"""Stateful tables: the runs ledger, the task-token table and the idempotency table."""

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


class Ledger(Construct):
    """DynamoDB tables, encrypted with the stack key, with point-in-time recovery and retained."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.runs_table = self._table("RunsTable", key, partition_key="run_id", time_to_live_attribute=None)
        # Adding an index keeps the table (and its logical ID); CloudFormation builds it in place.
        self.runs_table.add_global_secondary_index(
            index_name=LABELING_MODEL_INDEX,
            partition_key=dynamodb.Attribute(
                name=LABELING_MODEL_INDEX_PARTITION, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(name=LABELING_MODEL_INDEX_SORT, type=dynamodb.AttributeType.STRING),
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

    def _table(
        self, construct_id: str, key: kms.IKey, *, partition_key: str, time_to_live_attribute: str | None
    ) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            construct_id,
            partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
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
