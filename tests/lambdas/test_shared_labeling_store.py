"""The builtin labeling service's tasks table (gtpipe_shared.labeling_store) against moto DynamoDB."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from gtpipe_shared import labeling_store as store
from gtpipe_shared.labeling_store import dynamo, submissions
from moto import mock_aws

from tests.lambdas.labeling_fixtures import create_labeling_table

JOB = "demo-0123456789abcdef-label-0"
NOW = 1_800_000_000.0
LEASE_SECONDS = 60


@pytest.fixture
def table(_clients: Any) -> Iterator[Any]:
    with mock_aws():
        yield create_labeling_table(_clients.dynamodb)


def manifest(count: int, bucket: str = "gtpipe-data-bucket") -> bytes:
    return "".join(
        json.dumps({"source-ref": f"s3://{bucket}/images/{i:03d}.jpg"}) + "\n" for i in range(count)
    ).encode()


def spec(
    *,
    workers: int = 3,
    task_type: str = "image-classification",
    token: str = "token-1",
    job_name: str = JOB,
    lifetime: int = 3600,
) -> store.JobSpec:
    return store.JobSpec(
        job_name=job_name,
        run_id="demo-0123456789abcdef",
        task_type=task_type,
        task_token=token,
        class_names=("cat", "dog", "bird"),
        label_attribute="category",
        manifest_uri="s3://gtpipe-data-bucket/incoming/demo.manifest",
        output_path="s3://gtpipe-data-bucket/labeling/",
        data_bucket="gtpipe-data-bucket",
        workers_per_object=workers,
        lease_seconds=LEASE_SECONDS,
        expires_at=int(NOW) + lifetime,
        min_labeled_share=0.9,
        title="Cat, dog or bird?",
    )


def open_job(table: Any, count: int = 2, **kwargs: Any) -> store.OpenOutcome:
    return store.open_job(table, spec(**kwargs), store.objects_from_manifest(manifest(count)), NOW)


def lease_and_answer(table: Any, worker: str, label: int = 0, now: float = NOW) -> store.AnswerOutcome | None:
    lease = store.lease(table, JOB, worker, now)
    if lease is None:
        return None
    return store.answer(
        table, JOB, lease.index, worker, lease.lease_id, {"label": label}, 1.5, now, username=worker
    )


def count_items(table: Any, prefix: str) -> int:
    return sum(1 for _ in dynamo.query_prefix(table, JOB, prefix))


# --- manifest -> objects ----------------------------------------------------------------------------


def test_objects_from_manifest_keeps_lines_in_order_and_skips_trailing_blank_lines() -> None:
    data = manifest(3) + b"\n\n"
    objects = store.objects_from_manifest(data)
    assert [o.index for o in objects] == [0, 1, 2]
    assert objects[2].source_ref == "s3://gtpipe-data-bucket/images/002.jpg"
    assert json.loads(objects[0].line) == {"source-ref": "s3://gtpipe-data-bucket/images/000.jpg"}


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (
            b'{"source-ref": "s3://gtpipe-data-bucket/a.jpg"}\n{"source": "inline"}\n',
            "line 2: missing 'source-ref'",
        ),
        (b'{"source-ref": "s3://gtpipe-data-bucket/a.jpg"}\nnot json\n', "line 2: not a JSON object"),
        (b'{"source-ref": "http://example.com/a.jpg"}\n', "line 1: source-ref"),
        (
            b'{"source-ref": "s3://gtpipe-data-bucket/a.jpg"}\n{"source-ref": "s3://gtpipe-data-bucket/a.jpg"}\n',
            "line 2: duplicate",
        ),
        (b"\n\n", "manifest is empty"),
        (
            b'{"source-ref": "s3://gtpipe-data-bucket/a.jpg"}\n\n{"source-ref": "s3://gtpipe-data-bucket/b.jpg"}\n',
            "line 2: blank line",
        ),
    ],
)
def test_objects_from_manifest_names_the_bad_line(data: bytes, problem: str) -> None:
    with pytest.raises(store.InvalidManifest, match=problem.replace("(", r"\(")):
        store.objects_from_manifest(data)


# --- open -------------------------------------------------------------------------------------------


def test_open_creates_job_and_objects_and_lists_it(table: Any) -> None:
    # given a 30-line manifest (more than one BatchWriteItem of 25)
    outcome = open_job(table, count=30)
    # then the job is open with 30 objects of 3 free slots each, and listed for any worker
    assert outcome.created and outcome.job["status"] == "OPEN"
    assert count_items(table, "OBJ#") == 30
    job = store.get_job(table, JOB)
    assert job["object_count"] == 30 and job["open_jobs"] == "OPEN" and job["task_token"] == "token-1"
    listed = store.list_open_jobs(table, "worker-a", now=NOW)
    assert [j["job_name"] for j in listed] == [JOB]
    assert listed[0]["my_answers"] == 0 and listed[0]["class_names"] == ["cat", "dog", "bird"]
    assert listed[0]["title"] == "Cat, dog or bird?"


def test_retried_open_replaces_the_token_and_keeps_answers(table: Any) -> None:
    # given an open job with one answer
    open_job(table, count=3)
    lease_and_answer(table, "worker-a")
    # when the state machine's Lambda retry opens it again with another token
    again = open_job(table, count=3, token="token-2")
    # then nothing is duplicated or reset, and the new token is stored
    assert not again.created
    assert store.get_job(table, JOB)["task_token"] == "token-2"
    assert count_items(table, "OBJ#") == 3
    assert store.progress(table, JOB, "worker-a").my_answers == 1
    assert store.progress(table, JOB).answers_done == 1


def test_batch_put_retries_unprocessed_items() -> None:
    # given a client that leaves two items unprocessed once
    calls: list[int] = []

    class Client:
        def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:
            requests = RequestItems["t"]
            calls.append(len(requests))
            if len(calls) == 1:
                return {"UnprocessedItems": {"t": requests[:2]}}
            return {"UnprocessedItems": {}}

    class Table:
        name = "t"
        meta = type("Meta", (), {"client": Client()})()

    # when 30 items are written
    store.batch_put(Table(), [{"pk": "p", "sk": str(i)} for i in range(30)])
    # then they went in chunks of 25, and the unprocessed two were sent again
    assert calls == [25, 2, 5]


# --- leasing ----------------------------------------------------------------------------------------


def test_each_object_gets_n_distinct_workers_and_nobody_twice(table: Any) -> None:
    # given 2 objects that need 3 answers each, and 4 workers answering everything they are offered
    open_job(table, count=2, workers=3)
    answered: dict[str, list[int]] = {}
    completed = False
    for worker in ("w1", "w2", "w3"):
        while (lease := store.lease(table, JOB, worker, NOW)) is not None:
            answered.setdefault(worker, []).append(lease.index)
            outcome = store.answer(table, JOB, lease.index, worker, lease.lease_id, {"label": 1}, 2, NOW)
            completed = outcome.job_completed
            if completed:
                break
    # (w1 and w2 ran out of work while the job was open: lease answered None for them)
    assert completed
    with pytest.raises(store.JobNotOpen):
        store.lease(table, JOB, "w4", NOW)
    # then every object has exactly 3 answers, from 3 distinct workers, and the job is no longer open
    answers = store.all_answers(table, JOB)
    assert sorted(answers) == [0, 1]
    for records in answers.values():
        workers = [r.worker_id for r in records]
        assert len(workers) == 3 and len(set(workers)) == 3
    assert answered == {"w1": [0, 1], "w2": [0, 1], "w3": [0, 1]}
    assert store.get_job(table, JOB)["status"] == "CONSOLIDATING"


def test_a_worker_holds_one_lease_per_job_and_gets_it_back(table: Any) -> None:
    open_job(table, count=3, workers=1)
    first = store.lease(table, JOB, "w1", NOW)
    again = store.lease(table, JOB, "w1", NOW + 5)
    assert first is not None and again is not None
    assert (again.index, again.lease_id, again.resumed) == (first.index, first.lease_id, True)
    # another worker gets another object
    other = store.lease(table, JOB, "w2", NOW)
    assert other is not None and other.index != first.index


def test_nothing_left_when_every_slot_is_leased(table: Any) -> None:
    open_job(table, count=1, workers=2)
    assert store.lease(table, JOB, "w1", NOW) is not None
    assert store.lease(table, JOB, "w2", NOW) is not None
    assert store.lease(table, JOB, "w3", NOW) is None


def test_expired_lease_is_reclaimed_by_another_worker_and_the_first_cannot_answer(table: Any) -> None:
    # given the only slot leased to w1
    open_job(table, count=1, workers=1)
    first = store.lease(table, JOB, "w1", NOW)
    assert first is not None and first.lease_expires_at == int(NOW) + LEASE_SECONDS
    assert store.lease(table, JOB, "w2", NOW + LEASE_SECONDS - 1) is None
    # when the lease has expired, w2 asks
    second = store.lease(table, JOB, "w2", NOW + LEASE_SECONDS)
    # then w2 gets the object and w1's late answer is refused
    assert second is not None and second.index == first.index
    with pytest.raises(store.LeaseNotHeld):
        store.answer(table, JOB, first.index, "w1", first.lease_id, {"label": 0}, 3, NOW + LEASE_SECONDS + 1)
    store.answer(table, JOB, second.index, "w2", second.lease_id, {"label": 0}, 3, NOW + LEASE_SECONDS + 1)
    assert [r.worker_id for r in store.all_answers(table, JOB)[0]] == ["w2"]


def test_an_expired_but_unreclaimed_lease_can_still_answer(table: Any) -> None:
    open_job(table, count=1, workers=1)
    lease = store.lease(table, JOB, "w1", NOW)
    assert lease is not None
    outcome = store.answer(
        table, JOB, lease.index, "w1", lease.lease_id, {"label": 2}, 90, NOW + 2 * LEASE_SECONDS
    )
    assert outcome.object_completed and outcome.job_completed


def test_reclaim_expired_returns_slots_to_the_pool(table: Any) -> None:
    open_job(table, count=2, workers=1)
    assert store.lease(table, JOB, "w1", NOW) is not None
    assert store.lease(table, JOB, "w2", NOW + 30) is not None
    # when the sweep runs after the first lease expired but before the second did
    reclaimed = store.reclaim_expired(table, JOB, NOW + LEASE_SECONDS)
    # then only the first slot is free again
    assert reclaimed == 1
    third = store.lease(table, JOB, "w3", NOW + LEASE_SECONDS)
    assert third is not None and third.index == 0 and not third.resumed
    assert store.lease(table, JOB, "w4", NOW + LEASE_SECONDS) is None


def test_release_frees_the_slot_and_needs_the_lease(table: Any) -> None:
    open_job(table, count=1, workers=1)
    lease = store.lease(table, JOB, "w1", NOW)
    assert lease is not None
    with pytest.raises(store.LeaseNotHeld):
        store.release(table, JOB, lease.index, "w1", "not-my-lease")
    store.release(table, JOB, lease.index, "w1", lease.lease_id)
    assert store.lease(table, JOB, "w2", NOW) is not None
    with pytest.raises(store.LeaseNotHeld):
        store.release(table, JOB, lease.index, "w1", lease.lease_id)


def test_a_skipped_object_goes_to_others_but_never_back_to_the_skipper(table: Any) -> None:
    # Given two objects needing one answer each, and w1 leasing the first
    open_job(table, count=2, workers=1)
    first = store.lease(table, JOB, "w1", NOW)
    assert first is not None
    # When w1 skips it
    store.release(table, JOB, first.index, "w1", first.lease_id, skip=True)
    # Then w1 is offered the other object, and after that nothing
    second = store.lease(table, JOB, "w1", NOW)
    assert second is not None and second.index != first.index
    store.answer(table, JOB, second.index, "w1", second.lease_id, {"label": 0}, 1.0, NOW)
    assert store.lease(table, JOB, "w1", NOW) is None
    # And the skipped object is still open for someone else
    other = store.lease(table, JOB, "w2", NOW)
    assert other is not None and other.index == first.index


def test_leases_start_at_the_labeling_frontier_past_finished_objects(table: Any) -> None:
    # Given 60 objects needing one answer each, more than two pages of objects
    open_job(table, count=60, workers=1)
    # When one worker answers the first 55 (the mark moves as leases find finished objects)
    for _ in range(55):
        assert lease_and_answer(table, "w1") is not None
    lease = store.lease(table, JOB, "w2", NOW)
    # Then the job's mark says every object before the frontier is finished
    job = store.get_job(table, JOB)
    assert job["first_unfinished"] == 55
    # And the next lease is the first unfinished object, and the last five can still all be leased
    assert lease is not None and lease.index == 55
    others = [store.lease(table, JOB, f"w{n}", NOW) for n in range(3, 8)]
    assert sorted(o.index for o in others if o) == [56, 57, 58, 59]
    assert others[-1] is None


def test_lease_on_unknown_or_expired_job(table: Any) -> None:
    with pytest.raises(store.UnknownJob):
        store.lease(table, "no-such-job", "w1", NOW)
    open_job(table, count=1, lifetime=100)
    with pytest.raises(store.JobNotOpen, match="lifetime"):
        store.lease(table, JOB, "w1", NOW + 100)


# --- answers ----------------------------------------------------------------------------------------


def test_answer_without_a_lease_is_refused(table: Any) -> None:
    open_job(table, count=2)
    lease = store.lease(table, JOB, "w1", NOW)
    assert lease is not None
    with pytest.raises(store.LeaseNotHeld) as raised:
        store.answer(table, JOB, lease.index, "w2", lease.lease_id, {"label": 0}, 1, NOW)
    assert raised.value.status == 409 and raised.value.code == "LeaseNotHeld"
    with pytest.raises(store.LeaseNotHeld):
        store.answer(table, JOB, lease.index, "w1", "forged", {"label": 0}, 1, NOW)
    with pytest.raises(store.UnknownTask):
        store.answer(table, JOB, 99, "w1", lease.lease_id, {"label": 0}, 1, NOW)
    assert store.progress(table, JOB).answers_done == 0


def test_the_same_answer_sent_twice_counts_once(table: Any) -> None:
    open_job(table, count=2, workers=2)
    lease = store.lease(table, JOB, "w1", NOW)
    assert lease is not None
    store.answer(table, JOB, lease.index, "w1", lease.lease_id, {"label": 0}, 1, NOW)
    with pytest.raises(store.LeaseNotHeld):
        store.answer(table, JOB, lease.index, "w1", lease.lease_id, {"label": 0}, 1, NOW)
    assert store.progress(table, JOB, "w1").as_dict() == {
        "job_name": JOB,
        "status": "OPEN",
        "objects": 2,
        "objects_done": 0,
        "answers_done": 1,
        "answers_needed": 4,
        "expires_at": int(NOW) + 3600,
        "my_answers": 1,
    }


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({"label": 3}, "label 3 is not a known class id"),
        ({"label": -1}, "label -1 is not a known class id"),
        ({"label": True}, "label must be an integer"),
        ({"label": "cat"}, "label must be an integer"),
        ({}, "needs 'label'"),
        ([1], "must be a JSON object"),
    ],
)
def test_invalid_classification_answers_name_the_problem(table: Any, answer: Any, problem: str) -> None:
    open_job(table, count=1)
    lease = store.lease(table, JOB, "w1", NOW)
    assert lease is not None
    with pytest.raises(store.InvalidAnswer, match=problem) as raised:
        store.answer(table, JOB, lease.index, "w1", lease.lease_id, answer, 1, NOW)
    assert raised.value.status == 400


def box(**overrides: Any) -> dict[str, Any]:
    return {"class_id": 1, "left": 10, "top": 20, "width": 30, "height": 40, **overrides}


SIZE = {"width": 100, "height": 80}


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({"boxes": [box(class_id=7)], "image_size": SIZE}, r"boxes\[0\].class_id 7 is not a known class id"),
        ({"boxes": [box(), box(width=0)], "image_size": SIZE}, r"boxes\[1\] must have a positive width"),
        ({"boxes": [box(left="10")], "image_size": SIZE}, r"boxes\[0\].left must be a number"),
        (
            {"boxes": [box(left=80, width=30)], "image_size": SIZE},
            r"boxes\[0\] lies outside the image \(width 100\)",
        ),
        ({"boxes": [box(top=-5)], "image_size": SIZE}, r"boxes\[0\] lies outside the image \(height 80\)"),
        ({"boxes": [box()], "image_size": {"width": 0, "height": 80}}, "image_size width and height"),
        ({"boxes": [box()]}, "needs 'image_size'"),
        ({"boxes": [box()], "image_size": {"width": 100.5, "height": 80}}, "must be positive whole numbers"),
        ({"image_size": SIZE}, "needs 'boxes'"),
    ],
)
def test_invalid_box_answers_name_the_problem(answer: Any, problem: str) -> None:
    with pytest.raises(store.InvalidAnswer, match=problem):
        store.validate_answer("object-detection", answer, ["cat", "dog", "bird"])


def test_tiny_box_overshoot_is_clipped() -> None:
    cleaned = store.validate_answer(
        "object-detection",
        {"boxes": [box(left=-1, width=101.5, top=79, height=2)], "image_size": SIZE},
        ["a", "b"],
    )
    assert cleaned["boxes"] == [{"class_id": 1, "left": 0.0, "top": 79.0, "width": 100.0, "height": 1.0}]
    empty = store.validate_answer("object-detection", {"boxes": [], "image_size": SIZE}, ["a", "b"])
    assert empty["boxes"] == []


def test_box_answers_are_stored_clean(table: Any) -> None:
    open_job(table, count=1, workers=1, task_type="object-detection")
    lease = store.lease(table, JOB, "w1", NOW)
    assert lease is not None
    store.answer(
        table,
        JOB,
        0,
        "w1",
        lease.lease_id,
        {"boxes": [box()], "image_size": SIZE, "x": 1},
        7,
        NOW + 10,  # 7 of the 10 seconds the lease was held
        username="ann",
    )
    [record] = store.all_answers(table, JOB)[0]
    assert record.answer == {
        "boxes": [{"class_id": 1, "left": 10, "top": 20, "width": 30, "height": 40}],
        "image_size": SIZE,
    }
    assert (record.worker_id, record.username, record.seconds) == ("w1", "ann", 7.0)
    [worker] = store.workers(table, JOB)
    assert (worker["answers"], worker["seconds_total"], worker["username"]) == (1, 7, "ann")


# --- completion -------------------------------------------------------------------------------------


def test_job_completes_exactly_once_in_order(table: Any) -> None:
    # given two objects, one answer each
    open_job(table, count=2, workers=1)
    first = lease_and_answer(table, "w1")
    second = lease_and_answer(table, "w2")
    # then only the answer completing the last object completes the job
    assert first is not None and second is not None
    assert (first.object_completed, first.job_completed) == (True, False)
    assert (second.object_completed, second.job_completed) == (True, True)
    job = store.get_job(table, JOB)
    assert job["status"] == "CONSOLIDATING" and job["open_jobs"] == "CONSOLIDATING"
    assert [j["job_name"] for j in store.jobs_with_index_status(table, "CONSOLIDATING")] == [JOB]
    assert store.list_open_jobs(table, "w1", now=NOW) == []
    # a repeated transition (a lost race, the sweep) does nothing
    assert not store.complete_if_done(table, JOB, NOW)
    with pytest.raises(store.JobNotOpen):
        store.lease(table, JOB, "w3", NOW)


class SerializedTable:
    """The table with each request atomic (as DynamoDB's are) but requests interleaving freely between
    threads: moto itself is not thread-safe, so requests are serialized one at a time with a lock."""

    def __init__(self, target: Any, lock: threading.Lock | None = None) -> None:
        self._target = target
        self._lock = lock or threading.Lock()

    @property
    def name(self) -> str:
        return str(self._target.name)

    @property
    def meta(self) -> Any:
        return type("Meta", (), {"client": SerializedTable(self._target.meta.client, self._lock)})()

    def __getattr__(self, attribute: str) -> Any:
        method = getattr(self._target, attribute)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(*args, **kwargs)

        return call


def test_racing_final_answers_complete_the_job_once(table: Any) -> None:
    # given 2 objects needing 2 answers each, leased to 4 workers who all answer at the same moment
    open_job(table, count=2, workers=2)
    leases = {worker: store.lease(table, JOB, worker, NOW) for worker in ("w1", "w2", "w3", "w4")}
    assert sorted(lease.index for lease in leases.values() if lease) == [0, 0, 1, 1]
    shared = SerializedTable(table)
    barrier = threading.Barrier(len(leases))
    outcomes: list[store.AnswerOutcome] = []
    errors: list[BaseException] = []

    def send(worker: str, lease: store.Lease | None) -> None:
        assert lease is not None
        barrier.wait()
        try:
            outcomes.append(
                store.answer(shared, JOB, lease.index, worker, lease.lease_id, {"label": 1}, 1, NOW)
            )
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=item) for item in leases.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then every answer counted, each object completed once and exactly one answer completed the job
    assert errors == []
    assert sum(o.object_completed for o in outcomes) == 2
    assert sum(o.job_completed for o in outcomes) == 1
    final = store.progress(table, JOB)
    assert (final.objects_done, final.answers_done, final.status) == (2, 4, "CONSOLIDATING")
    assert {i: len(rs) for i, rs in store.all_answers(table, JOB).items()} == {0: 2, 1: 2}


def test_an_answer_that_lost_the_count_race_is_retried(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # given one object needing two answers, leased to a and b
    open_job(table, count=1, workers=2)
    lease_a, lease_b = store.lease(table, JOB, "a", NOW), store.lease(table, JOB, "b", NOW)
    assert lease_a is not None and lease_b is not None
    read_object = submissions.read_object
    sneaked: list[store.AnswerOutcome] = []
    reads: list[int] = []

    def read_then_let_b_answer(table_: Any, job: str, index: int) -> dict[str, Any]:
        item = read_object(table_, job, index)
        reads.append(index)
        if len(reads) == 1:  # b's answer lands between a's first read and a's transaction
            sneaked.append(store.answer(table, JOB, 0, "b", lease_b.lease_id, {"label": 0}, 1, NOW))
        return item

    monkeypatch.setattr(submissions, "read_object", read_then_let_b_answer)
    # when a answers with a stale answer count
    outcome = store.answer(table, JOB, 0, "a", lease_a.lease_id, {"label": 1}, 1, NOW)
    # then a's transaction was refused once and retried: both answers count, a's completed the job
    assert not sneaked[0].object_completed and len(reads) == 3  # a, b, a again
    assert outcome.object_completed and outcome.job_completed
    assert store.progress(table, JOB).answers_done == 2


def test_answers_after_close_are_refused(table: Any) -> None:
    open_job(table, count=2, workers=1)
    lease = store.lease(table, JOB, "w1", NOW)
    assert lease is not None
    assert store.close_job(table, JOB, NOW, "lifetime-ended")
    assert not store.close_job(table, JOB, NOW)
    with pytest.raises(store.JobNotOpen):
        store.answer(table, JOB, lease.index, "w1", lease.lease_id, {"label": 0}, 1, NOW)


def test_finish_claim_and_end(table: Any) -> None:
    open_job(table, count=1, workers=1)
    assert not store.claim_finish(table, JOB, "a", NOW)  # still OPEN
    lease_and_answer(table, "w1")
    assert store.claim_finish(table, JOB, "a", NOW)
    assert not store.claim_finish(table, JOB, "b", NOW + 10)
    assert store.claim_finish(table, JOB, "b", NOW + store.FINISH_CLAIM_SECONDS + 1)  # the first died
    assert store.end_job(table, JOB, "COMPLETED", NOW + 20, {"output_uri": "s3://x/y"})
    assert not store.end_job(table, JOB, "FAILED", NOW + 30)
    job = store.get_job(table, JOB)
    assert job["status"] == "COMPLETED" and "open_jobs" not in job and "finish_claim" not in job
    assert job["expires_ttl"] == int(NOW) + 20 + store.TTL_SECONDS and job["output_uri"] == "s3://x/y"
    assert store.expire_items(table, JOB, NOW + 20) == 3  # object, answer, worker
    assert all(
        "expires_ttl" in item
        for prefix in ("OBJ#", "ANS#", "WRK#")
        for item in dynamo.query_prefix(table, JOB, prefix)
    )


def test_objects_and_answers_for_the_output(table: Any) -> None:
    open_job(table, count=3, workers=2)
    for worker, label in (("w1", 0), ("w2", 1)):
        for _ in range(3):
            lease_and_answer(table, worker, label)
    objects = store.objects(table, JOB)
    assert [o.index for o in objects] == [0, 1, 2] and all(o.answer_count == 2 for o in objects)
    answers = store.all_answers(table, JOB)
    assert {i: sorted((r.worker_id, r.answer["label"]) for r in rs) for i, rs in answers.items()} == {
        i: [("w1", 0), ("w2", 1)] for i in range(3)
    }
