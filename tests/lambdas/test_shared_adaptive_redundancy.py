"""Adaptive redundancy: the rule (gtpipe_shared.adaptive_redundancy) and the tasks table that applies it
(gtpipe_shared.labeling_store) against moto DynamoDB."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from gtpipe_shared import adaptive_redundancy
from gtpipe_shared import labeling_store as store
from gtpipe_shared.adaptive_redundancy import judge
from gtpipe_shared.labeling_store import dynamo
from moto import mock_aws

from tests.lambdas.labeling_fixtures import create_labeling_table
from tests.lambdas.test_shared_labeling_store import JOB, NOW, SerializedTable, manifest, spec

CLASSES = "image-classification"
BOXES = "object-detection"


@pytest.fixture
def table(_clients: Any) -> Iterator[Any]:
    with mock_aws():
        yield create_labeling_table(_clients.dynamodb)


def open_adaptive(table: Any, count: int = 2, threshold: float = 0.8, workers: int = 3) -> None:
    adaptive = dataclasses.replace(spec(workers=workers), adaptive_threshold=threshold)
    store.open_job(table, adaptive, store.objects_from_manifest(manifest(count)), NOW)


def answer_next(table: Any, worker: str, label: int) -> tuple[int, store.AnswerOutcome] | None:
    lease = store.lease(table, JOB, worker, NOW)
    if lease is None:
        return None
    outcome = store.answer(table, JOB, lease.index, worker, lease.lease_id, {"label": label}, 2.0, NOW)
    return lease.index, outcome


def box(class_id: int, left: int, top: int = 10) -> dict[str, int]:
    return {"class_id": class_id, "left": left, "top": top, "width": 40, "height": 30}


def boxes(*drawn: dict[str, int]) -> dict[str, Any]:
    return {"boxes": list(drawn), "image_size": {"width": 200, "height": 100}}


# --- the rule -----------------------------------------------------------------------------------------


def test_one_class_answer_asks_for_a_second_above_two_thirds_and_not_below() -> None:
    # given one answer on a 3-class object
    # when judged at the default threshold (0.8) and at 0.6
    strict = judge(CLASSES, [{"label": 1}], 3, threshold=0.8, maximum=3)
    lenient = judge(CLASSES, [{"label": 1}], 3, threshold=0.6, maximum=3)
    # then one answer (confidence 2/3) is not enough at 0.8, and enough at 0.6
    assert (strict.more, strict.reason, strict.confidence) == (True, "low-confidence", 0.67)
    assert (lenient.more, lenient.reason) == (False, "agreed")


def test_two_agreeing_class_answers_stop_and_two_disagreeing_ask_for_a_third() -> None:
    # given two answers that agree, and two that do not
    agreed = judge(CLASSES, [{"label": 2}, {"label": 2}], 3, threshold=0.8, maximum=3)
    split = judge(CLASSES, [{"label": 2}, {"label": 0}], 3, threshold=0.8, maximum=3)
    # then the agreeing pair is done (0.94 >= 0.8), the split pair asks for a third answer
    assert (agreed.more, agreed.reason, agreed.confidence) == (False, "agreed", 0.94)
    assert (split.more, split.reason) == (True, "disagreed")


def test_the_maximum_stops_an_object_that_still_disagrees() -> None:
    # given three different answers with a maximum of 3
    verdict = judge(CLASSES, [{"label": 0}, {"label": 1}, {"label": 2}], 3, threshold=0.8, maximum=3)
    # then no fourth answer is asked for, and the verdict says why
    assert (verdict.more, verdict.reason) == (False, "maximum")


def test_a_model_suggestion_that_disagrees_asks_for_another_answer() -> None:
    # given one confident-enough answer (threshold 0.6) and a model that suggests another class
    verdict = judge(CLASSES, [{"label": 1}], 3, threshold=0.6, maximum=3, model_suggestion={"label": 0})
    agreeing = judge(CLASSES, [{"label": 1}], 3, threshold=0.6, maximum=3, model_suggestion={"label": 1})
    # then the model's disagreement asks for a second answer; its agreement does not
    assert (verdict.more, verdict.reason) == (True, "model-disagreed")
    assert not agreeing.more


def test_box_answers_one_alone_is_two_thirds_and_matching_answers_agree() -> None:
    # given one box answer, two matching ones (a few pixels apart), and two with different classes
    one = judge(BOXES, [boxes(box(0, 10))], 2, threshold=0.8, maximum=3)
    same = judge(BOXES, [boxes(box(0, 10)), boxes(box(0, 12))], 2, threshold=0.8, maximum=3)
    other = judge(BOXES, [boxes(box(0, 10)), boxes(box(1, 10))], 2, threshold=0.8, maximum=3)
    # then one answer asks for a second, matching boxes stop, different classes ask for a third
    assert (one.more, one.confidence) == (True, adaptive_redundancy.SINGLE_ANSWER_CONFIDENCE)
    assert (same.more, same.reason) == (False, "agreed")
    assert (other.more, other.reason) == (True, "disagreed")


def test_a_missing_box_is_a_disagreement() -> None:
    # given a second answer that misses one of the first answer's two boxes
    first, second = boxes(box(0, 10), box(1, 120)), boxes(box(0, 10))
    # then the answers do not agree
    assert not adaptive_redundancy.agree(BOXES, first, second)
    assert judge(BOXES, [first, second], 2, threshold=0.5, maximum=3).reason == "disagreed"


def test_judge_refuses_no_answers() -> None:
    with pytest.raises(ValueError, match="first answer"):
        judge(CLASSES, [], 3, threshold=0.8, maximum=3)


# --- the tasks table ------------------------------------------------------------------------------


def test_an_adaptive_job_asks_one_answer_per_object_at_first(table: Any) -> None:
    # given an adaptive job of 4 objects, at most 3 answers each
    open_adaptive(table, count=4)
    # then each object has one slot, and the progress needs 4 answers of at most 12
    slots = [obj["slots_open"] for obj in dynamo.query_prefix(table, JOB, "OBJ#")]
    progress = store.progress(table, JOB).as_dict()
    assert slots == [1, 1, 1, 1]
    assert (progress["answers_needed"], progress["answers_max"]) == (4, 12)


def test_a_fixed_job_is_stored_as_before(table: Any) -> None:
    # given a job without adaptive redundancy
    store.open_job(table, spec(workers=3), store.objects_from_manifest(manifest(2)), NOW)
    # then its items carry no adaptive attribute and its progress no maximum
    items = [*dynamo.query_prefix(table, JOB, "OBJ#"), store.get_job(table, JOB)]
    assert not [item for item in items if "answers_wanted" in item or "adaptive_threshold" in item]
    assert "answers_max" not in store.progress(table, JOB).as_dict()
    assert [item["slots_open"] for item in items[:2]] == [3, 3]


def test_answers_are_asked_for_until_they_agree(table: Any) -> None:
    # given an adaptive job of 2 objects (threshold 0.8, 3 classes)
    open_adaptive(table, count=2)
    # when w1 answers both objects
    first = [answer_next(table, "w1", 2), answer_next(table, "w1", 0)]
    # then neither object is done, each asks for a second answer, and w1 gets nothing more
    assert [(index, o.object_completed) for index, o in first if o] == [(0, False), (1, False)]
    assert store.lease(table, JOB, "w1", NOW) is None
    assert store.progress(table, JOB).answers_needed == 4
    # when w2 agrees on object 0 and disagrees on object 1
    second = [answer_next(table, "w2", 2), answer_next(table, "w2", 1)]
    # then object 0 is done with 2 answers, object 1 asks for a third
    assert [(index, o.object_completed) for index, o in second if o] == [(0, True), (1, False)]
    # when w3 answers the one object left
    third = answer_next(table, "w3", 1)
    # then the job is complete with 5 answers, all it asked for, and nothing is left to lease
    assert third is not None and third[0] == 1 and third[1].job_completed
    progress = store.progress(table, JOB)
    assert (progress.status, progress.objects_done, progress.answers_done, progress.answers_needed) == (
        "CONSOLIDATING",
        2,
        5,
        5,
    )
    assert [obj.answer_count for obj in store.objects(table, JOB)] == [2, 3]


def test_a_released_lease_gives_the_slot_back(table: Any) -> None:
    # given an adaptive job of 1 object whose one slot w1 leased
    open_adaptive(table, count=1)
    lease = store.lease(table, JOB, "w1", NOW)
    assert lease is not None
    # then nobody else can lease it while w1 holds it
    assert store.lease(table, JOB, "w2", NOW) is None
    # when w1 releases it
    store.release(table, JOB, lease.index, "w1", lease.lease_id)
    # then w2 can
    assert store.lease(table, JOB, "w2", NOW) is not None


def test_the_output_labels_objects_with_the_answers_they_asked_for(table: Any) -> None:
    # given an adaptive job where object 0 got 2 agreeing answers and object 1 one answer still wanting more
    open_adaptive(table, count=2)
    answer_next(table, "w1", 2)
    answer_next(table, "w1", 0)
    answer_next(table, "w2", 2)
    store.close_job(table, JOB, NOW)
    # when its output is built
    output = store.job_output(table, store.get_job(table, JOB), NOW)
    # then object 0 is labeled with 2 answers, object 1 is not (1 of the 2 answers it asked for)
    assert (output.labeled, output.unlabeled) == ([0], [1])
    manifest_key = next(key for key in output.files if key.endswith("output.manifest"))
    lines = [json.loads(line) for line in output.files[manifest_key].decode().splitlines()]
    assert "1 of 2 answers" in lines[1]["category-metadata"]["failure-reason"]
    # and the statistics record answers per object and how often the extra answers agreed with the first
    team = output.team
    assert (team["answers_per_object"], team["answer_counts"]) == (1.5, {"1": 1, "2": 1})
    assert (team["extra_answers"], team["extra_agreement"]) == (1, 1.0)


def test_racing_workers_keep_counts_and_slots_consistent(table: Any) -> None:
    # given an adaptive job of 6 objects and 5 workers answering at once, each its own labels, polling
    # until the job completes
    open_adaptive(table, count=6)
    shared = SerializedTable(table)
    errors: list[BaseException] = []
    labels = {"w1": 0, "w2": 0, "w3": 1, "w4": 2, "w5": 0}

    def work(worker: str) -> None:
        # A worker with nothing to lease polls again: another's answer may open a slot it can take.
        try:
            for _poll in range(5000):
                answer_next(shared, worker, labels[worker])
        except store.JobNotOpen:
            return  # the job completed
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in labels]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then every object got what it asked for, no slot stayed open or leased, and the job's counters
    # are the objects' sums
    assert errors == []
    objects = list(dynamo.query_prefix(table, JOB, "OBJ#"))
    job = store.get_job(table, JOB)
    assert all(obj["answer_count"] == obj["answers_wanted"] for obj in objects)
    assert all(2 <= obj["answer_count"] <= 3 and obj["slots_open"] == 0 for obj in objects)
    assert job["answers_done"] == job["answers_wanted"] == sum(obj["answer_count"] for obj in objects)
    assert (job["objects_done"], job["status"]) == (6, "CONSOLIDATING")
    assert sum(1 for _ in dynamo.query_prefix(table, JOB, "ANS#")) == job["answers_done"]
