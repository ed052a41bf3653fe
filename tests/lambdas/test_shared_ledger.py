"""Ledger shapes and ordering rules (pure builders, then against moto DynamoDB)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from gtpipe_shared import ledger
from gtpipe_shared.ledger_store import (
    ReusableModel,
    find_reusable_model,
    finish_run,
    get_run,
    put_new_run,
    record_labeling,
    record_step,
)

from tests.lambdas.conftest import RUNS_TABLE, Cloud, create_runs_table, put_running_run

RUN = "demo-0123456789abcdef"


def test_status_rank_orders_in_progress_before_terminal() -> None:
    assert ledger.status_rank("InProgress") < ledger.status_rank("Completed")
    assert ledger.status_rank("Creating") < ledger.status_rank("InService")
    assert ledger.status_rank("Stopping") < ledger.status_rank("Stopped")


def test_now_iso_is_fixed_width() -> None:
    stamp = ledger.now_iso()
    assert len(stamp) == len("2026-11-23T10:00:00.000000Z") and stamp.endswith("Z")


def test_dynamo_conversion_round_trip() -> None:
    value = {"a": 0.25, "b": [1, 2.5, {"c": None}], "d": True, "e": float("nan")}
    stored = ledger.to_dynamo(value)
    assert stored["a"] == Decimal("0.25") and stored["b"][2] == {} and stored["e"] == "nan"
    assert ledger.from_dynamo(stored) == {"a": 0.25, "b": [1, 2.5, {}], "d": True, "e": "nan"}


def test_new_run_item_shape() -> None:
    item = ledger.new_run_item(
        RUN,
        status="RUNNING",
        input_bucket="b",
        input_key="k",
        input_version_id=None,
        manifest_kind="input",
        task_type="image-classification",
        now="t",
    )
    assert item == {
        "run_id": RUN,
        "status": "RUNNING",
        "input_bucket": "b",
        "input_key": "k",
        "input_version_id": "null",
        "manifest_kind": "input",
        "task_type": "image-classification",
        "created_at": "t",
        "updated_at": "t",
        "steps": {},
    }
    with pytest.raises(ValueError):
        ledger.new_run_item(
            RUN,
            status="DONE",
            input_bucket="b",
            input_key="k",
            input_version_id=None,
            manifest_kind=None,
            task_type=None,
            now="t",
        )


def _item(cloud: Cloud) -> None:
    put_running_run(cloud, RUN, input_key="k")


def record(status: str, time: str) -> ledger.StepRecord:
    return ledger.StepRecord(status=status, event_time=time, job_name=f"{RUN}-train-0")


def test_steps_never_move_backwards(cloud: Cloud) -> None:
    _item(cloud)
    table = cloud.runs()
    assert (
        record_step(table, RUN, "train", record("InProgress", "2026-01-01T00:00:01.000000Z"), "n").outcome
        == "updated"
    )
    assert (
        record_step(table, RUN, "train", record("Completed", "2026-01-01T00:00:03.000000Z"), "n").outcome
        == "updated"
    )
    # a late InProgress, even with a newer timestamp, cannot undo Completed
    assert (
        record_step(table, RUN, "train", record("InProgress", "2026-01-01T00:00:09.000000Z"), "n").outcome
        == "stale"
    )
    # an older terminal event does not replace a newer one
    assert (
        record_step(table, RUN, "train", record("Failed", "2026-01-01T00:00:02.000000Z"), "n").outcome
        == "stale"
    )
    # the same event again is accepted (idempotent) and changes nothing
    assert (
        record_step(table, RUN, "train", record("Completed", "2026-01-01T00:00:03.000000Z"), "n").outcome
        == "updated"
    )
    assert get_run(table, RUN)["steps"]["train"]["status"] == "Completed"


def test_steps_for_unknown_runs_create_nothing(cloud: Cloud) -> None:
    result = record_step(cloud.runs(), "other-0123456789abcdef", "train", record("InProgress", "t"), "n")
    assert result.outcome == "unknown-run"
    assert cloud.run("other-0123456789abcdef") is None


def test_item_without_steps_map_is_repaired(cloud: Cloud) -> None:
    cloud.runs().put_item(Item={"run_id": RUN, "status": "RUNNING"})
    assert record_step(cloud.runs(), RUN, "train", record("InProgress", "t"), "n").outcome == "updated"


def test_run_status_leaves_running_once(cloud: Cloud) -> None:
    _item(cloud)
    table = cloud.runs()
    assert finish_run(table, RUN, "SUCCEEDED", "n", metrics={"accuracy": 0.9}).outcome == "updated"
    assert finish_run(table, RUN, "SUCCEEDED", "n").outcome == "updated"  # retry
    conflict = finish_run(table, RUN, "FAILED", "n", failure={"step": "x", "error": "E", "cause": "c"})
    assert conflict.outcome == "conflict"
    item = get_run(table, RUN)
    assert item["status"] == "SUCCEEDED" and item["metrics"] == {"accuracy": 0.9} and "failure" not in item
    assert finish_run(table, "missing-0123456789abcdef", "FAILED", "n").outcome == "unknown-run"


def test_put_new_run_never_clobbers(cloud: Cloud) -> None:
    _item(cloud)
    again = ledger.new_run_item(
        RUN,
        status="FAILED",
        input_bucket="b",
        input_key="k",
        input_version_id="v",
        manifest_kind=None,
        task_type=None,
        now="t",
    )
    assert put_new_run(cloud.dynamodb.Table(RUNS_TABLE), again) is False
    assert cloud.run(RUN)["status"] == "RUNNING"


# --- labeling: fingerprint, counters, cost, reusable models ----------------------------------------------


def test_fingerprint_depends_on_task_type_and_class_order() -> None:
    base = ledger.labeling_fingerprint("image-classification", ["cat", "dog"])
    assert base == ledger.labeling_fingerprint("image-classification", ("cat", "dog"))
    # class ids are positions: the same names in another order are another label set
    assert base != ledger.labeling_fingerprint("image-classification", ["dog", "cat"])
    assert base != ledger.labeling_fingerprint("object-detection", ["cat", "dog"])
    assert base != ledger.labeling_fingerprint("image-classification", ["cat", "dog", "bird"])
    # names are not joined ambiguously
    assert ledger.labeling_fingerprint("image-classification", ["a,b", "c"]) != ledger.labeling_fingerprint(
        "image-classification", ["a", "b,c"]
    )
    with pytest.raises(ValueError, match="at least one class"):
        ledger.labeling_fingerprint("image-classification", [])


def test_label_counters_fill_missing_counts_and_refuse_bad_ones() -> None:
    assert ledger.label_counters({"HumanLabeled": 3, "TotalLabeled": 3}) == {
        "human": 3,
        "machine": 0,
        "total": 3,
        "failed": 0,
        "unlabeled": 0,
    }
    assert ledger.label_counters(None)["total"] == 0
    with pytest.raises(ValueError, match="MachineLabeled"):
        ledger.label_counters({"MachineLabeled": "many"})


def reusable(cloud: Cloud, run_id: str, fingerprint: str, model: str, at: str) -> None:
    put_running_run(cloud, run_id)
    update = ledger.labeling_update(
        job_arn=None,
        counters=ledger.label_counters({}),
        cost={"actual_usd": 0.0},
        final_model_arn=model,
        reused_model_arn=None,
        reused_model_source_run_id=None,
        now=at,
    )
    assert record_labeling(cloud.runs(), run_id, update).outcome == "updated"


@pytest.fixture
def indexed(cloud: Cloud) -> Cloud:
    cloud.runs().delete()
    create_runs_table(cloud.dynamodb)
    return cloud


def test_the_newest_model_of_a_fingerprint_is_found_with_one_query(indexed: Cloud) -> None:
    runs = indexed.runs()
    # Given runs that only carry a fingerprint once their labeling left a model
    for run_id, fingerprint, model, at in (
        ("a-0000000000000001", "lf1-x", "model/a", "2026-11-01T00:00:00.000000Z"),
        ("b-0000000000000002", "lf1-x", "model/b", "2026-11-03T00:00:00.000000Z"),
        ("c-0000000000000003", "lf1-y", "model/c", "2026-11-04T00:00:00.000000Z"),
    ):
        reusable(indexed, run_id, fingerprint, model, at)
        runs.update_item(
            Key={"run_id": run_id},
            UpdateExpression="SET labeling_fingerprint = :fp",
            ExpressionAttributeValues={":fp": fingerprint},
        )
    # a run of the same label set still labeling: in the table, not in the index
    put_running_run(indexed, "d-0000000000000004")
    runs.update_item(
        Key={"run_id": "d-0000000000000004"},
        UpdateExpression="SET labeling_fingerprint = :fp",
        ExpressionAttributeValues={":fp": "lf1-x"},
    )
    found = find_reusable_model(runs, "lf1-x")
    assert found == ReusableModel("model/b", "b-0000000000000002", "2026-11-03T00:00:00.000000Z")
    assert find_reusable_model(runs, "lf1-z") is None


def test_labeling_update_needs_the_run(cloud: Cloud) -> None:
    update = ledger.labeling_update(
        job_arn="arn",
        counters=ledger.label_counters({}),
        cost={},
        final_model_arn=None,
        reused_model_arn=None,
        reused_model_source_run_id=None,
        now=ledger.now_iso(),
    )
    assert record_labeling(cloud.runs(), "nobody-0000000000000000", update).outcome == "unknown-run"
    assert get_run(cloud.runs(), "nobody-0000000000000000") is None


def test_new_run_item_extra_attributes_cannot_replace_core_ones() -> None:
    item = ledger.new_run_item(
        RUN,
        status="RUNNING",
        input_bucket="b",
        input_key="k",
        input_version_id=None,
        manifest_kind="input",
        task_type="image-classification",
        now="t",
        extra={"labeling_fingerprint": "lf1-x", "reused_model_arn": None},
    )
    assert item["labeling_fingerprint"] == "lf1-x" and "reused_model_arn" not in item
    with pytest.raises(ValueError, match="may not replace status"):
        ledger.new_run_item(
            RUN,
            status="RUNNING",
            input_bucket="b",
            input_key="k",
            input_version_id=None,
            manifest_kind="input",
            task_type="image-classification",
            now="t",
            extra={"status": "SUCCEEDED"},
        )
