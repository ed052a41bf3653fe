"""Finding 1: every log group is encrypted with the data key; CloudWatch Logs must be allowed to use it.

AWS: "The specified KMS key does not exist or is not allowed to be used with Arn '...'" when the key policy
does not let logs.<region>.amazonaws.com use the key for the log group's encryption context (aws/aws-cdk#28304;
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from local.fidelity import DeployRejected
from tests.fidelity.conftest import ENV, Clients, data_key, deploy, without_statement
from tests.infra.conftest import Synthesized


def encrypted_log_groups(synth: Synthesized) -> dict[str, Any]:
    groups = synth.main.find_resources("AWS::Logs::LogGroup")
    assert groups and all("KmsKeyId" in group["Properties"] for group in groups.values())
    return groups


def with_key(group: dict[str, Any]) -> dict[str, Any]:
    # The pipeline stack imports the key's ARN; here the key lives in the same stack.
    return {**group, "Properties": {**group["Properties"], "KmsKeyId": {"Fn::GetAtt": ["DataKey", "Arn"]}}}


def test_every_synthesized_log_group_deploys_with_the_synthesized_key_policy(
    tmp_path: Path, clients: Clients, synth: Synthesized
) -> None:
    # Given the data key as synthesized and every log group of the pipeline stack
    resources = {"DataKey": data_key(synth)}
    resources.update({name: with_key(group) for name, group in encrypted_log_groups(synth).items()})
    # When they are deployed
    deployment = deploy(tmp_path, clients, resources)
    # Then every log group was accepted
    assert set(encrypted_log_groups(synth)) <= set(deployment.stacks["S"].resources)


def test_a_key_policy_without_cloudwatch_logs_fails_the_log_group_as_on_aws(
    tmp_path: Path, clients: Clients, synth: Synthesized
) -> None:
    # Given the key policy before the fix: no statement for logs.<region>.amazonaws.com
    name, group = next(iter(encrypted_log_groups(synth).items()))
    resources = {"DataKey": without_statement(data_key(synth), "logs."), name: with_key(group)}
    # When the stack is deployed
    # Then the log group fails with CloudWatch Logs' error for its ARN
    arn = f"arn:aws:logs:{ENV.region}:{ENV.account_id}:log-group:{name}"
    with pytest.raises(DeployRejected) as raised:
        deploy(tmp_path, clients, resources)
    assert f"creating {name} (AWS::Logs::LogGroup) failed" in str(raised.value)
    assert f"The specified KMS key does not exist or is not allowed to be used with Arn '{arn}'" in str(
        raised.value
    )


def test_the_logs_statement_is_scoped_to_this_accounts_log_groups(synth: Synthesized) -> None:
    # Given the synthesized key policy
    statements = data_key(synth)["Properties"]["KeyPolicy"]["Statement"]
    # When the CloudWatch Logs statement is read
    (logs,) = [s for s in statements if s.get("Sid") == "AllowCloudWatchLogsUseOfTheKey"]
    # Then it is conditioned on the log group encryption context, and grants no wildcard action
    assert "kms:EncryptionContext:aws:logs:arn" in logs["Condition"]["ArnLike"]
    assert all("*" not in action for action in logs["Action"])
