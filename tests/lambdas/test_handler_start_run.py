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
    create_runs_table,
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
    assert categories == {
        "document-version": "2018-11-28",
        "labels": [{"label": "cat"}, {"label": "dog"}, {"label": "bird"}],
    }
    assert b"crowd-image-classifier" in configured.read(f"labeling/{run_id}/template.liquid")
    # and the ledger has a RUNNING item with the execution
    item = configured.run(run_id)
    assert item["status"] == "RUNNING" and item["execution_arn"] == executions[0]["executionArn"]
    assert item["input_version_id"] == version and item["manifest_kind"] == "input"
    assert configured.notifications() == []


def test_labels_without_metadata_start_labeling_with_a_warning_in_the_ledger(
    configured: Cloud, context: FakeContext
) -> None:
    # given lines that carry the label attribute but not its -metadata (so they are unlabeled)
    lines = [json.dumps({**json.loads(input_line(i)), "category": i % 3}) for i in range(3)]
    lines.append(input_line(3))
    event, _, _ = drop(configured, "incoming/half.manifest", lines)
    # when start_run handles the event
    answer = handler.lambda_handler(event, context)
    # then the run labels them, and says why in its answer and in the ledger
    assert answer["status"] == "RUNNING" and answer["manifest"]["kind"] == "input"
    (warning,) = answer["warnings"]
    assert warning.startswith("3 line(s) (first: line 1) have label attribute 'category' without")
    assert "'category-metadata'" in warning and "sent to labeling" in warning
    assert configured.run(answer["run_id"])["warnings"] == [warning]


def test_a_plain_input_manifest_has_no_warnings(configured: Cloud, context: FakeContext) -> None:
    event, _, _ = drop(configured, "incoming/plain.manifest", [input_line(i) for i in range(2)])
    answer = handler.lambda_handler(event, context)
    assert "warnings" not in answer and "warnings" not in configured.run(answer["run_id"])


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
    # Given the event of a manifest that was deleted before start_run read it
    event = s3_event("incoming/gone.manifest", None, "0123", size=10)
    answer = handler.lambda_handler(event, context)
    # Then the run is FAILED at validate, in the answer and in the ledger, and no execution starts
    assert answer["status"] == "FAILED" and "not found" in answer["errors"][0]
    item = configured.run(answer["run_id"])
    assert item is not None, "no ledger item for the run"
    assert item["status"] == "FAILED" and item["failure"]["step"] == "validate"
    assert "not found" in item["errors"][0]
    assert configured.executions() == []


def test_oversized_object_is_not_downloaded(
    configured: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a 50-byte limit, a larger manifest, and a validator that must not be reached
    monkeypatch.setenv("PIPELINE_CONFIG", json.dumps(pipeline_config(max_manifest_bytes=50)))
    event, _, _ = drop(configured, "incoming/big.manifest", [input_line(i) for i in range(5)])

    def read_body(*args: Any) -> Any:
        raise AssertionError("the oversized manifest's body was read")

    monkeypatch.setattr(handler, "validate_manifest", read_body)
    # When it is dropped
    answer = handler.lambda_handler(event, context)
    # Then it is refused from its size alone, naming the limit
    assert answer["status"] == "FAILED"
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


# --- Cost guard and model reuse -------------------------------------------------------------------------


def configure(
    monkeypatch: pytest.MonkeyPatch, task_type: str = "image-classification", **labeling: Any
) -> None:
    config = pipeline_config(task_type=task_type)
    if task_type == "object-detection":
        config["labeling"]["pre_human_task_lambda_arn"] = (
            "arn:aws:lambda:us-east-1:432418664414:function:PRE-BoundingBox"
        )
    config["labeling"].update(labeling)
    monkeypatch.setenv("PIPELINE_CONFIG", json.dumps(config))


def with_model_index(cloud: Cloud) -> None:
    """Recreate the runs table with the reusable-model index the stateful stack declares."""
    cloud.runs().delete()
    create_runs_table(cloud.dynamodb, cloud.runs().name)


def labeled_run(cloud: Cloud, run_id: str, fingerprint: str, model: str | None, at: str) -> None:
    """A run whose labeling job finished (as notify's ``labeled`` action leaves it)."""
    item: dict[str, Any] = {"run_id": run_id, "status": "SUCCEEDED", "labeling_fingerprint": fingerprint}
    if model:
        item |= {"final_active_learning_model_arn": model, "labeling_model_at": at}
    cloud.runs().put_item(Item=item)


def cost_of(item: dict[str, Any]) -> dict[str, float]:
    return {name: float(value) for name, value in item["labeling_cost"].items()}


def started_input(cloud: Cloud) -> dict[str, Any]:
    (execution,) = cloud.executions()
    return json.loads(cloud.sfn.describe_execution(executionArn=execution["executionArn"])["input"])


def test_over_budget_manifest_is_refused_without_execution_or_labeling_files(
    configured: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a $0.30 budget and 3 objects at $0.08 + 3 x $0.012 each ($0.35)
    configure(monkeypatch, budget_usd=0.30)
    event, body, version = drop(configured, "incoming/pricey.manifest", [input_line(i) for i in range(3)])
    # When start_run handles the event
    answer = handler.lambda_handler(event, context)
    # Then the run is FAILED at the cost guard, with the estimate and the budget in the reason
    assert answer["status"] == "FAILED" and answer["error"] == "LabelingBudgetExceeded"
    assert answer["labeling_cost"]["estimated_usd"] == pytest.approx(0.35)
    assert configured.executions() == []
    item = configured.run(answer["run_id"])
    assert item["failure"]["step"] == "costguard"
    assert item["failure"]["cause"] == (
        "estimated labeling cost $0.35 (3 objects x ($0.08 per object + 3 workers x $0.012 per "
        "image-classification answer)) exceeds the labeling budget $0.30 (gtpipe:labelingBudgetUsd)"
    )
    assert cost_of(item) == {"estimated_usd": pytest.approx(0.35), "budget_usd": pytest.approx(0.3)}
    assert item["manifest_kind"] == "input" and item["line_count"] == 3
    # and nothing was written for labeling, the manifest is unchanged, one notification says why
    listed = configured.s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix="labeling/").get("KeyCount")
    assert listed == 0
    assert (
        configured.s3.get_object(Bucket=DATA_BUCKET, Key="incoming/pricey.manifest", VersionId=version)[
            "Body"
        ].read()
        == body
    )
    (note,) = configured.notifications()
    assert (
        note["message"]["step"] == "costguard" and "$0.35" in note["subject"] and "$0.30" in note["subject"]
    )


def test_augmented_manifest_is_never_priced(
    configured: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a zero budget: no labeling at all / When labels come with the manifest / Then the run starts
    configure(monkeypatch, budget_usd=0)
    event, _, _ = drop(
        configured, "incoming/labeled.manifest", [classification_line(i, i % 3) for i in range(6)]
    )
    assert handler.lambda_handler(event, context)["status"] == "RUNNING"
    item = configured.run(configured.executions()[0]["name"])
    assert "labeling_cost" not in item and "labeling_fingerprint" not in item


def test_within_budget_run_records_its_estimate(
    configured: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, budget_usd=0.35)
    event, _, _ = drop(configured, "incoming/demo.manifest", [input_line(i) for i in range(3)])
    answer = handler.lambda_handler(event, context)
    # an estimate equal to the budget passes
    assert answer["status"] == "RUNNING" and answer["labeling"]["estimated_cost_usd"] == pytest.approx(0.35)
    labeling = started_input(configured)["config"]["labeling"]
    assert labeling["estimated_cost_usd"] == pytest.approx(0.35) and labeling["budget_usd"] == 0.35
    assert labeling["initial_active_learning_model_arn"] is None
    item = configured.run(answer["run_id"])
    assert cost_of(item) == {"estimated_usd": pytest.approx(0.35), "budget_usd": pytest.approx(0.35)}
    assert item["labeling_fingerprint"] == labeling["fingerprint"]


def test_the_cost_guard_counts_the_tuning_trials(
    configured: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a $4 budget, 3 objects ($0.35 of labeling) and tuning of 6 trials of 1 ml.g4dn.xlarge for 1 h
    config = pipeline_config()
    config["labeling"]["budget_usd"] = 4.0
    config["training"] |= {
        "instance_type": "ml.g4dn.xlarge",
        "instance_count": 1,
        "max_runtime_seconds": 3600,
    }
    config["tuning"] = {
        "objective_metric": "validation:accuracy",
        "parameter_ranges": {
            "ContinuousParameterRanges": [
                {"Name": "learning_rate", "MinValue": "0.001", "MaxValue": "0.3", "ScalingType": "Auto"}
            ]
        },
        "max_jobs": 6,
        "max_parallel_jobs": 2,
    }
    monkeypatch.setenv("PIPELINE_CONFIG", json.dumps(config))
    event, _, _ = drop(configured, "incoming/tuned.manifest", [input_line(i) for i in range(3)])
    # When start_run plans the run
    answer = handler.lambda_handler(event, context)
    # Then labeling alone fits, but with the trials' worst case (6 x $0.7364) the run is refused
    assert answer["status"] == "FAILED" and answer["error"] == "LabelingBudgetExceeded"
    assert configured.executions() == []
    item = configured.run(answer["run_id"])
    assert item["failure"]["step"] == "costguard"
    assert "6 tuning trials x 1 instances x 1 h" in item["failure"]["cause"]
    assert float(item["labeling_cost"]["estimated_usd"]) == pytest.approx(0.35)
    assert float(item["labeling_cost"]["total_usd"]) == pytest.approx(0.35 + 4.42)
    assert float(item["labeling_cost"]["tuning"]["estimated_usd"]) == pytest.approx(4.42)
    assert int(item["labeling_cost"]["tuning"]["trials"]) == 6
    (note,) = configured.notifications()
    assert "labeling + tuning estimate $4.77" in note["subject"]
    # And with fewer trials (2 x $0.7364 + $0.35 = $1.82) within a $2 budget the run starts, the tuning part
    # of the estimate in its ledger item
    config["labeling"]["budget_usd"] = 2.0
    config["tuning"]["max_jobs"] = 2
    monkeypatch.setenv("PIPELINE_CONFIG", json.dumps(config))
    event, _, _ = drop(configured, "incoming/tuned2.manifest", [input_line(i) for i in range(3)])
    answer = handler.lambda_handler(event, context)
    assert answer["status"] == "RUNNING"
    cost = configured.run(answer["run_id"])["labeling_cost"]
    assert float(cost["total_usd"]) == pytest.approx(1.82) and int(cost["tuning"]["trials"]) == 2
    # and the execution carries the tuning part, so the labeled step's record keeps it
    assert started_input(configured)["config"]["labeling"]["tuning_estimate"]["trials"] == 2


def test_builtin_run_is_estimated_by_its_answers_not_ground_truths_prices(
    configured: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gtpipe_shared.pricing import BuiltinPricing

    # Given the builtin backend, labelers at $18/h taking 20 s a task, and a $0.30 budget
    configure(
        monkeypatch, backend="builtin", budget_usd=0.30, labeler_hourly_rate_usd=18.0, seconds_per_task=20.0
    )
    event, _, _ = drop(configured, "incoming/builtin.manifest", [input_line(i) for i in range(3)])
    # When start_run plans the job
    answer = handler.lambda_handler(event, context)
    # Then 3 objects x 3 answers x (AWS requests + 20 s at $18/h) exceed the budget Ground Truth's $0.35 did not
    expected = round(9 * (BuiltinPricing().aws_answer_usd + 20 / 3600 * 18.0), 2)
    assert answer["status"] == "FAILED" and answer["labeling_cost"]["estimated_usd"] == pytest.approx(
        expected
    )
    assert expected != pytest.approx(0.35)
    cause = configured.run(answer["run_id"])["failure"]["cause"]
    assert "3 answers" in cause and "builtin labeling service" in cause and "per object" not in cause
    # And without a labeler rate the same run costs only its AWS requests (cents)
    configure(monkeypatch, backend="builtin", budget_usd=0.30)
    event, _, _ = drop(configured, "incoming/builtin2.manifest", [input_line(i) for i in range(3)])
    answer = handler.lambda_handler(event, context)
    assert answer["status"] == "RUNNING"
    assert answer["labeling"]["estimated_cost_usd"] == pytest.approx(
        round(9 * BuiltinPricing().aws_answer_usd, 2)
    )


def test_reuse_starts_from_the_newest_model_of_the_same_label_set(
    configured: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gtpipe_shared.ledger import labeling_fingerprint

    with_model_index(configured)
    configure(monkeypatch, auto_labeling=True, reuse_model=True)
    same = labeling_fingerprint("image-classification", ["cat", "dog", "bird"])
    # Given an older and a newer model of the same label set, a newer one of another set, and a run
    # of the same set that left no model
    labeled_run(
        configured, "old-0000000000000001", same, "arn:aws:sagemaker:us-east-1:1:model/old", "2026-11-01"
    )
    labeled_run(
        configured, "new-0000000000000002", same, "arn:aws:sagemaker:us-east-1:1:model/new", "2026-11-20"
    )
    other = labeling_fingerprint("image-classification", ["bird", "dog", "cat"])
    labeled_run(
        configured, "oth-0000000000000003", other, "arn:aws:sagemaker:us-east-1:1:model/oth", "2026-11-22"
    )
    labeled_run(configured, "non-0000000000000004", same, None, "2026-11-23")
    event, _, _ = drop(configured, "incoming/demo.manifest", [input_line(i) for i in range(4)])
    # When the run starts
    answer = handler.lambda_handler(event, context)
    # Then its labeling starts from the newest model of its label set, and the ledger says where from
    labeling = started_input(configured)["config"]["labeling"]
    assert labeling["initial_active_learning_model_arn"] == "arn:aws:sagemaker:us-east-1:1:model/new"
    assert labeling["initial_model_source_run_id"] == "new-0000000000000002"
    assert labeling["fingerprint"] == same
    item = configured.run(answer["run_id"])
    assert item["reused_model_arn"] == "arn:aws:sagemaker:us-east-1:1:model/new"
    assert item["reused_model_source_run_id"] == "new-0000000000000002"


def test_reuse_without_an_earlier_model_labels_from_scratch(
    configured: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_model_index(configured)
    configure(monkeypatch, auto_labeling=True, reuse_model=True)
    event, _, _ = drop(configured, "incoming/demo.manifest", [input_line(i) for i in range(4)])
    answer = handler.lambda_handler(event, context)
    assert answer["status"] == "RUNNING"
    assert started_input(configured)["config"]["labeling"]["initial_active_learning_model_arn"] is None
    assert "reused_model_arn" not in configured.run(answer["run_id"])


def test_a_failed_model_lookup_does_not_stop_the_run(
    configured: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given reuse on but a runs table without the index (a stack whose index is still being built)
    configure(monkeypatch, auto_labeling=True, reuse_model=True)
    event, _, _ = drop(configured, "incoming/demo.manifest", [input_line(i) for i in range(4)])
    answer = handler.lambda_handler(event, context)
    # Then the run labels without a reused model and the ledger records why
    assert answer["status"] == "RUNNING"
    assert started_input(configured)["config"]["labeling"]["initial_active_learning_model_arn"] is None
    assert "labeling-model-by-fingerprint" in configured.run(answer["run_id"])["reuse_lookup_error"]


def test_reuse_without_automated_labeling_is_a_config_error(
    cloud: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, auto_labeling=False, reuse_model=True)
    event, _, _ = drop(cloud, "incoming/demo.manifest", [input_line(0)])
    with pytest.raises(ConfigError, match="reuse_model needs auto_labeling"):
        handler.lambda_handler(event, context)


def test_object_detection_run_gets_the_bounding_box_template(
    configured: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, task_type="object-detection")
    event, _, _ = drop(configured, "incoming/boxes.manifest", [input_line(i) for i in range(2)])
    answer = handler.lambda_handler(event, context)
    template = configured.read(f"labeling/{answer['run_id']}/template.liquid")
    assert b"<crowd-bounding-box" in template and b'name="boundingBox"' in template
    # bounding-box answers cost more: 2 x ($0.08 + 3 x $0.036)
    assert answer["labeling"]["estimated_cost_usd"] == pytest.approx(0.38)
