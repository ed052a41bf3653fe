"""Gold objects in the tasks table (gtpipe_shared.labeling_store) against moto DynamoDB."""

from __future__ import annotations

import json
from typing import Any

from gtpipe_shared import labeling_store as store
from gtpipe_shared.labeling_gold import GoldObject

from tests.lambdas.test_shared_labeling_store import JOB, NOW, manifest, spec, table

__all__ = ["table"]  # the moto tasks table fixture

GOLD_TRUTH = [2, 2, 1, 0]


def gold_pool() -> list[GoldObject]:
    return [
        GoldObject(
            f"s3://gtpipe-data-bucket/gold/{i}.jpg", json.dumps({"source-ref": f"s3://x/{i}"}), {"label": t}
        )
        for i, t in enumerate(GOLD_TRUTH)
    ]


def open_gold_job(table: Any, data: int = 4, workers: int = 3) -> None:
    objects = store.objects_from_manifest(manifest(data))
    store.open_job(table, spec(workers=workers), objects, NOW, gold_pool())


def next_lease(table: Any, worker: str) -> store.Lease | None:
    """The worker's next task; None when none is left or the job closed (every object answered)."""
    try:
        return store.lease(table, JOB, worker, NOW)
    except store.JobNotOpen:
        return None


def item(table: Any, index: int) -> dict[str, Any]:
    return dict(table.get_item(Key={"pk": store.job_pk(JOB), "sk": store.object_sk(index)})["Item"])


def test_gold_objects_are_mixed_into_the_queue_and_counted(table: Any) -> None:
    # Given a job of 4 data objects opened with 4 gold objects
    open_gold_job(table)
    job = store.get_job(table, JOB)
    # Then the job counts 8 objects, 4 of them gold
    assert (job["object_count"], job["gold_count"]) == (8, 4)
    items = [item(table, index) for index in range(8)]
    # and the data objects keep their manifest order (data_index), the gold ones hold their known answer
    assert [entry["data_index"] for entry in items if "data_index" in entry] == [0, 1, 2, 3]
    assert sorted(json.loads(entry["gold"])["label"] for entry in items if "gold" in entry) == sorted(
        GOLD_TRUTH
    )


def test_leases_of_gold_and_data_objects_look_alike(table: Any) -> None:
    # Given a job with gold objects, one answer each
    open_gold_job(table, workers=1)
    seen = []
    # When one worker leases and answers every task
    while (lease := next_lease(table, "w")) is not None:
        seen.append(lease)
        store.answer(table, JOB, lease.index, "w", lease.lease_id, {"label": 0}, 1.0, NOW, username="w")
    # Then every lease has the same shape: an index, a lease, an image; nothing names gold or a label
    assert len(seen) == 8
    assert {type(lease) for lease in seen} == {store.Lease}
    refs = {lease.source_ref for lease in seen}
    assert {ref for ref in refs if "/gold/" in ref} == {g.source_ref for g in gold_pool()}
    listed = store.list_open_jobs(table, "w", NOW)
    assert all("gold" not in key for entry in listed for key in entry)


def test_the_output_holds_only_data_objects_and_gold_weights_and_scores_workers(table: Any) -> None:
    # Given a job of 4 data and 4 gold objects answered by three workers: a and b always right
    # (class 2 on data objects), c always wrong
    open_gold_job(table)
    truth = {g.source_ref: int(g.truth["label"]) for g in gold_pool()}
    for worker in ("a", "b", "c"):
        while (lease := next_lease(table, worker)) is not None:
            right = truth.get(lease.source_ref, 2)
            label = right if worker != "c" else (right + 1) % 3
            store.answer(
                table, JOB, lease.index, worker, lease.lease_id, {"label": label}, 1.0, NOW, username=worker
            )
    # When the output is built
    output = store.job_output(table, store.get_job(table, JOB), NOW)
    # Then the output manifest holds the 4 data lines in manifest order, labeled, and no gold image
    key = next(name for name in output.files if name.endswith("manifests/output/output.manifest"))
    lines = [json.loads(line) for line in output.files[key].decode().splitlines()]
    assert [line["source-ref"] for line in lines] == [
        json.loads(m)["source-ref"] for m in manifest(4).decode().splitlines()
    ]
    assert [line["category"] for line in lines] == [2, 2, 2, 2]
    assert output.counters["TotalLabeled"] == 4 and output.labeled == [0, 1, 2, 3]
    # and worker responses are numbered by manifest line
    responses = sorted(
        name.split("/iteration-1/")[1].split("/")[0] for name in output.files if "worker-response" in name
    )
    assert responses == ["0", "1", "2", "3"]
    # and the team statistics show each worker's gold accuracy and count, and the label accuracy per class
    rows = {row["worker_id"]: row for row in output.team["workers"]}
    assert (rows["a"]["gold_accuracy"], rows["a"]["gold_answers"]) == (1.0, 4)
    assert (rows["c"]["gold_accuracy"], rows["c"]["gold_answers"]) == (0.0, 4)
    overall = next(row for row in output.team["gold"]["label_accuracy"] if row["class_name"] is None)
    assert (overall["correct"], overall["items"]) == (4, 4)
    assert output.team["answers"] == 12 and output.team["gold"]["answers"] == 12
    stats_key = next(name for name in output.files if name.endswith("team/stats.json"))
    assert json.loads(output.files[stats_key]) == output.team


def test_a_job_without_gold_keeps_its_indexes(table: Any) -> None:
    # Given a job opened without gold objects
    store.open_job(table, spec(), store.objects_from_manifest(manifest(2)), NOW)
    # Then its object items are numbered by manifest line and carry no gold attributes
    for index in range(2):
        entry = item(table, index)
        assert entry["index"] == index and "gold" not in entry and "data_index" not in entry
    assert "gold_count" not in store.get_job(table, JOB)
