"""start_run: manifest dropped -> validated -> one execution (or a FAILED ledger item and a notification)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from gtpipe_shared.config import ConfigError
from gtpipe_shared.events import EventError
from gtpipe_shared.naming import run_id_for, seed_for
from start_run import handler

from tests.lambdas.conftest import (
    DATA_BUCKET,
    IDEMPOTENCY_TABLE,
    Cloud,
    FakeContext,
    classification_line,
    input_line,
    pipeline_config,
    s3_event,
)


@pytest.fixture
def configured(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> Cloud:
    monkeypatch.setenv("PIPELINE_CONFIG", json.dumps(pipeline_config()))
    return cloud


def drop(cloud: Cloud, key: str, lines: list[str]) -> tuple[dict[str, Any], bytes, str]:
    body = ("\n".join(lines) + "\n").encode()
    response = cloud.put(key, body)
    event = s3_event(key, response["VersionId"], response["ETag"].strip('"'), size=len(body))
    return event, body, response["VersionId"]


def test_valid_input_manifest_starts_labeling_run(configured: Cloud, context: FakeContext) -> None:
    # given an unlabeled manifest dropped under incoming/
    event, _, version = drop(configured, "incoming/demo.manifest", [input_line(i) for i in range(4)])
    run_id = run_id_for(DATA_BUCKET, "incoming/demo.manifest", version)
    # when start_run handles the event
    answer = handler.lambda_handler(event, context)
    # then one execution named after the run id starts with the design's execution input
    assert answer["run_id"] == run_id and answer["status"] == "RUNNING" and answer["duplicate"] is False
    executions = configured.executions()
    assert [e["name"] for e in executions] == [run_id]
    payload = json.loads(
        configured.sfn.describe_execution(executionArn=executions[0]["executionArn"])["input"]
    )
    assert payload["run_id"] == run_id
    assert payload["input"] == {
        "bucket": DATA_BUCKET,
        "key": "incoming/demo.manifest",
        "version_id": version,
        "manifest_uri": f"s3://{DATA_BUCKET}/incoming/demo.manifest",
    }
    assert payload["manifest"] == {"kind": "input", "label_attribute": "category", "line_count": 4}
    labeling = payload["config"]["labeling"]
    assert labeling["label_categories_uri"] == f"s3://{DATA_BUCKET}/labeling/{run_id}/label-categories.json"
    assert labeling["ui_template_uri"] == f"s3://{DATA_BUCKET}/labeling/{run_id}/template.liquid"
    assert labeling["output_path"] == f"s3://{DATA_BUCKET}/labeling/"
    assert payload["config"]["split"] == {"validation_ratio": 0.2, "seed": seed_for(run_id)}
    assert payload["config"]["label_categories"] == ["cat", "dog", "bird"]
    assert "allowed_source_buckets" not in payload["config"]
    # and the labeling inputs exist
    categories = json.loads(configured.read(f"labeling/{run_id}/label-categories.json"))
    assert categories == {"labels": [{"label": "cat"}, {"label": "dog"}, {"label": "bird"}]}
    assert b"crowd-image-classifier" in configured.read(f"labeling/{run_id}/template.liquid")
    # and the ledger has a RUNNING item with the execution
    item = configured.run(run_id)
    assert item["status"] == "RUNNING" and item["execution_arn"] == executions[0]["executionArn"]
    assert item["input_version_id"] == version and item["manifest_kind"] == "input"
    assert configured.notifications() == []


def test_augmented_manifest_skips_labeling_files(configured: Cloud, context: FakeContext) -> None:
    lines = [classification_line(i, i % 3, attribute="my-job") for i in range(9)]
    event, _, _ = drop(configured, "incoming/labeled.manifest", lines)
    answer = handler.lambda_handler(event, context)
    assert answer["manifest"] == {"kind": "augmented", "label_attribute": "my-job", "line_count": 9}
    run_id = answer["run_id"]
    listing = configured.s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix="labeling/")
    assert listing.get("KeyCount", 0) == 0
    assert configured.run(run_id)["manifest_kind"] == "augmented"


def test_invalid_manifest_fails_without_execution(configured: Cloud, context: FakeContext) -> None:
    # given a manifest with a bad line and a foreign bucket
    lines = [input_line(1), "{oops", json.dumps({"source-ref": "s3://strangers/x.jpg"})]
    event, body, version = drop(configured, "incoming/broken.manifest", lines)
    answer = handler.lambda_handler(event, context)
    # then no execution, a FAILED ledger item with the line errors, and one notification
    assert (
        answer["status"] == "FAILED" and answer["error"] == "InvalidManifest" and answer["error_count"] == 2
    )
    assert configured.executions() == []
    item = configured.run(answer["run_id"])
    assert item["status"] == "FAILED"
    assert item["failure"]["step"] == "validate" and item["failure"]["error"] == "InvalidManifest"
    assert item["errors"][0].startswith("line 2: invalid JSON")
    assert "bucket 'strangers' is not allowed" in item["errors"][1]
    assert item["input_key"] == "incoming/broken.manifest"
    notes = configured.notifications()
    assert len(notes) == 1
    assert (
        notes[0]["message"]["run_id"] == answer["run_id"]
        and notes[0]["message"]["error"] == "InvalidManifest"
    )
    assert len(notes[0]["subject"]) <= 100 and "broken.manifest" in notes[0]["subject"]
    # and the manifest is untouched: same bytes, still the only version
    versions = configured.s3.list_object_versions(Bucket=DATA_BUCKET, Prefix="incoming/broken.manifest")[
        "Versions"
    ]
    assert [v["VersionId"] for v in versions] == [version]
    assert configured.read("incoming/broken.manifest") == body


def test_invalid_manifest_notifies_once_even_without_idempotency(
    configured: Cloud, context: FakeContext
) -> None:
    event, _, _ = drop(configured, "incoming/broken.manifest", ["[]"])
    handler.lambda_handler(event, context)
    _clear_idempotency(configured)
    again = handler.lambda_handler(event, context)
    assert again["duplicate"] is True
    assert len(configured.notifications()) == 1


def _clear_idempotency(cloud: Cloud) -> None:
    table = cloud.dynamodb.Table(IDEMPOTENCY_TABLE)
    for item in table.scan()["Items"]:
        table.delete_item(Key={"id": item["id"]})


def test_duplicate_event_starts_one_execution(configured: Cloud, context: FakeContext) -> None:
    event, _, _ = drop(configured, "incoming/demo.manifest", [input_line(i) for i in range(3)])
    first = handler.lambda_handler(event, context)
    # the same event delivered twice: the idempotency layer answers with the first result
    second = handler.lambda_handler(json.loads(json.dumps(event)), context)
    assert second == first
    # past the idempotency window, the ledger and execution name still stop a second run
    _clear_idempotency(configured)
    third = handler.lambda_handler(event, context)
    assert third["duplicate"] is True and third["run_id"] == first["run_id"]
    assert len(configured.executions()) == 1


def test_new_version_of_same_key_is_a_new_run(configured: Cloud, context: FakeContext) -> None:
    event1, _, _ = drop(configured, "incoming/demo.manifest", [input_line(1), input_line(2)])
    event2, _, _ = drop(configured, "incoming/demo.manifest", [input_line(3), input_line(4)])
    first = handler.lambda_handler(event1, context)
    second = handler.lambda_handler(event2, context)
    assert first["run_id"] != second["run_id"]
    assert len(configured.executions()) == 2


def test_missing_object_is_recorded_as_invalid(configured: Cloud, context: FakeContext) -> None:
    event = s3_event("incoming/gone.manifest", None, "0123", size=10)
    answer = handler.lambda_handler(event, context)
    assert answer["status"] == "FAILED" and "not found" in answer["errors"][0]


def test_oversized_object_is_not_downloaded(
    configured: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINE_CONFIG", json.dumps(pipeline_config(max_manifest_bytes=50)))
    event, _, _ = drop(configured, "incoming/big.manifest", [input_line(i) for i in range(5)])
    answer = handler.lambda_handler(event, context)
    assert "more than max_manifest_bytes 50" in answer["errors"][0]


def test_config_errors_are_clear(cloud: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch) -> None:
    event = s3_event("incoming/demo.manifest", "v1", "e1")
    monkeypatch.delenv("PIPELINE_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="PIPELINE_CONFIG is not set"):
        handler.lambda_handler(event, context)
    monkeypatch.setenv("PIPELINE_CONFIG", json.dumps(pipeline_config(label_categories=[])))
    with pytest.raises(ConfigError, match="label_categories"):
        handler.lambda_handler(event, context)
    monkeypatch.delenv("STATE_MACHINE_ARN")
    with pytest.raises(ConfigError, match="STATE_MACHINE_ARN"):
        handler.lambda_handler(event, context)


def test_not_an_s3_event(configured: Cloud, context: FakeContext) -> None:
    with pytest.raises(EventError):
        handler.lambda_handler({"detail-type": "Object Created", "source": "aws.s3"}, context)
