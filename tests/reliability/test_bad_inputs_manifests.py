"""Every manifest of the bad-input corpus through the real ``start_run`` handler against moto.

Rejected manifests: a clear error naming the problem (and the line), within bounded time, the manifest
object untouched (same bytes, same single version, no delete marker), a FAILED ledger item carrying the
reason, exactly one SNS notification and no execution. Accepted manifests (BOM, CRLF, controls): exactly
one execution.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import signal
import time
from types import FrameType
from typing import Any

import pytest

from tests.lambdas import conftest as lambda_fixtures
from tests.lambdas.conftest import DATA_BUCKET, Cloud, FakeContext, pipeline_config, s3_event
from tests.reliability.test_bad_inputs_corpus import Case, case_params

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

# The Lambda tests' moto fixtures, reused as they are (pytest finds fixtures among module attributes).
_clients = lambda_fixtures._clients
_fresh_state = lambda_fixtures._fresh_state
cloud = lambda_fixtures.cloud
context = lambda_fixtures.context


def start_run_handler() -> Any:
    """The handler module, imported after tests.lambdas.conftest has set the environment it reads at import
    (the idempotency table, Powertools) and moto has hooked botocore (so its import-time clients are mocked)."""
    return importlib.import_module("start_run.handler")


DEFAULT_MAX_SECONDS = 10.0
LARGE_MAX_SECONDS = 60.0


def handle_within(
    seconds: float, event: dict[str, Any], context: FakeContext
) -> tuple[dict[str, Any], float]:
    """Run the handler; fail (instead of hanging the suite) when it is still busy after ``seconds``.

    SIGALRM interrupts the main thread (moto's mocks are not visible to worker threads here)."""

    def expired(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"start_run did not answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        answer = start_run_handler().lambda_handler(event, context)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return answer, time.monotonic() - started


def assert_untouched(cloud: Cloud, key: str, version_id: str, digest: str) -> None:
    listing = cloud.s3.list_object_versions(Bucket=DATA_BUCKET, Prefix=key)
    assert [v["VersionId"] for v in listing.get("Versions", []) if v["Key"] == key] == [version_id]
    assert [m for m in listing.get("DeleteMarkers", []) if m["Key"] == key] == []
    stored = cloud.s3.get_object(Bucket=DATA_BUCKET, Key=key)
    assert stored["VersionId"] == version_id
    assert hashlib.sha256(stored["Body"].read()).hexdigest() == digest


@pytest.mark.parametrize("case", case_params("manifest"))
def test_manifest_case(
    case: Case, cloud: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the case's manifest dropped under incoming/, with the corpus' pipeline configuration
    monkeypatch.setenv("PIPELINE_CONFIG", json.dumps(pipeline_config(**case.config)))
    body = case.data()
    assert body is not None
    key = f"incoming/{case.name}.manifest"
    put = cloud.put(key, body)
    version_id = put["VersionId"]
    event = s3_event(key, version_id, put["ETag"].strip('"'), size=len(body))
    limit = LARGE_MAX_SECONDS if len(body) > 1_000_000 else DEFAULT_MAX_SECONDS

    # when start_run handles the Object Created event
    answer, elapsed = handle_within(limit, event, context)

    # then it answered in bounded time and left the manifest exactly as it was
    assert elapsed < limit
    assert_untouched(cloud, key, version_id, hashlib.sha256(body).hexdigest())
    item = cloud.run(answer["run_id"])
    assert item is not None and item["input_key"] == key and item["input_version_id"] == version_id
    notes = cloud.notifications()
    executions = cloud.executions()
    expect = case.expect

    if case.accepted:
        # and a valid manifest starts exactly one execution, recorded RUNNING, with no notification
        assert answer["status"] == "RUNNING" and answer["duplicate"] is False
        assert [e["name"] for e in executions] == [answer["run_id"]]
        assert answer["manifest"]["kind"] == expect["manifest_kind"]
        assert answer["manifest"]["line_count"] == expect["line_count"]
        assert item["status"] == "RUNNING" and item["execution_arn"] == executions[0]["executionArn"]
        assert notes == []
        return

    # and an invalid one starts nothing, and names the problem and its line
    assert executions == []
    assert answer["status"] == "FAILED" and answer["error"] == expect["error"]
    assert answer["error_count"] == expect["error_count"]
    first = answer["errors"][0]
    if expect["line"]:
        assert first.startswith(f"line {expect['line']}: "), first
    else:
        assert not first.startswith("line "), first
    assert expect["contains"] in first
    assert "Traceback" not in json.dumps(answer)
    # and the ledger item is FAILED at the validate step with that reason
    assert item["status"] == "FAILED"
    assert item["failure"]["step"] == "validate" and item["failure"]["error"] == expect["error"]
    assert expect["contains"] in item["failure"]["cause"]
    assert item["errors"] == answer["errors"]
    # and exactly one notification says so
    assert len(notes) == 1
    message = notes[0]["message"]
    assert message["run_id"] == answer["run_id"] and message["status"] == "FAILED"
    assert message["error"] == expect["error"] and expect["contains"] in message["reason"]
    assert f"{case.name}.manifest" in notes[0]["subject"]
