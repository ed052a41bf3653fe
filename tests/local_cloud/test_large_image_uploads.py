"""Large images end to end on the local cloud (issue 19): ``gtpipe predict``'s client uploads a > 6 MB PNG
through ``POST /uploads`` and the presigned S3 POST (checked as S3 checks it, local/s3_post_policy.py), then
``POST /predict {"upload_id"}`` answers the box in the ORIGINAL image's pixels.

Both stacks are deployed; the deployed uploads and predict functions run with their roles' IAM. The serving
endpoint is a stand-in detector (no training: that is test_detection_end_to_end's job) that finds the one red
rectangle in what it is sent and answers its box relative to that image, as the built-in detector does.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from gtpipe_shared import ledger
from gtpipe_shared.images import MAX_API_IMAGE_BYTES, MAX_IMAGE_BYTES
from PIL import Image

from local.drivers.client import PredictionApi
from tests.local_cloud.conftest import running_cloud, small_context

pytestmark = pytest.mark.slow

WIDTH, HEIGHT = 2400, 1600
SQUARE = (900, 500, 1500, 900)  # left, top, right, bottom


class RedBoxDetector:
    """A loaded model: the red rectangle's box, relative to the image it got; records what it got."""

    def __init__(self) -> None:
        self.received: list[tuple[int, tuple[int, int]]] = []

    def predict(self, body: bytes, content_type: str | None, accept: str | None) -> tuple[bytes, str]:
        with Image.open(io.BytesIO(body)) as image:
            pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
            size = image.size
        self.received.append((len(body), size))
        red = (pixels[..., 0] > 180) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
        columns, rows = np.flatnonzero(red.any(axis=0)), np.flatnonzero(red.any(axis=1))
        box = [columns[0] / size[0], rows[0] / size[1], (columns[-1] + 1) / size[0], (rows[-1] + 1) / size[1]]
        return json.dumps({"prediction": [[0, 0.97, *box]]}).encode(), "application/json"

    def unload(self) -> None:
        return None


def large_png() -> bytes:
    """Seeded dark noise (no red in it) with one red rectangle: a PNG of over 6 MB."""
    noise = np.frombuffer(random.Random(19).randbytes(WIDTH * HEIGHT * 3), dtype=np.uint8) % 100
    pixels = noise.reshape(HEIGHT, WIDTH, 3).copy()
    left, top, right, bottom = SQUARE
    pixels[top:bottom, left:right] = (230, 20, 20)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, format="PNG", compress_level=1)
    return out.getvalue()


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with running_cloud(tmp_path_factory.mktemp("uploads-cloud"), small_context(), "cdk.out-tests") as local:
        yield local


@pytest.fixture(scope="module")
def detector(cloud: Any) -> RedBoxDetector:
    """The stand-in endpoint, InService under the stack's endpoint name, and the @serving item naming it."""
    from local.sagemaker.endpoints import EndpointRecord, VariantRecord

    name = str(cloud.outputs["EndpointName"])
    model = RedBoxDetector()
    now = dt.datetime.now(dt.UTC)
    backend = cloud.sagemaker
    with backend._lock:  # the backend's own bookkeeping: an endpoint deployed without a training run
        backend._endpoints[name] = EndpointRecord(
            name=name,
            arn=f"arn:aws:sagemaker:{backend.region}:{backend.account_id}:endpoint/{name}",
            created=now,
            status="InService",
            last_modified=now,
            variants=(VariantRecord("AllTraffic", 1.0, 1, "stand-in", model),),  # type: ignore[arg-type]
        )
    item = ledger.serving_item(
        endpoint_name=name,
        endpoint_config_name=f"{name}-config",
        model_name=f"{name}-model",
        class_names=["square"],
        source_run_id="uploads-0123456789abcdef",
        metrics={"map": 1.0},
        task_type="object-detection",
        now=ledger.now_iso(),
    )
    cloud.client("dynamodb").put_item(
        TableName=str(cloud.outputs["RunsTableName"]),
        Item={k: v for k, v in _low_level(ledger.to_dynamo(item)).items()},
    )
    return model


def _low_level(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {key: serializer.serialize(value) for key, value in item.items()}


def test_a_large_image_is_uploaded_predicted_and_answered_in_original_pixels(
    cloud: Any, detector: RedBoxDetector
) -> None:
    # Given a 2400x1600 PNG of over 6 MB (over the binary route's 4 MiB, over the endpoint's 6 MB)
    image = large_png()
    assert len(image) > MAX_IMAGE_BYTES > MAX_API_IMAGE_BYTES
    # When gtpipe predict's client sends it (through POST /uploads and S3, as its size requires)
    response = PredictionApi(cloud.outputs, timeout=120).predict_any(image, "image/png")
    # Then the endpoint got a downscaled JPEG within its limit, aspect kept
    assert response.status == 200, response.body[:500]
    ((sent_bytes, sent_size),) = detector.received
    assert sent_bytes <= MAX_IMAGE_BYTES and sent_size == (2048, 1365)
    # And the box comes back in pixels of the 2400x1600 original (within the downscale's rounding)
    answer = response.json()
    ((detection,),) = [answer["detections"]]
    assert detection["label"] == "square" and detection["confidence"] == 0.97
    box = detection["box"]
    left, top, right, bottom = SQUARE
    expected = {"left": left, "top": top, "width": right - left, "height": bottom - top}
    assert all(abs(box[k] - expected[k]) <= 3 for k in expected), box
    assert answer["image_type"] == "image/png"


def test_the_presigned_post_refuses_another_content_type_and_an_unknown_upload_is_404(
    cloud: Any, detector: RedBoxDetector
) -> None:
    # Given an upload form for a PNG
    api = PredictionApi(cloud.outputs, timeout=60)
    asked = api.post("/uploads", b'{"content_type": "image/png"}', "application/json")
    assert asked.status == 201, asked.body[:300]
    form = asked.json()
    # When the file is posted as text/html / Then S3 (the local one) refuses it, as S3 would
    from gtpipe_cli.api import _send, multipart_form

    fields = {**form["fields"], "Content-Type": "text/html"}
    body = multipart_form("b0undary", fields, b"<html></html>", "text/html")
    refused = _send(form["url"], body, {"Content-Type": "multipart/form-data; boundary=b0undary"}, 60, None)
    assert refused.status == 403 and b"Policy Condition failed" in refused.body
    # And predicting the upload that never arrived is a JSON 404
    missing = api.post("/predict", json.dumps({"upload_id": form["upload_id"]}).encode(), "application/json")
    assert missing.status == 404 and missing.json()["code"] == "UploadNotFound"
