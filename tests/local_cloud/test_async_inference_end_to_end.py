"""Asynchronous inference end to end on the local cloud (issue 19, item 3): a ~20 MB JPEG, uploaded through
``POST /uploads``, predicted through the synchronous upload route (``POST /predict {"upload_id"}``) and the
asynchronous one (``POST /predict/async``, then ``GET /predictions/{id}``); both answer the box in the
ORIGINAL image's pixels within 1 px of the same image downscaled to the model's input size, predicted, and
scaled back.

Nothing is stubbed between the API and the model: the stack is deployed with ``gtpipe:asyncInference``, the
real-time endpoint is created through the SageMaker API, and the deployed endpoint function (its role's IAM)
mirrors its model onto the async endpoint on the InService event (CreateEndpointConfig with
AsyncInferenceConfig, CreateEndpoint, then scaling on the async endpoint's own InService event). The model is a
stand-in detector image (tests/local_cloud/red_box_model.py) registered with the local SageMaker, so no
training run is needed; it runs with the stack's SageMaker execution role, which reads the upload and writes
the async output, as on AWS.
"""

from __future__ import annotations

import io
import json
import random
import tarfile
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from gtpipe_shared import ledger
from gtpipe_shared.async_inference import async_endpoint_name
from PIL import Image

from local.drivers.client import PredictionApi
from tests.local_cloud.conftest import running_cloud, small_context
from tests.local_cloud.red_box_model import MODEL_SIDE

pytestmark = pytest.mark.slow

WIDTH, HEIGHT = 6144, 4096  # 12 x 8 model pixels per model pixel side: the box's edges fall on the model grid
RED = (2304, 1536, 3840, 2560)  # left, top, right, bottom
ALGORITHM = "red-box-detector"


def large_jpeg() -> bytes:
    """Seeded noise (no red in it) with one red rectangle: a JPEG of about 20 MB (noise does not compress)."""
    noise = np.frombuffer(random.Random(19).randbytes(WIDTH * HEIGHT * 3), dtype=np.uint8) % 100
    pixels = noise.reshape(HEIGHT, WIDTH, 3).copy()
    left, top, right, bottom = RED
    pixels[top:bottom, left:right] = (230, 20, 20)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, format="JPEG", quality=96)
    return out.getvalue()


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    context = {**small_context(), "gtpipe:asyncInference": {"enabled": True, "minInstances": 0}}
    with running_cloud(tmp_path_factory.mktemp("async-cloud"), context, "cdk.out-async") as local:
        yield local


def sagemaker_role(cloud: Any) -> str:
    roles = cloud.deployment.iam.role_arns
    return next(arn for name, arn in roles.items() if "SageMakerExecutionRole" in name)


def wait_in_service(cloud: Any, name: str, timeout: float = 180.0) -> dict[str, Any]:
    sagemaker = cloud.client("sagemaker")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            described = sagemaker.describe_endpoint(EndpointName=name)
        except sagemaker.exceptions.ClientError:
            described = {}
        if described.get("EndpointStatus") == "InService":
            return dict(described)
        time.sleep(0.5)
    raise AssertionError(f"{name} is not InService after {timeout} s")


@pytest.fixture(scope="module")
def deployed(cloud: Any) -> str:
    """The stand-in model on the real-time endpoint (through the API) and, mirrored by the endpoint function,
    on the async endpoint; the @serving item naming it. Returns the async endpoint's name."""
    from local.sagemaker.algorithms import Algorithm

    backend = cloud.sagemaker
    backend.algorithms[ALGORITHM] = Algorithm(
        name=ALGORITHM, inference_module="tests.local_cloud.red_box_model"
    )
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("README.txt")
        info.size = 9
        tar.addfile(info, io.BytesIO(b"stand-in\n"))
    bucket = str(cloud.outputs["DataBucketName"])
    cloud.client("s3").put_object(Bucket=bucket, Key="models/red-box/model.tar.gz", Body=archive.getvalue())
    sagemaker = cloud.client("sagemaker")
    image = f"{backend.account_id}.dkr.ecr.{backend.region}.amazonaws.com/{ALGORITHM}:1"
    sagemaker.create_model(
        ModelName="red-box-model",
        PrimaryContainer={"Image": image, "ModelDataUrl": f"s3://{bucket}/models/red-box/model.tar.gz"},
        ExecutionRoleArn=sagemaker_role(cloud),
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="red-box-epc",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "red-box-model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.xlarge",
            }
        ],
    )
    name = str(cloud.outputs["EndpointName"])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName="red-box-epc")
    wait_in_service(cloud, name)
    item = ledger.serving_item(
        endpoint_name=name,
        endpoint_config_name="red-box-epc",
        model_name="red-box-model",
        class_names=["square"],
        source_run_id="async-0123456789abcdef",
        metrics={"map": 1.0},
        task_type="object-detection",
        now=ledger.now_iso(),
    )
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    cloud.client("dynamodb").put_item(
        TableName=str(cloud.outputs["RunsTableName"]),
        Item={key: serializer.serialize(value) for key, value in ledger.to_dynamo(item).items()},
    )
    async_name = async_endpoint_name(name)
    described = wait_in_service(cloud, async_name)
    assert described["EndpointConfigName"].startswith(f"{async_name}-")
    return async_name


def success_queue(cloud: Any) -> str:
    """An SQS queue subscribed to the stack's async success topic (SageMaker publishes there with the model's
    role, the topic is encrypted with the data key)."""
    sns, sqs = cloud.client("sns"), cloud.client("sqs")
    topics = [
        t["TopicArn"] for t in sns.list_topics()["Topics"] if "AsyncInferenceSuccessTopic" in t["TopicArn"]
    ]
    (topic,) = topics
    queue_url = str(sqs.create_queue(QueueName="async-success-e2e")["QueueUrl"])
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return queue_url


def notification(cloud: Any, queue_url: str, timeout: float = 60.0) -> dict[str, Any]:
    sqs = cloud.client("sqs")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", []):
            return dict(json.loads(json.loads(message["Body"])["Message"]))
    raise AssertionError("no success notification")


def the_box(response: Any) -> dict[str, int]:
    assert response.status == 200, response.body[:500]
    ((detection,),) = [response.json()["detections"]]
    assert detection["label"] == "square"
    return dict(detection["box"])


def reference_box(api: PredictionApi, image: bytes) -> dict[str, float]:
    """The same image downscaled to the model's input size, predicted, and its box scaled back."""
    with Image.open(io.BytesIO(image)) as opened:
        small = opened.convert("RGB").resize((MODEL_SIDE, MODEL_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, format="JPEG", quality=95)
    box = the_box(api.predict(out.getvalue(), "image/jpeg"))
    sx, sy = WIDTH / MODEL_SIDE, HEIGHT / MODEL_SIDE
    return {
        "left": box["left"] * sx,
        "top": box["top"] * sy,
        "width": box["width"] * sx,
        "height": box["height"] * sy,
    }


def test_a_20_mb_jpeg_is_answered_in_original_pixels_through_both_routes(cloud: Any, deployed: str) -> None:
    # Given a ~20 MB 6144x4096 JPEG (over the binary route's 4 MiB and the real-time endpoint's 6 MB)
    image = large_jpeg()
    assert len(image) >= 19_000_000, len(image)
    api = PredictionApi(cloud.outputs, timeout=180)
    # And the box the model finds on the image at its own input size, scaled back to the original
    expected = reference_box(api, image)
    left, top, right, bottom = RED
    assert expected == {"left": left, "top": top, "width": right - left, "height": bottom - top}
    # When it is uploaded once
    upload_id, stored = api.upload(image, "image/jpeg")
    assert upload_id is not None, stored.body[:300]
    body = json.dumps({"upload_id": upload_id}).encode()
    # And predicted through the synchronous upload route
    sync_box = the_box(api.post("/predict", body, "application/json"))
    # And through the asynchronous route: 202 with where to poll, then the answer once SageMaker wrote it
    queue_url = success_queue(cloud)
    queued = api.post("/predict/async", body, "application/json")
    assert queued.status == 202, queued.body[:500]
    prediction_id = queued.json()["prediction_id"]
    assert queued.json()["status"] == "pending"
    deadline = time.monotonic() + 180
    polled = api.get(f"/predictions/{prediction_id}")
    while polled.status == 202 and time.monotonic() < deadline:
        time.sleep(0.5)
        polled = api.get(f"/predictions/{prediction_id}")
    async_box = the_box(polled)
    assert polled.json()["model"]["endpoint"] == deployed and polled.json()["image_type"] == "image/jpeg"
    # And SageMaker notified the success topic of that inference
    note = notification(cloud, queue_url)
    assert note["invocationStatus"] == "Completed" and note["inferenceId"] == prediction_id
    # Then both answer the box in the original's pixels within 1 px of the reference
    for box in (sync_box, async_box):
        assert all(abs(box[k] - expected[k]) <= 1 for k in expected), (box, expected)


def test_an_unknown_prediction_and_a_missing_upload_are_json_errors(cloud: Any, deployed: str) -> None:
    api = PredictionApi(cloud.outputs, timeout=60)
    # Given no such prediction / When it is polled / Then a JSON 404
    missing = api.get("/predictions/0f8fad5b-d9cb-469f-a165-70867728950e")
    assert missing.status == 404 and missing.json()["code"] == "PredictionNotFound"
    # And an upload that never arrived is a JSON 404 before anything is queued
    body = json.dumps({"upload_id": "5b0c7a52-1111-4222-8333-444455556666"}).encode()
    refused = api.post("/predict/async", body, "application/json")
    assert refused.status == 404 and refused.json()["code"] == "UploadNotFound"
