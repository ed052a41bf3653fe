"""Issue 19 item 3, IAM on the real synthesized template (gtpipe:asyncInference on): the deployed predict function
calls InvokeEndpointAsync with its role, so the local SageMaker runtime is reached only while the role has
``InvokeAsyncEndpoint`` (sagemaker:InvokeEndpointAsync on the async endpoint); without it the call is denied as
AWS denies it, and predict answers a JSON 502 naming the error (never a stack trace).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer
from gtpipe_shared import ledger
from gtpipe_shared.uploads import new_upload_id, upload_key
from PIL import Image

from local.cloud import LocalCloud
from local.synth import synthesize
from tests.fidelity.synthesized_cloud import deployed, edited_assembly, function_named, without_role_statement
from tests.local_cloud.conftest import ROOT, small_context


@pytest.fixture(scope="module")
def assembly() -> Path:
    # The end-to-end test's configuration and cache (tests/local_cloud/test_async_inference_end_to_end.py).
    context = {**small_context(), "gtpipe:asyncInference": {"enabled": True, "minInstances": 0}}
    return synthesize(ROOT / ".local" / "cdk.out-async", context)


def queue_an_upload(cloud: LocalCloud) -> dict[str, Any]:
    """An uploaded JPEG and a serving model in the ledger; then POST /predict/async through the deployed predict."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 10, 10)).save(out, format="JPEG")
    upload_id = new_upload_id()
    cloud.client("s3").put_object(
        Bucket=cloud.outputs["DataBucketName"], Key=upload_key(upload_id), Body=out.getvalue()
    )
    item = ledger.serving_item(
        endpoint_name=str(cloud.outputs["EndpointName"]),
        endpoint_config_name="c",
        model_name="m",
        class_names=["square"],
        source_run_id="iam-0123456789abcdef",
        metrics={"map": 1.0},
        task_type="object-detection",
        now=ledger.now_iso(),
    )
    serializer = TypeSerializer()
    cloud.client("dynamodb").put_item(
        TableName=str(cloud.outputs["RunsTableName"]),
        Item={key: serializer.serialize(value) for key, value in ledger.to_dynamo(item).items()},
    )
    event = {
        "resource": "/predict/async",
        "path": "/predict/async",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"upload_id": upload_id}),
        "isBase64Encoded": False,
        "requestContext": {"requestId": "r-1"},
    }
    response = cloud.registry.invoke(function_named(cloud, "ServingPredictFunction").name, json.dumps(event))
    return dict(response["Payload"])


def test_predict_without_invoke_async_is_denied_by_the_runtime(assembly: Path, tmp_path: Path) -> None:
    # Given the synthesized app whose predict role lacks InvokeAsyncEndpoint
    edited = edited_assembly(
        assembly,
        tmp_path / "edited",
        without_role_statement("ServingPredictFunctionRole", lambda s: s.get("Sid") == "InvokeAsyncEndpoint"),
    )
    with deployed(edited, tmp_path / "denied") as cloud:
        # When an upload is queued
        proxy = queue_an_upload(cloud)
    # Then the SageMaker runtime refused the role: a JSON 502 naming AccessDenied
    assert proxy["statusCode"] == 502, proxy
    body = json.loads(proxy["body"])
    assert body["code"] == "EndpointError" and "AccessDenied" in body["error"]


def test_the_synthesized_predict_role_reaches_the_runtime(assembly: Path, tmp_path: Path) -> None:
    with deployed(assembly, tmp_path / "allowed") as cloud:
        proxy = queue_an_upload(cloud)
    # The call got past IAM: the runtime answers that no async endpoint serves yet (none was deployed)
    assert proxy["statusCode"] == 503, proxy
    assert json.loads(proxy["body"])["code"] == "AsyncEndpointNotReady"
