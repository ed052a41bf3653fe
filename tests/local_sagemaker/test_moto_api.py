"""install_sagemaker_api: boto3 sagemaker / sagemaker-runtime clients (mock_aws or a moto server) and
the backend share one state; errors arrive as AWS error codes."""

from __future__ import annotations

import json
import threading

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from local.sagemaker import (
    LocalSageMaker,
    check_moto_compatibility,
    install_sagemaker_api,
    uninstall_sagemaker_api,
)

from .conftest import ACCOUNT, BUCKET, IMAGE, REGION, ROLE, Cloud, training_request

NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def test_boto3_sagemaker_client_sees_backend_state_and_errors(api: Cloud, model_tar):
    sagemaker = api.client("sagemaker", config=NO_RETRIES)
    # Given a training job created through the backend (the state machine's path); it fails fast
    image = IMAGE.replace("image-classification", "semantic-segmentation")
    uri = f"s3://{BUCKET}/none.manifest"
    api.backend.create_training_job(training_request("shared-train-0", uri, uri, image=image))
    api.backend.wait_for_job("training", "shared-train-0", timeout=10)
    # When boto3 describes it / Then it sees the same job
    described = sagemaker.describe_training_job(TrainingJobName="shared-train-0")
    assert described["TrainingJobStatus"] == "Failed"
    assert "semantic-segmentation" in described["FailureReason"]
    assert described["SecondaryStatusTransitions"][0]["Status"] == "Starting"
    # Given a model created through boto3 (a Lambda's path) / Then the backend has it, with its tags
    data = api.put("models/m/model.tar.gz", model_tar.read_bytes())
    arn = sagemaker.create_model(
        ModelName="shared-model",
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": data},
        ExecutionRoleArn=ROLE,
        Tags=[{"Key": "gtpipe:run-id", "Value": "demo"}],
    )["ModelArn"]
    assert api.backend.describe_model({"ModelName": "shared-model"})["ModelArn"] == arn
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "gtpipe:run-id", "Value": "demo"}]
    # And errors carry SageMaker's codes
    cases = [
        (lambda: sagemaker.describe_training_job(TrainingJobName="never"), "ValidationException"),
        (lambda: sagemaker.describe_endpoint(EndpointName="never"), "ValidationException"),
        (
            lambda: sagemaker.create_model(
                ModelName="shared-model",
                PrimaryContainer={"Image": IMAGE, "ModelDataUrl": data},
                ExecutionRoleArn=ROLE,
            ),
            "ValidationException",
        ),
        (
            lambda: sagemaker.create_model(
                ModelName="no-data",
                PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/missing/model.tar.gz"},
                ExecutionRoleArn=ROLE,
            ),
            "ValidationException",
        ),
    ]
    for call, code in cases:
        with pytest.raises(ClientError) as raised:
            call()
        assert raised.value.response["Error"]["Code"] == code
    with pytest.raises(ClientError) as missing_data:
        cases[3][0]()
    assert "Could not find model data at" in missing_data.value.response["Error"]["Message"]
    # And injected throttling is a ThrottlingException (the Retry blocks of the state machine match it)
    api.backend.faults.throttle_next("DescribeTrainingJob", 1)
    with pytest.raises(ClientError) as throttled:
        sagemaker.describe_training_job(TrainingJobName="shared-train-0")
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    assert (
        sagemaker.describe_training_job(TrainingJobName="shared-train-0")["TrainingJobName"]
        == "shared-train-0"
    )


def test_other_actions_stay_with_moto_and_uninstall_restores_it(cloud: Cloud):
    sagemaker = cloud.client("sagemaker", config=NO_RETRIES)
    with install_sagemaker_api(cloud.backend):
        # Given the routing / When an action the backend does not implement is called / Then moto answers
        assert sagemaker.list_notebook_instances()["NotebookInstances"] == []
        # And a second installation is refused
        with pytest.raises(RuntimeError):
            install_sagemaker_api(cloud.backend)
        cloud.backend.faults.throttle_next("DescribeEndpoint", 1)
        with pytest.raises(ClientError) as routed:
            sagemaker.describe_endpoint(EndpointName="any")
        assert routed.value.response["Error"]["Code"] == "ThrottlingException"
    # When uninstalled / Then the same call reaches moto's own mock again (no throttle consumed there)
    cloud.backend.faults.throttle_next("DescribeEndpoint", 1)
    with pytest.raises(ClientError) as unrouted:
        sagemaker.describe_endpoint(EndpointName="any")
    assert unrouted.value.response["Error"]["Code"] != "ThrottlingException"
    uninstall_sagemaker_api()  # idempotent
    check_moto_compatibility()


def test_a_moto_server_routes_sagemaker_and_runtime_to_the_backend(tmp_path, model_tar, digits):
    # Given a moto server, a backend using its S3, and the routing installed
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    session = boto3.Session(region_name=REGION)
    lock = threading.Lock()

    def client(service: str) -> object:
        with lock:
            return session.client(service, endpoint_url=f"http://{host}:{port}", config=NO_RETRIES)

    backend = LocalSageMaker(lambda: client("s3"), tmp_path / "work", region=REGION, account_id=ACCOUNT)
    try:
        with install_sagemaker_api(backend):
            s3 = client("s3")
            s3.create_bucket(Bucket="server-bucket")  # type: ignore[attr-defined]
            s3.upload_file(str(model_tar), "server-bucket", "m/model.tar.gz")  # type: ignore[attr-defined]
            sagemaker = client("sagemaker")
            # When a Lambda-like client deploys over HTTP
            sagemaker.create_model(  # type: ignore[attr-defined]
                ModelName="server-model",
                PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://server-bucket/m/model.tar.gz"},
                ExecutionRoleArn=ROLE,
            )
            sagemaker.create_endpoint_config(  # type: ignore[attr-defined]
                EndpointConfigName="server-epc",
                ProductionVariants=[
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": "server-model",
                        "InitialInstanceCount": 1,
                        "InstanceType": "ml.m5.xlarge",
                    }
                ],
            )
            sagemaker.create_endpoint(EndpointName="server-endpoint", EndpointConfigName="server-epc")  # type: ignore[attr-defined]
            backend.wait_for_endpoint("server-endpoint")
            # Then DescribeEndpoint and InvokeEndpoint (binary body) are answered by the backend
            described = sagemaker.describe_endpoint(EndpointName="server-endpoint")  # type: ignore[attr-defined]
            assert described["EndpointStatus"] == "InService"
            response = client("sagemaker-runtime").invoke_endpoint(  # type: ignore[attr-defined]
                EndpointName="server-endpoint", ContentType="image/png", Body=digits[0].path.read_bytes()
            )
            assert len(json.loads(response["Body"].read())) == 10
            with pytest.raises(ClientError) as model_error:
                client("sagemaker-runtime").invoke_endpoint(  # type: ignore[attr-defined]
                    EndpointName="server-endpoint", ContentType="text/csv", Body=b"1,2"
                )
            assert model_error.value.response["Error"]["Code"] == "ModelError"
    finally:
        backend.shutdown()
        server.stop()
