"""The stateful stack: encrypted, versioned, TLS-only, private, retained; fixed logical IDs."""

from __future__ import annotations

from aws_cdk.assertions import Match

from tests.infra.conftest import Synthesized

# Renaming one of these replaces a bucket or table full of data: the IDs must never change.
STATEFUL_LOGICAL_IDS = {
    "AWS::KMS::Key": ["StorageDataKeyE15BA43B"],
    "AWS::S3::Bucket": ["StorageAccessLogBucket76E80A12", "StorageDataBucketB1B922FA"],
    "AWS::DynamoDB::Table": [
        "LedgerRunsTable4152460C",
        "LedgerTaskTokenTable6A4FB89E",
        "LedgerIdempotencyTable386E4150",
        "LedgerLabelingTableA3DBFE65",
    ],
}


def test_stateful_logical_ids_stay_fixed(synth: Synthesized) -> None:
    for resource_type, expected in STATEFUL_LOGICAL_IDS.items():
        actual = sorted(synth.data.find_resources(resource_type))
        assert actual == sorted(expected), resource_type


def test_stateful_resources_are_retained_and_stack_is_protected(synth: Synthesized) -> None:
    assert synth.stateful.termination_protection is True
    for resource_type in STATEFUL_LOGICAL_IDS:
        for logical_id, resource in synth.data.find_resources(resource_type).items():
            assert resource["DeletionPolicy"] == "Retain", logical_id
            assert resource["UpdateReplacePolicy"] == "Retain", logical_id


def test_key_rotates(synth: Synthesized) -> None:
    synth.data.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_data_bucket_is_kms_encrypted_versioned_private_logged_and_sends_events(synth: Synthesized) -> None:
    synth.data.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    Match.object_like(
                        {
                            "ServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": Match.any_value(),
                            }
                        }
                    )
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LoggingConfiguration": {
                "DestinationBucketName": Match.any_value(),
                "LogFilePrefix": "data-bucket/",
            },
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like({"Id": "ExpireSplits", "Prefix": "splits/", "Status": "Enabled"}),
                        Match.object_like(
                            {"Id": "ExpireTransformOutput", "Prefix": "transform/", "Status": "Enabled"}
                        ),
                    ]
                )
            },
        },
    )
    synth.data.has_resource_properties(
        "Custom::S3BucketNotifications", {"NotificationConfiguration": {"EventBridgeConfiguration": {}}}
    )


def test_every_bucket_denies_plain_http(synth: Synthesized) -> None:
    policies = synth.data.find_resources("AWS::S3::BucketPolicy")
    assert len(policies) == len(synth.data.find_resources("AWS::S3::Bucket"))
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny"
            and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            and s["Principal"] == {"AWS": "*"}
            and s["Action"] == "s3:*"
            for s in statements
        )


def test_tables_are_encrypted_with_recovery_and_ttl_where_transient(synth: Synthesized) -> None:
    tables = synth.data.find_resources("AWS::DynamoDB::Table")
    for logical_id, table in tables.items():
        props = table["Properties"]
        assert props["SSESpecification"]["SSEEnabled"] is True, logical_id
        assert props["SSESpecification"]["SSEType"] == "KMS", logical_id
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, logical_id
        assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert "TimeToLiveSpecification" not in tables["LedgerRunsTable4152460C"]["Properties"]
    for transient in ("LedgerTaskTokenTable6A4FB89E", "LedgerIdempotencyTable386E4150"):
        assert tables[transient]["Properties"]["TimeToLiveSpecification"] == {
            "AttributeName": "expiration",
            "Enabled": True,
        }


def test_runs_table_has_the_sparse_reusable_model_index(synth: Synthesized) -> None:
    from gtpipe_shared import ledger

    from infra.constructs.ledger import LABELING_MODEL_INDEX

    runs = synth.data.find_resources("AWS::DynamoDB::Table")["LedgerRunsTable4152460C"]["Properties"]
    (index,) = runs["GlobalSecondaryIndexes"]
    # The Lambda side queries the index by the same names
    assert index["IndexName"] == LABELING_MODEL_INDEX == ledger.LABELING_MODEL_INDEX
    assert index["KeySchema"] == [
        {"AttributeName": ledger.FINGERPRINT_ATTRIBUTE, "KeyType": "HASH"},
        {"AttributeName": ledger.MODEL_AT_ATTRIBUTE, "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": [ledger.FINAL_MODEL_ATTRIBUTE],
    }
    assert {"AttributeName": "labeling_fingerprint", "AttributeType": "S"} in runs["AttributeDefinitions"]


def test_labeling_table_has_pk_sk_ttl_and_the_sparse_open_jobs_index(synth: Synthesized) -> None:
    from infra.constructs.ledger import OPEN_JOBS_INDEX

    # Given the default (ground-truth) configuration: the table exists anyway, so switching backends never
    # replaces or orphans it
    tables = synth.data.find_resources("AWS::DynamoDB::Table")
    labeling = next(t for lid, t in tables.items() if lid.startswith("LedgerLabelingTable"))["Properties"]
    assert labeling["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert labeling["TimeToLiveSpecification"] == {"AttributeName": "expires_ttl", "Enabled": True}
    (index,) = labeling["GlobalSecondaryIndexes"]
    assert index["IndexName"] == OPEN_JOBS_INDEX == "open-jobs"
    assert index["KeySchema"] == [
        {"AttributeName": "open_jobs", "KeyType": "HASH"},
        {"AttributeName": "created_at", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}
