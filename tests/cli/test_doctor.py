"""``gtpipe doctor``: each check's OK and FAIL paths with stubbed (botocore Stubber) or moto clients, and
the command against the local cloud (one line per check, exit 7 on a blocker)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from gtpipe_cli.doctor import (
    CheckResult,
    InstanceUse,
    check_apigateway_role,
    check_instance_storage,
    check_powertools_layer,
    check_quotas,
    check_region,
    check_workforce,
    instance_uses,
    load_config,
    powertools_layer_arn,
    raw_instance_uses,
    read_context,
    volume_keys_sent,
)
from gtpipe_cli.errors import CliError, Exit
from infra.config import StackConfig
from infra.constructs.lambda_function import POWERTOOLS_LAYER
from infra.constructs.regional import SUPPORTED_REGIONS
from tests.cli.conftest import gtpipe

REGION = "us-east-1"
POOL = "us-east-1_AbCdEf123"
LAYER = powertools_layer_arn(POWERTOOLS_LAYER, "aws", REGION, 18)
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": REGION}


def config(**context: Any) -> StackConfig:
    """The typed configuration of ``gtpipe:<key>`` context values (JSON-encoded as ``cdk -c`` passes them)."""
    values = {
        f"gtpipe:{key}": json.dumps(value) if isinstance(value, dict | list) else value
        for key, value in context.items()
    }
    return StackConfig.from_context(values.get)


def stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(service, **CREDENTIALS)
    return client, Stubber(client)


def statuses(results: list[CheckResult]) -> list[str]:
    return [result.status for result in results]


# -- the report line --------------------------------------------------------------------------------------


def test_a_result_is_one_line_and_a_fix_line_when_not_ok() -> None:
    ok = CheckResult("OK", "region", "us-east-1 mapped", "never shown")
    failed = CheckResult("FAIL", "region", "not mapped", "deploy elsewhere", "https://docs.example")

    assert ok.lines() == ["OK    region: us-east-1 mapped"]
    assert failed.lines() == [
        "FAIL  region: not mapped",
        "      fix: deploy elsewhere (https://docs.example)",
    ]


# -- 1. region --------------------------------------------------------------------------------------------


def test_region_mapped_by_the_stack_is_ok_and_another_fails() -> None:
    # Given the stack's own region table
    # When a mapped and an unmapped region are checked
    ok = check_region(REGION, SUPPORTED_REGIONS)
    failed = check_region("af-south-1", SUPPORTED_REGIONS)

    # Then the mapped one names its accounts and the other is a blocker naming the mapped regions
    assert ok.status == "OK" and "811284229777" in ok.finding
    assert failed.status == "FAIL" and "us-east-1" in failed.finding and failed.fix


# -- 2. API Gateway account CloudWatch role ------------------------------------------------------------------


@pytest.fixture
def apigateway() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("apigateway", **CREDENTIALS)


def set_account_role(apigateway: Any, arn: str = "arn:aws:iam::123456789012:role/apigw-logs") -> None:
    apigateway.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": arn}])


def test_fresh_account_without_the_role_is_ok_when_the_stack_sets_it(apigateway: Any) -> None:
    # Given a fresh account (no CloudWatch role) and the default accountRole "create"
    result = check_apigateway_role(apigateway, config())

    # Then the stack's AWS::ApiGateway::Account takes care of it
    assert result.status == "OK" and "stack sets it" in result.finding


def test_fresh_account_without_the_role_fails_when_the_config_relies_on_an_existing_one(
    apigateway: Any,
) -> None:
    # Given a fresh account and accountRole "existing"
    result = check_apigateway_role(apigateway, config(apiGateway={"accountRole": "existing"}))

    # Then the deploy would fail at the stage's access logging: a blocker with the one-time fix
    assert result.status == "FAIL"
    assert "update-account" in (result.fix or "") and "accountRole" in (result.fix or "")


def test_account_with_the_role_is_ok_for_existing_and_warns_that_create_replaces_it(apigateway: Any) -> None:
    # Given an account whose API Gateway settings already name a CloudWatch role
    set_account_role(apigateway)

    # When checked with accountRole "existing" and "create"
    existing = check_apigateway_role(apigateway, config(apiGateway={"accountRole": "existing"}))
    create = check_apigateway_role(apigateway, config())

    # Then "existing" uses it and "create" is warned that the stack would replace it
    assert existing.status == "OK" and "apigw-logs" in existing.finding
    assert create.status == "WARN" and "replace" in create.finding


# -- 3. Ground Truth private workforce ------------------------------------------------------------------------


def workforce(pool: str = POOL) -> dict[str, Any]:
    return {
        "WorkforceName": "default",
        "WorkforceArn": f"arn:aws:sagemaker:{REGION}:123456789012:workforce/default",
        "CognitoConfig": {"UserPool": pool, "ClientId": "client123"},
    }


def test_no_workforce_is_ok_the_stack_creates_one() -> None:
    # Given a region without a private workforce
    sagemaker, stub = stubbed("sagemaker")
    stub.add_response("list_workforces", {"Workforces": []})

    with stub:
        result = check_workforce(sagemaker, config())

    # Then the create-private workteam can bring its own user pool
    assert result.status == "OK" and "no private workforce" in result.finding


def test_a_workforce_bound_to_a_pool_fails_unless_the_config_joins_it() -> None:
    # Given a region whose private workforce is bound to a user pool
    sagemaker, stub = stubbed("sagemaker")
    for _ in range(3):
        stub.add_response("list_workforces", {"Workforces": [workforce()]})
    joined = {
        "type": "create-private",
        "existingWorkforce": {"userPool": POOL, "userPoolClient": "client123"},
    }
    other_pool = {**joined, "existingWorkforce": {"userPool": "us-east-1_Other1", "userPoolClient": "c"}}

    # When checked with the default workforce, one joining it, and one naming another pool
    with stub:
        default = check_workforce(sagemaker, config())
        joins = check_workforce(sagemaker, config(workforce=joined))
        wrong = check_workforce(sagemaker, config(workforce=other_pool))

    # Then only joining that pool passes; the fix spells out the configuration with its ids
    assert default.status == "FAIL" and POOL in default.finding
    assert POOL in (default.fix or "") and "client123" in (default.fix or "")
    assert joins.status == "OK" and "joins" in joins.finding
    assert wrong.status == "FAIL" and "us-east-1_Other1" in wrong.finding


def test_workforce_not_listable_warns_and_the_builtin_backend_needs_none() -> None:
    # Given a caller without sagemaker:ListWorkforces
    sagemaker, stub = stubbed("sagemaker")
    stub.add_client_error("list_workforces", "AccessDeniedException", "not authorized", 400)

    with stub:
        denied = check_workforce(sagemaker, config())
        builtin = check_workforce(sagemaker, config(labelingBackend="builtin"))

    # Then it cannot tell (WARN), and the builtin backend asks nothing of Ground Truth
    assert denied.status == "WARN" and "AccessDeniedException" in denied.finding
    assert builtin.status == "OK" and "not used" in builtin.finding
    stub.assert_no_pending_responses()


# -- 4. instance quotas -----------------------------------------------------------------------------------


def quota(name: str, value: float) -> dict[str, Any]:
    return {"ServiceCode": "sagemaker", "QuotaName": name, "QuotaCode": "L-1", "Value": value}


def quota_client(applied: list[dict[str, Any]]) -> tuple[Any, Stubber]:
    client, stub = stubbed("service-quotas")
    defaults = [
        quota("ml.g4dn.xlarge for training job usage", 0),
        quota("ml.m5.xlarge for endpoint usage", 4),
        quota("ml.m5.xlarge for transform job usage", 4),
    ]
    stub.add_response("list_aws_default_service_quotas", {"Quotas": defaults}, {"ServiceCode": "sagemaker"})
    stub.add_response("list_service_quotas", {"Quotas": applied}, {"ServiceCode": "sagemaker"})
    return client, stub


def test_a_zero_training_quota_fails_and_an_applied_increase_passes() -> None:
    uses = instance_uses(config())  # ml.g4dn.xlarge training, ml.m5.xlarge endpoint and transform
    assert uses[0].quota_name == "ml.g4dn.xlarge for training job usage"

    # Given the default quota 0 for ml.g4dn.xlarge training, then an account with an increase to 1
    client, stub = quota_client([])
    with stub:
        zero = check_quotas(client, uses)
    client, stub = quota_client([quota("ml.g4dn.xlarge for training job usage", 1)])
    with stub:
        raised = check_quotas(client, uses)

    # Then the zero quota is a blocker with the quota to request, and the increase is OK
    assert statuses(zero) == ["FAIL", "OK", "OK"]
    assert "ml.g4dn.xlarge for training job usage" in (zero[0].fix or "")
    assert statuses(raised) == ["OK", "OK", "OK"]


def test_quotas_warn_when_service_quotas_is_unavailable_or_below_the_autoscaling_maximum() -> None:
    uses = [InstanceUse("endpoint", "gtpipe:endpoint.instanceType", "ml.m5.xlarge", 1, 8)]
    client, stub = stubbed("service-quotas")
    stub.add_client_error("list_aws_default_service_quotas", "NoSuchResourceException", "not here", 400)
    with stub:
        unavailable = check_quotas(client, uses)
    client, stub = quota_client([])
    with stub:
        below_max = check_quotas(client, uses)

    assert statuses(unavailable) == ["WARN"] and "NoSuchResourceException" in unavailable[0].finding
    assert statuses(below_max) == ["WARN"] and "autoscaling" in below_max[0].finding


# -- 5. instance storage vs. KMS -----------------------------------------------------------------------------


def test_nvme_types_are_ok_because_the_definition_sends_them_no_volume_key() -> None:
    from gtpipe_shared.aws_limits import instance_has_local_storage

    # Given ml.g4dn.xlarge (local NVMe) training and the definition synth builds for it
    typed = config(training={"instanceType": "ml.g4dn.xlarge"})
    sent = volume_keys_sent(typed)

    # When checked
    result = check_instance_storage(instance_uses(typed), instance_has_local_storage, sent)

    # Then no volume key goes with it (as SageMaker requires) while EBS types keep the data key
    assert sent == {"training": False, "transform": True, "endpoint": True}
    assert result.status == "OK" and "ml.g4dn.xlarge" in result.finding


def test_a_volume_key_on_an_nvme_type_fails() -> None:
    from gtpipe_shared.aws_limits import instance_has_local_storage

    # Given a definition that (as before finding 11's fix) sends the data key with every training job
    uses = instance_uses(config(training={"instanceType": "ml.g5.xlarge"}))

    result = check_instance_storage(uses, instance_has_local_storage, {"training": True})

    # Then SageMaker's ValidationException is predicted
    assert result.status == "FAIL" and "ValidationException" in result.finding
    assert "gtpipe:training.instanceType ml.g5.xlarge" in result.finding


def test_ebs_types_are_ok_and_an_invalid_configuration_still_names_the_instance_types() -> None:
    from gtpipe_shared.aws_limits import instance_has_local_storage

    ebs = check_instance_storage(
        instance_uses(config(training={"instanceType": "ml.p3.2xlarge"})), instance_has_local_storage, {}
    )
    context = {"gtpipe:training": '{"instanceType": "ml.g4dn.2xlarge"}', "gtpipe:taskType": "bogus"}
    raw = raw_instance_uses(context)

    assert ebs.status == "OK"
    assert [use.instance_type for use in raw] == ["ml.g4dn.2xlarge", "ml.m5.xlarge", "ml.m5.xlarge"]
    assert check_instance_storage(raw, instance_has_local_storage, None).status == "WARN"


# -- 6. Powertools layer ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status"),
    [(None, "OK"), ("ResourceNotFoundException", "FAIL"), ("AccessDeniedException", "WARN")],
)
def test_powertools_layer_exists_is_missing_or_cannot_be_checked(error: str | None, status: str) -> None:
    # Given the layer version the stack attaches in the region
    client, stub = stubbed("lambda")
    if error is None:
        stub.add_response(
            "get_layer_version_by_arn", {"LayerVersionArn": LAYER, "Version": 18}, {"Arn": LAYER}
        )
    else:
        stub.add_client_error("get_layer_version_by_arn", error, "no", 404 if "NotFound" in error else 403)

    # When it is looked up
    with stub:
        result = check_powertools_layer(client, LAYER)

    # Then it exists (OK), does not (a blocker: every function's deploy fails), or cannot be told (WARN)
    assert result.status == status
    assert LAYER.endswith(":AWSLambdaPowertoolsPythonV3-python312-x86_64:18")


# -- the configuration -------------------------------------------------------------------------------------


def test_context_is_cdk_json_with_cdk_style_overrides(tmp_path: Path) -> None:
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"app": "x", "context": {"gtpipe:taskType": "image-classification"}}))

    context = read_context(cdk_json, ['gtpipe:apiGateway={"accountRole": "existing"}'])
    typed, result = load_config(context)

    assert result.status == "OK" and typed is not None and typed.api_gateway_account_role == "existing"
    with pytest.raises(CliError) as missing:
        read_context(tmp_path / "nope.json")
    assert missing.value.code == Exit.INPUT_MISSING
    with pytest.raises(CliError) as usage:
        read_context(cdk_json, ["no-equals-sign"])
    assert usage.value.code == Exit.USAGE
    assert load_config({"gtpipe:taskType": "bogus"})[1].status == "FAIL"


# -- the command against the local cloud -------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A started local cloud (a fresh account; nothing deployed) and its outputs.json."""
    from local.cloud import ACCESS_KEY_ID, SECRET_ACCESS_KEY, CloudSettings, LocalCloud

    state_dir = tmp_path_factory.mktemp("doctor-cloud")
    with LocalCloud(CloudSettings(state_dir=state_dir)) as cloud:
        outputs = {
            "AwsEndpointUrl": cloud.endpoint_url,
            "Region": cloud.environment.region,
            "AccessKeyId": ACCESS_KEY_ID,
            "SecretAccessKey": SECRET_ACCESS_KEY,
        }
        (state_dir / "outputs.json").write_text(json.dumps(outputs))
        yield state_dir


ROOT_CDK_JSON = str(Path(__file__).resolve().parents[2] / "cdk.json")


def test_doctor_local_prints_one_line_per_check_and_exits_0_without_blockers(local_state: Path) -> None:
    # Given the local cloud as a fresh account and the project's cdk.json
    # When the doctor runs against it
    result = gtpipe("doctor", "--local", "--state-dir", str(local_state), "--cdk-json", ROOT_CDK_JSON)

    # Then every check has its line, what the local cloud cannot answer is a WARN, and nothing blocks
    lines = [line for line in result.out.splitlines() if line[:4] in ("OK  ", "WARN", "FAIL")]
    checks = [line.split()[1].rstrip(":") for line in lines]
    assert checks[:4] == ["configuration", "region", "apigateway-cloudwatch-role", "ground-truth-workforce"]
    assert checks[-2:] == ["instance-storage-vs-kms", "powertools-layer"]
    assert result.code == Exit.OK, result.out + result.err
    assert "no blockers" in result.out


def test_doctor_local_exits_7_on_a_blocker_and_says_the_fix(local_state: Path) -> None:
    # Given a configuration relying on an account CloudWatch role the fresh account does not have
    result = gtpipe(
        "doctor",
        "--local",
        "--state-dir",
        str(local_state),
        "--cdk-json",
        ROOT_CDK_JSON,
        "-c",
        'gtpipe:apiGateway={"accountRole": "existing"}',
    )

    # Then the doctor exits PREFLIGHT_FAILED with the FAIL line and its fix
    assert result.code == Exit.PREFLIGHT_FAILED == 7
    assert "FAIL  apigateway-cloudwatch-role:" in result.out
    assert "      fix: " in result.out and "1 blocker(s): apigateway-cloudwatch-role" in result.out


def test_doctor_local_without_a_local_cloud_is_exit_66(tmp_path: Path) -> None:
    result = gtpipe("doctor", "--local", "--state-dir", str(tmp_path), "--cdk-json", ROOT_CDK_JSON)

    assert result.code == Exit.INPUT_MISSING and "make local-up" in result.err
