"""The labeling function (open / finish / sweep) against moto S3 and DynamoDB, with a recording Step
Functions client (the task token answers are what the state machine sees)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError
from gtpipe_shared import labeling_store as store
from labeling import handler

from tests.lambdas.conftest import DATA_BUCKET, Cloud, FakeContext, load_event, put_running_run
from tests.lambdas.labeling_fixtures import LABELING_TABLE, create_labeling_table

RUN = "demo-0123456789abcdef"
JOB = f"{RUN}-label-0"
MANIFEST_KEY = "incoming/demo.manifest"
NOW = 1_800_000_000.0
PREFIX = f"labeling/{JOB}/"


@dataclass
class FakeStepFunctions:
    """Records SendTask* calls; tokens in ``gone`` answer like a run that stopped waiting."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    gone: dict[str, str] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)

    def _call(self, name: str, **kwargs: Any) -> dict[str, Any]:
        token = kwargs["taskToken"]
        if token in self.broken:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, name)
        if token in self.gone:
            raise ClientError({"Error": {"Code": self.gone[token], "Message": "no such task"}}, name)
        self.calls.append((name, kwargs))
        return {}

    def send_task_success(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("success", **kwargs)

    def send_task_failure(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("failure", **kwargs)

    def send_task_heartbeat(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("heartbeat", **kwargs)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for call, kwargs in self.calls if call == name]


@dataclass
class Labeling:
    cloud: Cloud
    tasks: Any
    sfn: FakeStepFunctions
    context: FakeContext
    now: list[float]

    def invoke(self, event: dict[str, Any], at: float | None = None) -> dict[str, Any]:
        if at is not None:
            self.now[0] = at
        return handler.lambda_handler(event, self.context)

    def put_manifest(self, count: int, key: str = MANIFEST_KEY) -> str:
        body = "".join(
            json.dumps({"source-ref": f"s3://{DATA_BUCKET}/images/{i:03d}.jpg"}) + "\n" for i in range(count)
        )
        return str(self.cloud.put(key, body)["VersionId"])

    def open(self, count: int = 3, at: float = NOW, **settings: Any) -> dict[str, Any]:
        event = open_event(version_id=self.put_manifest(count), **settings)
        return self.invoke(event, at)

    def answer_all(
        self, workers: tuple[str, ...], at: float = NOW, limit: int | None = None, label: int = 1
    ) -> int:
        given = 0
        for worker in workers:
            mine = 0
            while limit is None or mine < limit:
                lease = store.lease(self.tasks, JOB, worker, at)
                if lease is None:
                    break
                store.answer(
                    self.tasks,
                    JOB,
                    lease.index,
                    worker,
                    lease.lease_id,
                    {"label": label},
                    3,
                    at,
                    username=worker,
                )
                given += 1
                mine += 1
                if store.get_job(self.tasks, JOB)["status"] != "OPEN":
                    return given
        return given

    def job(self) -> dict[str, Any]:
        return store.get_job(self.tasks, JOB)


def open_event(version_id: str | None = None, token: str | None = None, **settings: Any) -> dict[str, Any]:
    event = load_event("labeling_open_payload.json")
    event["manifest_version_id"] = version_id
    if token:
        event["task_token"] = token
    event["settings"].update(settings)
    return event


@pytest.fixture
def labeling(cloud: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch) -> Iterator[Labeling]:
    tasks = create_labeling_table(cloud.dynamodb)
    monkeypatch.setenv("LABELING_TABLE", LABELING_TABLE)
    fake = FakeStepFunctions()
    now = [NOW]
    monkeypatch.setattr(handler, "sfn", lambda: fake)
    monkeypatch.setattr(handler, "clock", lambda: now[0])
    put_running_run(cloud, RUN)
    yield Labeling(cloud, tasks, fake, context, now)


# --- open -------------------------------------------------------------------------------------------


def test_open_keeps_the_configured_hotkeys_for_the_app(labeling: Labeling) -> None:
    version = labeling.put_manifest(2)
    labeling.invoke(open_event(version_id=version, hotkeys={"cat": "k", "dog": "d"}))
    assert labeling.job()["hotkeys"] == {"cat": "k", "dog": "d"}
    [listed] = store.list_open_jobs(labeling.tasks, "worker-1", now=NOW)
    assert listed["hotkeys"] == {"cat": "k", "dog": "d"}


def test_open_creates_the_job_from_the_manifest_version(labeling: Labeling) -> None:
    # given a 3-line manifest, then a newer version of the same key with 5 lines
    version = labeling.put_manifest(3)
    labeling.put_manifest(5)
    # when the state machine opens the job on the first version
    answer = labeling.invoke(open_event(version_id=version))
    # then the job has the first version's 3 objects and the contract's settings, and no token answer yet
    assert answer == {"job_name": JOB, "status": "OPEN", "created": True, "objects": 3}
    job = labeling.job()
    assert job["object_count"] == 3 and job["workers_per_object"] == 2 and job["lease_seconds"] == 300
    assert job["expires_at"] == int(NOW) + 3600 and job["class_names"] == ["cat", "dog", "bird"]
    assert job["instructions"].startswith("Choose the animal") and job["title"] == "Cat, dog or bird?"
    assert job["task_token"] == "AQB8AAAAKgAAAAMAAAAAAAAAAT0ken-example"
    assert "hotkeys" not in job  # none configured: the item stays as before
    assert labeling.sfn.calls == []
    # and the run shows the progress
    progress = labeling.cloud.run(RUN)["labeling_progress"]  # type: ignore[index]
    assert {k: int(v) for k, v in progress.items() if k not in ("job_name", "updated_at")} == {
        "objects": 3,
        "objects_done": 0,
        "answers_done": 0,
        "answers_needed": 6,
    }


def test_open_reads_class_names_from_the_label_categories_file(labeling: Labeling) -> None:
    labeling.cloud.put(
        f"labeling/{RUN}/label-categories.json", json.dumps({"labels": [{"label": "zero"}, {"label": "one"}]})
    )
    event = open_event(version_id=labeling.put_manifest(2))
    del event["settings"]["class_names"]
    labeling.invoke(event)
    assert labeling.job()["class_names"] == ["zero", "one"]


def test_retried_open_replaces_the_token_without_duplicating(labeling: Labeling) -> None:
    # given an open job with one answer
    labeling.open(3)
    labeling.answer_all(("w1",), limit=1)
    # when the same job is opened again with another token (a retried invoke)
    answer = labeling.invoke(open_event(version_id=labeling.put_manifest(3), token="token-2"))
    # then the answer and objects are kept and the new token will be answered
    assert answer["created"] is False
    job = labeling.job()
    assert job["task_token"] == "token-2" and job["answers_done"] == 1 and job["object_count"] == 3


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('{"source-ref": "s3://gtpipe-data-bucket/a.jpg"}\n{"no-ref": 1}\n', "line 2: missing 'source-ref'"),
        ("", "manifest is empty"),
    ],
)
def test_invalid_manifest_fails_the_task(labeling: Labeling, body: str, problem: str) -> None:
    version = str(labeling.cloud.put(MANIFEST_KEY, body)["VersionId"])
    answer = labeling.invoke(open_event(version_id=version))
    assert answer["status"] == "input-invalid"
    [failure] = labeling.sfn.named("failure")
    assert (
        failure["error"] == "LabelingInputInvalid" and problem in failure["cause"] and JOB in failure["cause"]
    )
    with pytest.raises(store.UnknownJob):
        labeling.job()


def test_unreadable_manifest_fails_the_task(labeling: Labeling) -> None:
    event = open_event()
    event["manifest_uri"] = f"s3://{DATA_BUCKET}/incoming/missing.manifest"
    labeling.invoke(event)
    [failure] = labeling.sfn.named("failure")
    assert failure["error"] == "LabelingInputInvalid"
    assert "missing.manifest cannot be read: NoSuchKey" in failure["cause"]


def test_open_without_class_names_fails_the_task(labeling: Labeling) -> None:
    event = open_event(version_id=labeling.put_manifest(2))
    del event["settings"]["class_names"]
    del event["settings"]["label_categories_uri"]
    labeling.invoke(event)
    [failure] = labeling.sfn.named("failure")
    assert failure["error"] == "LabelingInputInvalid" and "no class names" in failure["cause"]


def test_open_with_adaptive_redundancy_asks_one_answer_per_object(labeling: Labeling) -> None:
    # given the settings' adaptive redundancy threshold, at most 3 answers per object
    labeling.open(3, workers_per_object=3, adaptive_confidence_threshold=0.8)
    # then the job is adaptive and asks for 3 answers of at most 9
    job = labeling.job()
    assert job["adaptive_threshold"] == 0.8
    progress = store.progress(labeling.tasks, JOB)
    assert (progress.answers_needed, progress.answers_max) == (3, 9)
    # when two workers agree on every object
    labeling.answer_all(("w1", "w2"), at=NOW + 60)
    # then the job completed with 2 answers per object, not 3
    assert labeling.job()["status"] == "CONSOLIDATING" and labeling.job()["answers_done"] == 6


def test_open_with_an_invalid_adaptive_threshold_fails_the_task(labeling: Labeling) -> None:
    labeling.open(2, adaptive_confidence_threshold=2)
    [failure] = labeling.sfn.named("failure")
    assert failure["error"] == "LabelingInputInvalid"
    assert "settings.adaptive_confidence_threshold must be a number in (0, 1]" in failure["cause"]


# --- finish -----------------------------------------------------------------------------------------


def test_finish_writes_ground_truth_output_and_answers_the_token(labeling: Labeling) -> None:
    # given a job whose 3 objects all have their 2 answers
    labeling.open(3)
    labeling.answer_all(("w1", "w2"), at=NOW + 60)
    assert labeling.job()["status"] == "CONSOLIDATING"
    # when the finish runs (the API's async invoke)
    answer = labeling.invoke({"action": "finish", "job_name": JOB}, at=NOW + 70)
    # then the output manifest labels every object as a human-annotated label
    assert answer["status"] == "COMPLETED"
    lines = [
        json.loads(line)
        for line in labeling.cloud.read(PREFIX + "manifests/output/output.manifest").splitlines()
    ]
    assert len(lines) == 3
    assert all(
        line["category"] == 1 and line["category-metadata"]["human-annotated"] == "yes" for line in lines
    )
    assert lines[0]["category-metadata"]["job-name"] == f"labeling-job/{JOB}"
    keys = [
        o["Key"] for o in labeling.cloud.s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix=PREFIX)["Contents"]
    ]
    assert sum("annotations/worker-response/iteration-1/" in key for key in keys) == 3
    assert any("consolidation-response/iteration-1/" in key for key in keys)
    assert PREFIX + "team/stats.json" in keys and PREFIX + "manifests/output/unlabeled.manifest" not in keys
    # and the token's output has the Label state's result shape plus the team statistics
    [success] = labeling.sfn.named("success")
    output = json.loads(success["output"])
    uri = f"s3://{DATA_BUCKET}/{PREFIX}manifests/output/output.manifest"
    assert output["job_arn"] == f"gtpipe:labeling-job/{JOB}" and output["backend"] == "builtin"
    assert output["output_uri"] == uri and output["job_output"] == {"OutputDatasetS3Uri": uri}
    assert output["counters"] == {
        "TotalLabeled": 3,
        "HumanLabeled": 3,
        "MachineLabeled": 0,
        "FailedNonRetryableError": 0,
        "Unlabeled": 0,
    }
    assert {w["worker_id"] for w in output["team"]["workers"]} == {"w1", "w2"}
    assert output["team"]["answers"] == 6
    # and the job and the run record the end
    job = labeling.job()
    assert job["status"] == "COMPLETED" and "open_jobs" not in job and job["output_uri"] == uri
    assert int(labeling.cloud.run(RUN)["labeling_progress"]["objects_done"]) == 3  # type: ignore[index]


def test_a_second_finish_does_nothing(labeling: Labeling) -> None:
    labeling.open(2)
    labeling.answer_all(("w1", "w2"))
    labeling.invoke({"action": "finish", "job_name": JOB})
    again = labeling.invoke({"action": "finish", "job_name": JOB})
    assert again == {"job_name": JOB, "status": "COMPLETED", "already_finished": True}
    assert len(labeling.sfn.named("success")) == 1


def test_finish_of_an_open_job_waits_for_its_answers(labeling: Labeling) -> None:
    labeling.open(2)
    answer = labeling.invoke({"action": "finish", "job_name": JOB})
    assert answer["skipped"] == "the job still takes answers" and labeling.sfn.calls == []


def test_answers_with_different_image_sizes_do_not_fail_the_job(labeling: Labeling) -> None:
    # given a box job (opened as classification, then switched) whose two workers report different
    # sizes of the same image (stored before the API checked sizes), and the server's size recorded
    labeling.open(1, class_names=["cat", "dog"])
    labeling.tasks.update_item(
        Key={"pk": store.job_pk(JOB), "sk": store.JOB_SK},
        UpdateExpression="SET task_type = :t",
        ExpressionAttributeValues={":t": "object-detection"},
    )
    for worker, width in (("w1", 100), ("w2", 120)):
        lease = store.lease(labeling.tasks, JOB, worker, NOW)
        assert lease is not None
        body = {"boxes": [], "image_size": {"width": width, "height": 80}}
        store.answer(labeling.tasks, JOB, 0, worker, lease.lease_id, body, 2, NOW)
    store.record_image_size(labeling.tasks, JOB, 0, (120, 80))
    # when the finish runs
    answer = labeling.invoke({"action": "finish", "job_name": JOB})
    # then the job completes at the server's size
    assert answer["status"] == "COMPLETED" and labeling.sfn.named("failure") == []
    line = json.loads(labeling.cloud.read(PREFIX + "manifests/output/output.manifest").splitlines()[0])
    assert line["category"]["image_size"][0]["width"] == 120


# --- sweep ------------------------------------------------------------------------------------------


def test_sweep_sends_heartbeats_and_reclaims_expired_leases(labeling: Labeling) -> None:
    labeling.open(2)
    assert store.lease(labeling.tasks, JOB, "w1", NOW) is not None
    answer = labeling.invoke(
        {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events"}, at=NOW + 301
    )
    assert answer == {"action": "sweep", "jobs": {JOB: "reclaimed:1"}}
    assert labeling.sfn.named("heartbeat") == [{"taskToken": "AQB8AAAAKgAAAAMAAAAAAAAAAT0ken-example"}]


def test_sweep_closes_an_expired_job_below_the_minimum_as_incomplete(labeling: Labeling) -> None:
    # given a 3-object job where only one object got its 2 answers before the lifetime ended
    labeling.open(3)
    labeling.answer_all(("w1", "w2"), limit=1)
    # when the sweep runs after the lifetime
    answer = labeling.invoke({"action": "sweep"}, at=NOW + 3600)
    # then the job closed, wrote what it had, and failed the run naming the share, the minimum and the rest
    assert answer["jobs"] == {JOB: "closed:INCOMPLETE"}
    [failure] = labeling.sfn.named("failure")
    assert failure["error"] == "LabelingIncomplete"
    unlabeled = f"s3://{DATA_BUCKET}/{PREFIX}manifests/output/unlabeled.manifest"
    assert (
        "share 0.33" in failure["cause"]
        and "minimum 0.90" in failure["cause"]
        and unlabeled in failure["cause"]
    )
    assert len(labeling.cloud.read(PREFIX + "manifests/output/unlabeled.manifest").splitlines()) == 2
    assert labeling.job()["status"] == "INCOMPLETE"


def test_sweep_closes_an_expired_job_above_the_minimum_as_success(labeling: Labeling) -> None:
    labeling.open(3, min_labeled_share=0.5)
    labeling.answer_all(("w1", "w2"), limit=2)  # objects 0 and 1 complete
    labeling.invoke({"action": "sweep"}, at=NOW + 3600)
    [success] = labeling.sfn.named("success")
    assert json.loads(success["output"])["counters"]["Unlabeled"] == 1
    assert labeling.job()["status"] == "COMPLETED"


def test_sweep_fails_a_job_its_run_no_longer_waits_for(labeling: Labeling) -> None:
    labeling.open(2)
    labeling.sfn.gone["AQB8AAAAKgAAAAMAAAAAAAAAAT0ken-example"] = "TaskTimedOut"
    answer = labeling.invoke({"action": "sweep"})
    assert answer["jobs"] == {JOB: "abandoned"}
    job = labeling.job()
    assert job["status"] == "FAILED" and "TaskTimedOut" in job["failure"] and "open_jobs" not in job


def test_sweep_finishes_a_job_stuck_consolidating(labeling: Labeling) -> None:
    # given a completed job whose async finish was lost
    labeling.open(1)
    labeling.answer_all(("w1", "w2"))
    # a minute later it is left alone; after two minutes the sweep finishes it
    assert labeling.invoke({"action": "sweep"}, at=NOW + 60)["jobs"] == {JOB: "consolidating"}
    assert labeling.invoke({"action": "sweep"}, at=NOW + 121)["jobs"] == {JOB: "refinished:COMPLETED"}
    assert len(labeling.sfn.named("success")) == 1


def test_one_broken_job_does_not_stop_the_sweep(labeling: Labeling) -> None:
    # given two open jobs, the first one's heartbeat failing with an unexpected error
    labeling.invoke(open_event(version_id=labeling.put_manifest(1), token="broken"))
    second = open_event(version_id=labeling.put_manifest(1), token="fine")
    second["job_name"] = f"{RUN}-label-1"
    labeling.invoke(second, at=NOW + 1)
    labeling.sfn.broken.add("broken")
    # when the sweep runs
    answer = labeling.invoke({"action": "sweep"}, at=NOW + 2)
    # then the error is reported for the first and the second was swept
    assert answer["jobs"] == {JOB: "error:ThrottlingException", f"{RUN}-label-1": "open"}
    assert labeling.sfn.named("heartbeat") == [{"taskToken": "fine"}]


def test_unknown_action_is_an_error(labeling: Labeling) -> None:
    with pytest.raises(ValueError, match="unknown action 'close'"):
        labeling.invoke({"action": "close"})
