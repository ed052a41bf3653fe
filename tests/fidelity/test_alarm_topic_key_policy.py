"""Finding 9: CloudWatch alarms publish to the KMS-encrypted notification topic.

On AWS the alarm is created and every notification fails unless the key policy lets cloudwatch.amazonaws.com
use the key (kms:Decrypt, kms:GenerateDataKey*;
https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services). Alarms
never fire locally, so the local deployer refuses such an alarm (a labelled fidelity check).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from local.fidelity import DeployRejected
from tests.fidelity.conftest import Clients, data_key, deploy, without_statement
from tests.infra.conftest import Synthesized


def topic_and_alarms(synth: Synthesized) -> dict[str, Any]:
    """The notification topic (its key: the local DataKey) and every alarm that notifies it."""
    (topic_id, topic), *_ = synth.main.find_resources("AWS::SNS::Topic").items()
    topic = copy.deepcopy(topic)
    topic["Properties"]["KmsMasterKeyId"] = {"Fn::GetAtt": ["DataKey", "Arn"]}
    resources = {topic_id: topic}
    for name, alarm in synth.main.find_resources("AWS::CloudWatch::Alarm").items():
        if {"Ref": topic_id} in alarm["Properties"].get("AlarmActions", []):
            # The metrics name resources outside this piece of the stack; the check reads only the actions.
            kept = {
                k: v
                for k, v in alarm["Properties"].items()
                if k in ("AlarmName", "AlarmActions", "OKActions")
            }
            resources[name] = {"Type": alarm["Type"], "Properties": kept}
    assert len(resources) > 1, "no alarm notifies the topic"
    return resources


def test_alarms_deploy_with_the_synthesized_key_policy(
    tmp_path: Path, clients: Clients, synth: Synthesized
) -> None:
    # Given the key, the topic and the alarms as synthesized
    resources = {"DataKey": data_key(synth), **topic_and_alarms(synth)}
    # When they are deployed
    deployment = deploy(tmp_path, clients, resources)
    # Then every alarm was accepted
    assert set(resources) <= set(deployment.stacks["S"].resources)


def test_an_alarm_on_a_topic_whose_key_cloudwatch_cannot_use_is_refused(
    tmp_path: Path, clients: Clients, synth: Synthesized
) -> None:
    # Given the key policy before the fix: nothing for cloudwatch.amazonaws.com
    resources = {"DataKey": without_statement(data_key(synth), "cloudwatch."), **topic_and_alarms(synth)}
    # When the stack is deployed
    # Then the first alarm is refused, naming the topic, the key and the missing service principal
    with pytest.raises(
        DeployRejected,
        match=r"AWS::CloudWatch::Alarm\) failed: alarm .* publishes to the KMS-encrypted topic",
    ) as raised:
        deploy(tmp_path, clients, resources)
    assert "does not allow cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey*" in str(raised.value)
