"""The model-lifecycle loop on a running local cloud (README "Model lifecycle: harvest, relabel, retrain"):
upright digits → serve → a rotated stream (captured) → a few corrections → the drift monitor's window fires
the input and embedding drift alarms (they notify the topic) → the harvest schedule fires → the simulated
workforce labels the harvest → the cumulative retrain → champion/challenger → deploy.

:func:`run_loop` drives it as a user would (S3 drops, HTTPS predictions and corrections, the schedule fired
through the cloud) and returns what happened; the end-to-end test asserts on it and ``python -m bench
harvest`` times it. The cloud must have been deployed with :data:`LOOP_CONTEXT` over the demo's context.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.drivers.client import PredictionApi
from local.drivers.demo import upload_dataset
from local.drivers.demo_tasks import TASKS, write_reference_answers
from local.drivers.drift_window import MONITOR_RULE_PREFIX, DriftCheck, check_drift
from local.drivers.runs import execution_history, follow_run
from local.drivers.shifted_stream import Sent, accuracy, feedback_references, send_stream, shifted_digits
from training.datasets import DigitRecord, augmented_manifest_line, write_digits_dataset

HARVEST_SCHEDULE = "rate(1 day)"
# The harvester on, every answer captured (so the harvest, not the capture sample, decides what is labeled),
# drift monitoring on. The monitor's window is a day, so its schedule (one local minute per second by default:
# 24 minutes) does not fire by itself within the loop: the loop fires it once, after the stream, and the window
# holds every request the loop made (all of them rotated digits). Rotation keeps the pixels' statistics, so it
# is the embedding alarm that fires (a recoloured stream would fire the input alarm too).
LOOP_CONTEXT: dict[str, Any] = {
    "gtpipe:harvest": {
        "enabled": True,
        "schedule": HARVEST_SCHEDULE,
        "budget": 120,
        "uncertainShare": 0.7,
        "sampleShare": 0.3,
        "nearDuplicateBits": 2,
    },
    "gtpipe:capture": {"samplePercent": 100},
    "gtpipe:monitoring": {"enabled": True, "windowMinutes": 1440, "minRequests": 20},
}


@dataclass(frozen=True)
class LoopSizes:
    """How many upright training images, streamed rotated images, held-out rotated images, corrections."""

    upright: int = 300
    stream: int = 240
    held_out: int = 150
    corrections: int = 3


@dataclass
class LoopResult:
    """What the loop did: both runs' ledger items and states, the drift window and alarms after the stream,
    the harvest, the accuracies (held-out rotated digits, before and after), the timings."""

    upright: list[DigitRecord]
    first: dict[str, Any]
    sent: list[Sent]
    corrected: list[Sent]
    drift: DriftCheck
    harvest: dict[str, Any]
    second: dict[str, Any]
    second_states: list[str]
    before: float
    after: float
    seconds: dict[str, float] = field(default_factory=dict)


def _jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def _follow(cloud: Any, key: str, version_id: str | None, timeout: float) -> dict[str, Any]:
    progress = follow_run(
        cloud.client("dynamodb"),
        cloud.client("stepfunctions"),
        cloud.outputs["RunsTableName"],
        key,
        version_id,
        timeout=timeout,
        interval=0.5,
    )
    return dict(progress.run or {})


def _states(cloud: Any, run: dict[str, Any]) -> list[str]:
    arn = run.get("execution_arn")
    history = execution_history(cloud.client("stepfunctions"), arn) if arn else []
    return [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]


def harvest_rule(cloud: Any) -> str:
    """The name of the harvest schedule rule (the one rule with its schedule but the drift monitor's, whose
    day-long window renders as the same ``rate(1 day)``)."""
    rules = cloud.client("events").list_rules()["Rules"]
    [rule] = [
        r
        for r in rules
        if r.get("ScheduleExpression") == HARVEST_SCHEDULE and not r["Name"].startswith(MONITOR_RULE_PREFIX)
    ]
    return str(rule["Name"])


def fire_harvest(cloud: Any, bucket: str, timeout: float) -> dict[str, Any]:
    """Fire the harvest schedule now; the summary of the harvest it ran (``harvest/<day>.json``), or
    ``{"picked": 0, ...}`` from its state when it dropped nothing."""
    s3 = cloud.client("s3")
    fired_at = datetime.now(UTC)
    cloud.fire_schedules(harvest_rule(cloud))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if s3.list_objects_v2(Bucket=bucket, Prefix="harvest/state.json").get("KeyCount", 0):
            state = json.loads(s3.get_object(Bucket=bucket, Key="harvest/state.json")["Body"].read())
            if datetime.fromisoformat(state["until"]) >= fired_at:
                key = state.get("manifest_key")
                if not key:
                    return {"picked": 0, "manifest_key": None}
                day = str(key).removeprefix("incoming/feedback-").removesuffix(".manifest")
                return dict(
                    json.loads(s3.get_object(Bucket=bucket, Key=f"harvest/{day}.json")["Body"].read())
                )
        time.sleep(0.5)
    raise TimeoutError(f"no harvest ended within {timeout} s of firing its schedule")


def run_loop(
    cloud: Any,
    work: Path,
    *,
    sizes: LoopSizes = LoopSizes(),
    timeout: float = 600.0,
    say: Callable[[str], None] = lambda _text: None,
) -> LoopResult:
    """The whole loop on ``cloud`` (nothing served before); ``work`` holds the drawn images."""
    bucket = str(cloud.outputs["DataBucketName"])
    s3 = cloud.client("s3")
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    upright = write_digits_dataset(
        work / "upright",
        bucket=bucket,
        prefix=TASKS["image-classification"].image_prefix,
        holdout_fraction=0.0,
        limit=sizes.upright,
    )
    upload_dataset(cloud, bucket, upright)
    lines = [augmented_manifest_line(r, "category", job_name="upright") for r in upright]
    put = s3.put_object(Bucket=bucket, Key="incoming/upright.jsonl", Body=_jsonl(lines))
    say(f"run 1: {len(upright)} upright digits, labeled")
    first = _follow(cloud, "incoming/upright.jsonl", put.get("VersionId"), timeout)
    cloud.wait_idle(30)
    seconds["run 1 (upright)"] = time.perf_counter() - clock
    rotated = shifted_digits(work / "stream", skip=sizes.upright, count=sizes.stream + sizes.held_out)
    stream, held_out = rotated[: sizes.stream], rotated[sizes.stream :]
    api = PredictionApi(cloud.outputs)
    before = accuracy(api, held_out)
    say(f"serving run 1: accuracy on {len(held_out)} held-out rotated digits {before:.3f}")
    clock = time.perf_counter()
    sent = send_stream(api, stream)
    corrected = [item for item in sent if item.predicted != item.image.class_name][: sizes.corrections]
    for item in corrected:
        body = json.dumps({"inference_id": item.inference_id, "label": item.image.class_name}).encode()
        answer = api.post("/feedback", body, "application/json")
        if answer.status != 201:
            raise AssertionError(f"POST /feedback answered {answer.status}: {answer.body[:200]!r}")
    write_reference_answers(
        cloud.settings.reference_labels_path, feedback_references(bucket, sent, datetime.now(UTC))
    )
    seconds["stream and corrections"] = time.perf_counter() - clock
    say(f"stream: {len(sent)} rotated digits sent (captured), {len(corrected)} corrected")
    clock = time.perf_counter()
    drift = check_drift(cloud)
    seconds["drift window and alarms"] = time.perf_counter() - clock
    say(f"drift alarms: {drift.describe()}")
    clock = time.perf_counter()
    harvest = fire_harvest(cloud, bucket, 180)
    seconds["harvest"] = time.perf_counter() - clock
    say(
        f"harvest: {harvest.get('picked')} images {harvest.get('by_reason')} -> {harvest.get('manifest_key')}"
    )
    second: dict[str, Any] = {}
    states: list[str] = []
    if harvest.get("manifest_key"):
        clock = time.perf_counter()
        key = str(harvest["manifest_key"])
        version = s3.head_object(Bucket=bucket, Key=key).get("VersionId")
        second = _follow(cloud, key, version, timeout)
        cloud.wait_idle(30)
        states = _states(cloud, second)
        seconds["run 2 (label, cumulative retrain, gate)"] = time.perf_counter() - clock
    after = accuracy(api, held_out)
    say(f"run 2: {second.get('status')}; accuracy on the held-out rotated digits {before:.3f} -> {after:.3f}")
    return LoopResult(upright, first, sent, corrected, drift, harvest, second, states, before, after, seconds)


LOOP_ASSEMBLY = "cdk.out-loop"
"""Where (under the state directory) the loop's assembly is synthesized and reused."""


def demo_loop(
    state_dir: Path,
    *,
    epochs: int | None = None,
    sizes: LoopSizes = LoopSizes(),
    say: Callable[[str], None] = print,
) -> LoopResult:
    """``make demo LOOP=1``: a fresh local cloud with :data:`LOOP_CONTEXT` over the demo's context, the
    loop, a summary (the drift alarms, accuracies before/after, the human answers spent, the gate's
    comparison, wall times)."""
    from local.cloud import CloudSettings, LocalCloud
    from local.drivers.demo import demo_context
    from local.synth import synthesize

    started = time.perf_counter()
    context = {**demo_context(epochs), **LOOP_CONTEXT}
    assembly = synthesize(state_dir / LOOP_ASSEMBLY, context)
    with LocalCloud(CloudSettings(state_dir=state_dir)) as cloud:
        cloud.deploy(assembly)
        if cloud.runtime is not None:
            cloud.runtime.prewarm()
        say(
            f"local cloud deployed with the harvester and drift monitoring on ({time.perf_counter() - started:.0f}s)"
        )
        result = run_loop(cloud, state_dir / "loop-data", sizes=sizes, say=say)
    result.seconds["total (cloud start included)"] = time.perf_counter() - started
    counters = result.second.get("label_counters") or {}
    cost = result.second.get("labeling_cost") or {}
    champion = (result.second.get("metrics") or {}).get("champion") or {}
    say(f"drift alarm after the rotated stream: {', '.join(result.drift.alarming) or 'none in ALARM'}")
    say(f"accuracy on the held-out rotated digits: before {result.before:.3f}, after {result.after:.3f}")
    say(
        f"labels bought: {counters.get('human', 0)} objects by people "
        f"(about ${cost.get('actual_usd', 0):.2f} at the configured prices)"
    )
    if champion:
        say(
            f"champion/challenger on {champion.get('images')} images: serving {champion.get('champion_value')} "
            f"vs retrained {champion.get('challenger_value')} -> {'passed' if champion.get('passed') else 'refused'}"
        )
    say("wall time: " + ", ".join(f"{name} {value:.0f}s" for name, value in result.seconds.items()))
    return result
