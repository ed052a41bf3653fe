"""harvest in moto: captured records of the window in, copied images, a summary and
incoming/feedback-<day>.manifest out; a second harvest never picks the same inference again."""

from __future__ import annotations

import io
import json
import random
from datetime import UTC, datetime

import pytest
from gtpipe_shared import capture
from gtpipe_shared.config import CaptureConfig, HarvestConfig
from harvest import handler as harvest
from PIL import Image

from tests.lambdas.conftest import DATA_BUCKET, Cloud

DAY1 = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
DAY2 = datetime(2026, 1, 3, 12, 0, tzinfo=UTC)
CLASSES = ["cat", "dog"]


def png(number: int) -> bytes:
    """Seeded noise, different for every number (difference hashes about 32 bits apart)."""
    image = Image.new("L", (9, 8))
    rng = random.Random(number)
    image.putdata([rng.randrange(256) for _ in range(72)])
    image = image.resize((36, 32), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def captured(cloud: Cloud, number: int, at: datetime, label: str, confidence: float, image: bytes) -> str:
    """Write one capture as predict does; its inference id."""
    inference_id = f"0f8fad5b-d9cb-469f-a165-{number:012d}"
    image_key, record_key = capture.capture_keys(inference_id, at, "image/png")
    record = capture.capture_record(
        inference_id=inference_id,
        at=at,
        reason="low-confidence",
        answer={"label": label, "confidence": confidence},
        class_names=CLASSES,
        serving={},
        image_key=image_key,
        image_type="image/png",
        config=CaptureConfig(),
    )
    cloud.s3.put_object(Bucket=DATA_BUCKET, Key=image_key, Body=image)
    cloud.s3.put_object(Bucket=DATA_BUCKET, Key=record_key, Body=json.dumps(record).encode())
    return inference_id


@pytest.fixture
def harvesting(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> Cloud:
    config = HarvestConfig(
        enabled=True, budget=4, uncertain_share=1.0, sample_share=0.0, near_duplicate_bits=3
    )
    monkeypatch.setenv("HARVEST_CONFIG", config.model_dump_json())
    return cloud


def manifest_refs(cloud: Cloud, key: str) -> list[str]:
    body = cloud.s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read().decode()
    return [json.loads(line)["source-ref"] for line in body.splitlines()]


def test_a_harvest_drops_the_corrected_and_least_confident_images_once(harvesting: Cloud) -> None:
    # given six captures of day 1 (one corrected) and a copy of the least confident one
    at = DAY1.replace(hour=9)
    ids = [captured(harvesting, n, at, "cat", 0.1 * (n + 1), png(n)) for n in range(6)]
    duplicate = captured(harvesting, 9, at, "cat", 0.15, png(0))
    correction = capture.feedback_record(inference_id=ids[5], label="dog", record_key="x", at=at)
    harvesting.s3.put_object(
        Bucket=DATA_BUCKET, Key=capture.feedback_key(ids[5]), Body=json.dumps(correction).encode()
    )
    # when the harvest of day 1 runs
    result = harvest.harvest(DAY1)
    # then the correction and the least confident distinct images fill the budget of 4; the copy is skipped
    assert result["manifest_key"] == "incoming/feedback-2026-01-02.manifest"
    assert result["by_reason"] == {"corrected": 1, "uncertain": 3}
    refs = manifest_refs(harvesting, result["manifest_key"])
    picked = [ids[5], ids[0], ids[1], ids[2]]
    assert refs == [f"s3://{DATA_BUCKET}/images/feedback/2026-01-02/{i}.png" for i in picked]
    assert duplicate not in "".join(refs)
    # and the images were copied there, the summary says why each was picked
    copy = harvesting.s3.get_object(Bucket=DATA_BUCKET, Key=f"images/feedback/2026-01-02/{ids[0]}.png")
    assert copy["Body"].read() == png(0)
    summary = json.loads(
        harvesting.s3.get_object(Bucket=DATA_BUCKET, Key="harvest/2026-01-02.json")["Body"].read()
    )
    assert summary["picks"][0] == {
        "inference_id": ids[5],
        "reason": "corrected",
        "predicted": "cat",
        "confidence": pytest.approx(0.6),
        "corrected": "dog",
        "source_ref": refs[0],
    }
    # when the same day is harvested again, then the dropped manifest is left as it was
    again = harvest.harvest(DAY1.replace(hour=13))
    assert again["manifest_key"] is None and "already dropped" in again["reason"]
    versions = harvesting.s3.list_object_versions(Bucket=DATA_BUCKET, Prefix=result["manifest_key"])
    assert len(versions["Versions"]) == 1
    # when day 2 is harvested with one new capture, then only that one is considered and picked
    new = captured(harvesting, 20, DAY2.replace(hour=8), "dog", 0.2, png(20))
    later = harvest.harvest(DAY2)
    assert later["considered"] == 1
    assert manifest_refs(harvesting, later["manifest_key"]) == [
        f"s3://{DATA_BUCKET}/images/feedback/2026-01-03/{new}.png"
    ]


def test_a_window_without_captures_drops_no_manifest(harvesting: Cloud) -> None:
    # given nothing captured, when the harvest runs
    result = harvest.harvest(DAY1)
    # then no manifest, and the window still moves on
    assert result["manifest_key"] is None and result["picked"] == 0
    listed = harvesting.s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix="incoming/")
    assert listed.get("KeyCount", 0) == 0
    state = json.loads(harvesting.s3.get_object(Bucket=DATA_BUCKET, Key="harvest/state.json")["Body"].read())
    assert state["until"] == DAY1.isoformat()
