"""Issue 14, IAM enforced locally: each principal acts with its own role, and what the role does not allow fails
with AWS's AccessDenied text (local/iam_auth.py).

One local cloud (started, nothing deployed) serves the module; each test registers the roles it needs with the
cloud's local IAM, as a deployment does, and acts as the principal the way the local cloud makes it act: a Lambda
worker with its role's keys in its environment, the state machine with its role, a SageMaker job with its
``RoleArn``, an API caller with a role's SigV4 keys.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.cloud import CloudSettings, LocalCloud
from local.lambda_runtime import FunctionSpec
from local.sfn import LambdaContext
from tests.fidelity.iam_support import finished_training_job

ACCOUNT = "123456789012"
REGION = "us-east-1"
DENIED = "User: arn:aws:sts::{account}:assumed-role/{role}/{session} is not authorized to perform: {action} on resource: {resource} because no {kind} policy allows the {action} action"


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def allow(actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    settings = CloudSettings(state_dir=tmp_path_factory.mktemp("iam"), simulated_labelers=0)
    with LocalCloud(settings) as started:
        yield started


def test_a_lambda_whose_role_lacks_dynamodb_put_item_is_refused(cloud: LocalCloud, tmp_path: Path) -> None:
    # Given a table and a function whose role may read it but not write it
    cloud.client("dynamodb").create_table(
        TableName="runs",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/runs"
    cloud.principals.register_role(role_arn("writer"), [allow(["dynamodb:GetItem"], [table_arn])])
    (tmp_path / "index.py").write_text(
        "import boto3\n"
        "def handler(event, context):\n"
        "    boto3.client('dynamodb').put_item(TableName='runs', Item={'id': {'S': 'x'}})\n"
    )
    spec = FunctionSpec(
        "writer-fn",
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:writer-fn",
        "index.handler",
        tmp_path,
        {},
        timeout_seconds=30,
        role_arn=role_arn("writer"),
    )
    assert cloud.runtime is not None
    function = cloud.runtime.add(spec)
    # When it runs (with its role's keys in its environment, as every Lambda worker does)
    env = cloud.runtime.environment_for(spec)
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA") and env["AWS_SESSION_TOKEN"]
    with pytest.raises(Exception) as raised:
        function({}, LambdaContext("writer-fn", spec.arn, 128, 30))
    # Then DynamoDB answers AccessDeniedException with AWS's text
    expected = DENIED.format(
        account=ACCOUNT,
        role="writer",
        session="writer-fn",
        action="dynamodb:PutItem",
        resource=table_arn,
        kind="identity-based",
    )
    assert "AccessDeniedException" in str(raised.value) and expected in str(raised.value)
    # And with the permission the same function writes
    cloud.principals.register_role(role_arn("writer"), [allow(["dynamodb:PutItem"], [table_arn])])
    function({}, LambdaContext("writer-fn", spec.arn, 128, 30))
    assert cloud.client("dynamodb").get_item(TableName="runs", Key={"id": {"S": "x"}})["Item"]


def test_a_state_machine_role_without_create_training_job_fails_the_task(cloud: LocalCloud) -> None:
    # Given a state machine whose role may pass the SageMaker role but not create training jobs
    cloud.principals.register_role(
        role_arn("machine"),
        [
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": role_arn("sagemaker"),
                "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            },
        ],
    )
    definition = {
        "StartAt": "Train",
        "States": {
            "Train": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTrainingJob",
                "Parameters": {"TrainingJobName": "Job-1", "RoleArn": role_arn("sagemaker")},
                "End": True,
            }
        },
    }
    sfn = cloud.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="denied", definition=json.dumps(definition), roleArn=role_arn("machine")
    )
    # When it runs
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name="run-1")["executionArn"]
    status = wait_execution(sfn, execution)
    # Then the Task fails as Step Functions reports a SageMaker AccessDeniedException
    assert status["status"] == "FAILED"
    assert status["error"] == "SageMaker.AmazonSageMakerException"
    expected = DENIED.format(
        account=ACCOUNT,
        role="machine",
        session="StepFunctions",
        action="sagemaker:CreateTrainingJob",
        resource=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/job-1",
        kind="identity-based",
    )
    assert expected in status["cause"] and "Error Code: AccessDeniedException" in status["cause"]


def wait_execution(sfn: Any, execution: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = dict(sfn.describe_execution(executionArn=execution))
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.2)
    raise AssertionError(f"{execution} still running")


def test_a_training_job_whose_role_cannot_read_the_channel_fails_with_access_denied(
    cloud: LocalCloud,
) -> None:
    # Given a training channel in S3 and a job role that may write models but not read the channel's prefix
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket="training-data")
    s3.put_object(Bucket="training-data", Key="splits/train.manifest", Body=b'{"source-ref": "s3://x/y"}\n')
    cloud.principals.register_role(
        role_arn("job"), [allow(["s3:PutObject"], ["arn:aws:s3:::training-data/models/*"])]
    )
    channel = {
        "ChannelName": "train",
        "InputMode": "Pipe",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "AugmentedManifestFile",
                "S3Uri": "s3://training-data/splits/train.manifest",
                "S3DataDistributionType": "FullyReplicated",
                "AttributeNames": ["source-ref", "category"],
            }
        },
    }
    # When the job runs with that RoleArn
    job = finished_training_job(cloud, "no-read", role_arn("job"), channel, "s3://training-data/models/")
    # Then it fails downloading the channel with S3's AccessDenied for the job's role
    assert job["TrainingJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert reason.startswith("ClientError: Data download failed")
    assert "AccessDenied" in reason and "assumed-role/job/SageMaker" in reason
    assert 's3:GetObject on resource: "arn:aws:s3:::training-data/splits/train.manifest"' in reason


def test_an_incremental_job_whose_role_cannot_read_the_earlier_model_fails_with_access_denied(
    cloud: LocalCloud, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an earlier model's artifact outside what the job role may read (TrainIncremental's 'model'
    # channel), the role listing the bucket and writing models/ only
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket="model-data")
    s3.put_object(Bucket="model-data", Key="archive/first/output/model.tar.gz", Body=b"not read")
    cloud.principals.register_role(
        role_arn("incremental"),
        [
            allow(["s3:ListBucket"], ["arn:aws:s3:::model-data"]),
            allow(["s3:PutObject"], ["arn:aws:s3:::model-data/models/*"]),
        ],
    )
    source = {
        "S3DataType": "S3Prefix",
        "S3Uri": "s3://model-data/archive/first/output/model.tar.gz",
        "S3DataDistributionType": "FullyReplicated",
    }
    model = {
        "ChannelName": "model",
        "DataSource": {"S3DataSource": source},
        "ContentType": "application/x-sagemaker-model",
        "InputMode": "File",
    }
    # When the job runs with that RoleArn
    job = finished_training_job(
        cloud, "no-model-read", role_arn("incremental"), model, "s3://model-data/models/"
    )
    # Then it fails downloading the model channel: S3 refuses the job role's read of the artifact (a HEAD,
    # whose refusal is a bodiless 403 Forbidden, as S3's is), and the local IAM names the missing grant
    assert job["TrainingJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert reason.startswith("ClientError: Data download failed: channel model")
    assert "s3://model-data/archive/first/output/model.tar.gz" in reason and "(403)" in reason
    denial = "assumed-role/incremental/SageMaker is not authorized to perform: s3:GetObject on resource: "
    assert any(
        denial + "arn:aws:s3:::model-data/archive/first/output/model.tar.gz" in r.getMessage()
        for r in caplog.records
    )


def kms_bucket(cloud: LocalCloud, bucket: str, key_policy: dict[str, Any]) -> str:
    key = cloud.client("kms").create_key(Policy=json.dumps(key_policy))["KeyMetadata"]["Arn"]
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}
            ]
        },
    )
    return str(key)


def test_writing_an_sse_kms_object_needs_the_key_policy_to_allow_the_role(cloud: LocalCloud) -> None:
    # Given a bucket encrypted by default with a key whose policy names neither the account nor the role
    other = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": role_arn("someone-else")},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    key = kms_bucket(cloud, "sealed", other)
    cloud.principals.register_role(
        role_arn("uploader"),
        [allow(["s3:PutObject"], ["arn:aws:s3:::sealed/*"]), allow(["kms:GenerateDataKey"], [key])],
    )
    s3 = cloud.role_client("s3", role_arn("uploader"), "upload")
    # When the role writes an object
    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket="sealed", Key="a.txt", Body=b"x")
    # Then S3 refuses: the key policy allows the role nothing
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    assert raised.value.response["Error"]["Message"] == DENIED.format(
        account=ACCOUNT,
        role="uploader",
        session="upload",
        action="kms:GenerateDataKey",
        resource=f'"{key}"',
        kind="resource-based",
    )


def test_a_key_policy_delegating_to_iam_needs_the_identity_policy_too(cloud: LocalCloud) -> None:
    # Given the default key policy (the account root may use the key: IAM decides) and a role without kms
    root = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    key = kms_bucket(cloud, "delegated", root)
    cloud.principals.register_role(
        role_arn("plain"), [allow(["s3:PutObject", "s3:GetObject"], ["arn:aws:s3:::delegated/*"])]
    )
    s3 = cloud.role_client("s3", role_arn("plain"), "s")
    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket="delegated", Key="a.txt", Body=b"x")
    assert "kms:GenerateDataKey" in raised.value.response["Error"]["Message"]
    assert "no identity-based policy" in raised.value.response["Error"]["Message"]
    # And once the identity policy allows the key, writing and reading work
    cloud.principals.register_role(
        role_arn("plain"),
        [
            allow(["s3:PutObject", "s3:GetObject"], ["arn:aws:s3:::delegated/*"]),
            allow(["kms:GenerateDataKey", "kms:Decrypt"], [key]),
        ],
    )
    s3.put_object(Bucket="delegated", Key="a.txt", Body=b"x")
    assert s3.get_object(Bucket="delegated", Key="a.txt")["Body"].read() == b"x"


def test_sns_and_sqs_answer_access_denied_in_their_protocols(cloud: LocalCloud) -> None:
    topic = cloud.client("sns").create_topic(Name="alerts")["TopicArn"]
    queue = cloud.client("sqs").create_queue(QueueName="dlq")["QueueUrl"]
    cloud.principals.register_role(role_arn("mute"), [])
    with pytest.raises(ClientError) as sns_error:
        cloud.role_client("sns", role_arn("mute"), "m").publish(TopicArn=topic, Message="hi")
    assert sns_error.value.response["Error"]["Code"] == "AuthorizationError"
    assert f"sns:Publish on resource: {topic}" in sns_error.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as sqs_error:
        cloud.role_client("sqs", role_arn("mute"), "m").send_message(QueueUrl=queue, MessageBody="x")
    assert sqs_error.value.response["Error"]["Code"] == "AccessDenied"
    assert (
        f"sqs:SendMessage on resource: arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"
        in sqs_error.value.response["Error"]["Message"]
    )


def test_the_administrator_keys_are_not_evaluated(cloud: LocalCloud) -> None:
    # The local administrator (deployer, tests, CLI) is allowed everything, as an account administrator is.
    assert cloud.client("s3").list_buckets()["Buckets"] is not None


def test_an_api_caller_without_execute_api_invoke_is_refused(cloud: LocalCloud, tmp_path: Path) -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from local.apigateway import ApiGatewayServer
    from local.sfn import LambdaRegistry
    from local.tls import LocalCertificateAuthority
    from tests.local_cloud.test_api_gateway import FUNCTION_ARN, PNG, api_model, call, echo

    # Given an AWS_IAM API and two role sessions: one allowed to invoke POST /predict, one allowed nothing
    ca = LocalCertificateAuthority(tmp_path / "ca.pem")
    gateway = ApiGatewayServer(
        api_model(auth="AWS_IAM"),
        LambdaRegistry({FUNCTION_ARN: echo}).invoke,
        ssl_context=ca.server_context(),
        account_id=ACCOUNT,
        region=REGION,
        access_key_id="AKIAUNUSED",
        secret_for=cloud.principals.secret_for,
        principals=cloud.principals,
    ).start()
    invoke_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:abc123/v1/POST/predict"
    cloud.principals.register_role(role_arn("caller"), [allow(["execute-api:Invoke"], [invoke_arn])])
    cloud.principals.register_role(role_arn("stranger"), [])
    try:
        url = f"{gateway.stage_url('v1')}/predict"
        answers = {}
        for role in ("caller", "stranger"):
            keys = cloud.principals.credentials_for(role_arn(role), "api")
            signed = AWSRequest(method="POST", url=url, data=PNG, headers={"Content-Type": "image/png"})
            credentials = Credentials(keys.access_key_id, keys.secret_access_key, keys.session_token)
            SigV4Auth(credentials, "execute-api", REGION).add_auth(signed)
            answers[role] = call(ca, url, PNG, dict(signed.headers.items()))
    finally:
        gateway.stop()
    # Then the allowed role gets the function's answer and the other API Gateway's 403 (account masked)
    assert answers["caller"][0] == 200
    status, _, body = answers["stranger"]
    assert status == 403
    assert json.loads(body)["message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/stranger/api is not authorized to perform: execute-api:Invoke "
        f"on resource: arn:aws:execute-api:{REGION}:********{ACCOUNT[-4:]}:abc123/v1/POST/predict"
    )
