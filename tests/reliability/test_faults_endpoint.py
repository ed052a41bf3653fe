"""Fault injection around the serving endpoint, on one local cloud (slow).

Scenarios (issue 8), in this order because they share the one endpoint:

1. an endpoint that never becomes InService: DeployEndpoint's heartbeat timeout ends the run FAILED at
   deployment;
2. lost endpoint state-change events: the heartbeat timeout ends the wait (nothing hangs);
3. five manifests dropped at once: endpoint updates are serialized (EndpointBusy retries), every run
   succeeds, ``@serving`` names the config the endpoint serves;
4. a failed blue/green update (the new model does not load, the update rolls back) while the previous
   model keeps answering predictions.

DeployEndpoint's heartbeat and timeout come from the execution input (``$.config.endpoint``), filled from
start_run's ``PIPELINE_CONFIG``; this module synthesizes with ``gtpipe:endpoint`` ``heartbeatSeconds`` /
``timeoutSeconds`` set small.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from local.drivers.client import PredictionApi
from tests.reliability.faults_support import (
    ENDPOINT_EVENT,
    RUN_FINAL_STATUSES,
    Cloud,
    Drop,
    drop_and_follow,
    follow,
    put_manifest,
    record_outcome,
    running_cloud,
    state_exited_at,
    states_entered,
    task_failures,
    wait_for,
)

pytestmark = pytest.mark.slow

HEARTBEAT_SECONDS = 15
TIMEOUT_SECONDS = 120


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running_cloud(
        tmp_path_factory.mktemp("faults-endpoint-cloud"),
        tmp_path_factory.mktemp("faults-endpoint-digits"),
        endpoint_timing=(HEARTBEAT_SECONDS, TIMEOUT_SECONDS),
    ) as started:
        yield started


@pytest.fixture(autouse=True)
def no_pending_faults(env: Cloud) -> Iterator[None]:
    env.faults.clear()
    yield
    env.faults.clear()


def settled(env: Cloud) -> bool:
    return env.endpoint().get("EndpointStatus") in ("InService", "Failed")


def deploy_attempts(drop: Drop) -> list[dict[str, Any]]:
    return task_failures(drop, "DeployEndpoint")


def test_given_endpoint_never_in_service_then_the_run_fails_at_verification_with_the_reason(
    env: Cloud,
) -> None:
    # given: deployments of the endpoint stay Creating/Updating
    env.faults.endpoint_never_in_service(env.endpoint_name)
    # when: a run reaches DeployEndpoint
    drop = drop_and_follow(env, "incoming/never-in-service.jsonl", env.augmented_manifest("stuck"))
    record_outcome(drop, "endpoint never InService")
    # then: after a heartbeat interval without news, VerifyEndpoint asks the endpoint itself, retries while
    # it is not ready and fails the run at verification, naming the endpoint's status
    run = drop.run
    assert drop.progress.run_status == "FAILED", run
    assert run["failure"]["step"] == "verification"
    assert run["failure"]["error"] == "EndpointNotReady"
    cause = run["failure"]["cause"]
    assert any(
        f"endpoint {env.endpoint_name} is {status}, expected InService" in cause
        for status in ("Creating", "Updating")
    ), cause
    assert [f.get("error") for f in deploy_attempts(drop)] == ["States.Timeout"]
    assert "Publish" not in states_entered(drop)
    assert env.endpoint()["EndpointStatus"] in ("Creating", "Updating")  # still stuck: nothing answered
    assert env.serving() is None
    notices = env.run_notifications(drop.run_id)
    assert [(n["status"], n["step"]) for n in notices] == [("FAILED", "verification")]
    assert HEARTBEAT_SECONDS <= drop.seconds < TIMEOUT_SECONDS + 60
    # and: once released, the endpoint settles; the late InService event finds no live token
    env.faults.release_endpoint(env.endpoint_name)
    assert wait_for(lambda: settled(env), 60)
    env.cloud.wait_idle(30)
    assert env.endpoint()["EndpointStatus"] == "InService"
    assert env.serving() is None, "a run that failed never publishes"


def test_given_endpoint_events_lost_then_verification_recovers_and_the_run_succeeds(
    env: Cloud,
) -> None:
    # given: the next two endpoint state-change events (UPDATING and IN_SERVICE) are never delivered
    env.faults.drop_next_event(ENDPOINT_EVENT)
    env.faults.drop_next_event(ENDPOINT_EVENT)
    # when
    drop = drop_and_follow(env, "incoming/lost-events.jsonl", env.augmented_manifest("lost-events"))
    record_outcome(drop, "endpoint events lost")
    # then: the run does not hang: DeployEndpoint times out after one heartbeat interval, VerifyEndpoint
    # finds the new configuration serving, and the run publishes it
    run = drop.run
    assert drop.progress.execution_status == "SUCCEEDED", run
    assert [f.get("error") for f in deploy_attempts(drop)] == ["States.Timeout"]
    assert drop.seconds < TIMEOUT_SECONDS + 60
    endpoint = env.endpoint()
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointConfigName"] == f"{drop.run_id}-epc-0"
    serving = env.serving()
    assert serving is not None and serving["source_run_id"] == drop.run_id


@dataclass
class Burst:
    drops: list[Drop]
    seconds: float


@pytest.fixture(scope="module")
def burst(env: Cloud) -> Burst:
    """Five manifests dropped at once, each run followed to its end (in parallel)."""
    env.faults.clear()
    started = time.monotonic()
    keys = [f"incoming/burst-{n}.jsonl" for n in range(5)]
    versions = [put_manifest(env, key, env.augmented_manifest(f"burst-{n}")) for n, key in enumerate(keys)]
    results: dict[str, Drop] = {}

    def follow_one(key: str, version: str | None) -> None:
        results[key] = follow(env, key, version, started)

    threads = [threading.Thread(target=follow_one, args=kv) for kv in zip(keys, versions, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    env.cloud.wait_idle(30)
    drops = [results[key] for key in keys]
    for drop in drops:
        record_outcome(drop, f"burst {drop.key}")
    return Burst(drops, time.monotonic() - started)


def test_given_five_manifests_at_once_then_five_runs_succeed_and_endpoint_updates_are_serialized(
    env: Cloud, burst: Burst
) -> None:
    drops = burst.drops
    # then: five runs, none lost, and every one SUCCEEDED: a busy endpoint makes a deployment wait, it
    # never fails a run
    assert len({d.run_id for d in drops}) == 5
    outcomes = {
        d.key: (d.progress.execution_status, d.progress.run_status, d.run.get("failure")) for d in drops
    }
    assert {(execution, run) for execution, run, _ in outcomes.values()} == {("SUCCEEDED", "SUCCEEDED")}, (
        outcomes
    )
    # and: concurrent deployments waited for each other (EndpointBusy answered by Retry)
    busy = [f for d in drops for f in deploy_attempts(d) if f.get("error") == "EndpointBusy"]
    assert busy, "no deployment ever found the endpoint busy"
    # and: the endpoint ends InService; @serving names the run that published last. Publish runs while the run
    # holds the endpoint lock, so publishes are serialized; a run's end (its report comes after the lock is
    # released) can come after a later run's publish, so the end order is not the deployment order.
    endpoint = env.endpoint()
    serving = env.serving()
    assert endpoint["EndpointStatus"] == "InService"
    assert serving is not None
    published = {d.run_id: state_exited_at(d, "Publish") for d in drops}
    assert None not in published.values(), published
    last = max(drops, key=lambda d: published[d.run_id])
    assert serving["source_run_id"] == last.run_id
    assert serving["endpoint_config_name"] == f"{last.run_id}-epc-0"
    # the endpoint serves exactly what @serving says it serves, and every run gave the endpoint lock back
    assert endpoint["EndpointConfigName"] == serving["endpoint_config_name"]
    assert env.endpoint_lock() is None
    notices = [n for n in env.notifications() if n["status"] in RUN_FINAL_STATUSES]
    for drop in drops:
        assert [n["status"] for n in notices if n["run_id"] == drop.run_id] == ["SUCCEEDED"]


@dataclass
class Polls:
    calls: list[tuple[float, int]] = field(default_factory=list)


def test_given_update_with_unloadable_model_then_it_rolls_back_and_the_old_model_keeps_serving(
    env: Cloud, burst: Burst
) -> None:
    # given: a model is serving, and the next deployment's model fails its health check
    before = env.serving()
    assert before is not None
    serving_config = env.endpoint()["EndpointConfigName"]
    env.faults.fail_next("endpoint", "the model artifact could not be loaded (injected)")
    api = PredictionApi(env.outputs)
    image = env.records[0].path.read_bytes()
    polls = Polls()
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            polls.calls.append((time.time(), api.request(image, "image/png").status))
            time.sleep(0.1)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        # when: a new run deploys it
        drop = drop_and_follow(env, "incoming/broken-model.jsonl", env.augmented_manifest("broken"))
    finally:
        stop.set()
        poller.join(30)
    record_outcome(drop, "update rolled back")
    # then: the update rolled back, verification caught it, the run FAILED at verification
    run = drop.run
    assert drop.progress.run_status == "FAILED", run
    assert run["failure"]["step"] == "verification"
    assert run["failure"]["error"] == "EndpointRolledBack"
    assert "rolled back" in run["failure"]["cause"]
    assert "Publish" not in states_entered(drop)
    # and: predictions answered 200 throughout, from the previous model; @serving is unchanged
    statuses = [status for _, status in polls.calls]
    assert len(statuses) >= 5 and set(statuses) == {200}, sorted(set(statuses))
    endpoint = env.endpoint()
    assert endpoint["EndpointStatus"] == "InService" and endpoint["EndpointConfigName"] == serving_config
    after = env.serving()
    assert after is not None and after["source_run_id"] == before["source_run_id"]
    assert after["endpoint_config_name"] == before["endpoint_config_name"]
    notices = env.run_notifications(drop.run_id)
    assert [(n["status"], n["step"]) for n in notices] == [("FAILED", "verification")]
