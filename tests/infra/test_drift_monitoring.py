"""Drift monitoring in the templates (README "Monitoring"): off by default (templates unchanged), and when on
the monitor function, its schedule, least-privilege grants, predict's request records and one alarm per
drift metric notifying the topic; the gtpipe:monitoring context is checked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from infra.config import ConfigError, StackConfig
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.test_security import as_list, policy_statements

MONITORING = {"enabled": True, "windowMinutes": 30, "thresholds": {"inputShift": 2.5, "liveAccuracy": 0.7}}


def build(**context: Any) -> StackConfig:
    values = {f"gtpipe:{key}": value for key, value in context.items()}
    return StackConfig.from_context(values.get)


@pytest.fixture(scope="module")
def synth_monitoring() -> Synthesized:
    return synthesize(monitoring=MONITORING)


def role_statements(synth: Synthesized, prefix: str) -> list[dict[str, Any]]:
    return [s for lid, s in policy_statements(synth.main) if lid.startswith(prefix)]


def test_monitoring_is_off_by_default_and_adds_nothing(synth: Synthesized) -> None:
    # Given the project's default context, when it is synthesized,
    # then there is no monitor function, no drift alarm and predict records nothing.
    assert build().monitoring.enabled is False
    functions = synth.main.find_resources("AWS::Lambda::Function")
    assert not any(lid.startswith("DriftMonitoring") for lid in functions)
    predict = next(f for lid, f in functions.items() if lid.startswith("ServingPredictFunction"))
    assert "MONITORING_RECORDS" not in predict["Properties"]["Environment"]["Variables"]


def lifecycle_rules(synth: Synthesized) -> dict[str, Any]:
    buckets = synth.data.find_resources("AWS::S3::Bucket").values()
    rules = [r for b in buckets for r in b["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])]
    return {rule["Id"]: rule for rule in rules}


def test_request_records_expire_after_a_week_only_with_monitoring(
    synth_monitoring: Synthesized, synth: Synthesized
) -> None:
    assert lifecycle_rules(synth_monitoring)["ExpireDriftRequestRecords"] == {
        "Id": "ExpireDriftRequestRecords",
        "Prefix": "monitoring/requests/",
        "ExpirationInDays": 7,
        "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        "Status": "Enabled",
    }
    assert "ExpireDriftRequestRecords" not in lifecycle_rules(synth)


def test_enabled_monitoring_runs_the_monitor_on_the_window_schedule(synth_monitoring: Synthesized) -> None:
    # Given gtpipe:monitoring enabled with 30-minute windows, when synthesized,
    # then the monitor runs every 30 minutes with the settings, and predict records every request.
    functions = synth_monitoring.main.find_resources("AWS::Lambda::Function")
    monitor = next(f for lid, f in functions.items() if lid.startswith("DriftMonitoringMonitorFunction"))
    variables = monitor["Properties"]["Environment"]["Variables"]
    config = json.loads(variables["MONITORING_CONFIG"])
    assert config["window_minutes"] == 30 and config["thresholds"]["input_shift"] == 2.5
    assert variables["METRIC_NAMESPACE"] == "Gtpipe/Drift"
    assert variables["ENDPOINT_NAME"] == "gtpipe-endpoint"
    synth_monitoring.main.has_resource_properties(
        "AWS::Events::Rule", {"ScheduleExpression": "rate(30 minutes)", "State": "ENABLED"}
    )
    predict = next(f for lid, f in functions.items() if lid.startswith("ServingPredictFunction"))
    assert predict["Properties"]["Environment"]["Variables"]["MONITORING_RECORDS"] == "on"


def test_the_monitor_puts_metrics_only_to_its_namespace_and_writes_only_its_objects(
    synth_monitoring: Synthesized,
) -> None:
    # Given the monitor's role, then PutMetricData is conditioned on the drift namespace, S3 writes are
    # limited to baselines and window summaries, listing to the two prefixes it reads, and nothing else.
    statements = role_statements(synth_monitoring, "DriftMonitoringMonitorFunctionRole")
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert actions == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "dynamodb:GetItem",
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "cloudwatch:PutMetricData",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    put_metrics = next(s for s in statements if "cloudwatch:PutMetricData" in as_list(s["Action"]))
    assert put_metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Gtpipe/Drift"}}
    writes = json.dumps([s["Resource"] for s in statements if "s3:PutObject" in as_list(s["Action"])])
    assert "/runs/*/drift-baseline.json" in writes and "/monitoring/windows/*" in writes
    assert '/runs/*"' not in writes and "metrics.json" not in writes
    listing = next(s for s in statements if "s3:ListBucket" in as_list(s["Action"]))
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["monitoring/requests/*", "captured/*"]}}
    predict = role_statements(synth_monitoring, "ServingPredictFunctionRole")
    records = next(s for s in predict if s.get("Sid") == "DriftRequestRecords")
    assert as_list(records["Action"]) == ["s3:PutObject"]
    assert "/monitoring/requests/*" in json.dumps(records["Resource"])


def test_the_report_reads_only_the_window_summaries(
    synth_monitoring: Synthesized, synth: Synthesized
) -> None:
    # Given monitoring on, then the report function lists and reads monitoring/windows/ (its Monitoring
    # section) and nothing else of monitoring/; with it off the report has neither.
    functions = synth_monitoring.main.find_resources("AWS::Lambda::Function")
    report = next(f for lid, f in functions.items() if lid.startswith("PipelineReportFunction"))
    assert report["Properties"]["Environment"]["Variables"]["MONITORING_WINDOWS"] == "on"
    statements = role_statements(synth_monitoring, "PipelineReportFunctionRole")
    rendered = json.dumps(statements)
    assert "monitoring/windows/*" in rendered and "monitoring/requests" not in rendered
    listing = [s for s in statements if s.get("Condition", {}).get("StringLike", {}).get("s3:prefix")]
    assert ["monitoring/windows/*"] in [s["Condition"]["StringLike"]["s3:prefix"] for s in listing]
    assert "monitoring/" not in json.dumps(role_statements(synth, "PipelineReportFunctionRole"))


def test_one_alarm_per_drift_metric_notifies_the_topic(synth_monitoring: Synthesized) -> None:
    # Given enabled monitoring, then each drift metric has an alarm on its window with the configured
    # threshold (live accuracy: below it), notifying the topic on ALARM and OK.
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in synth_monitoring.main.find_resources("AWS::CloudWatch::Alarm").values()
        if str(a["Properties"].get("AlarmName", "")).startswith("Gtpipe-drift")
        or a["Properties"].get("AlarmName") == "Gtpipe-live-accuracy"
    }
    assert set(alarms) == {
        "Gtpipe-drift-input",
        "Gtpipe-drift-embedding",
        "Gtpipe-drift-class",
        "Gtpipe-drift-confidence",
        "Gtpipe-live-accuracy",
    }
    for alarm in alarms.values():
        assert alarm["Namespace"] == "Gtpipe/Drift" and alarm["Period"] == 1800
        assert alarm["EvaluationPeriods"] == 1 and alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] and alarm["OKActions"] == alarm["AlarmActions"]
        assert {d["Name"] for d in alarm["Dimensions"]} == {"Stack", "Endpoint"}
    assert alarms["Gtpipe-drift-input"]["Threshold"] == 2.5
    assert alarms["Gtpipe-drift-input"]["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarms["Gtpipe-drift-class"]["Threshold"] == 0.5
    assert alarms["Gtpipe-live-accuracy"]["Threshold"] == 0.7
    assert alarms["Gtpipe-live-accuracy"]["ComparisonOperator"] == "LessThanThreshold"


def test_enabled_monitoring_has_no_unsuppressed_cdk_nag_findings(synth_monitoring: Synthesized) -> None:
    for stack in (synth_monitoring.stateful, synth_monitoring.pipeline):
        annotations = Annotations.from_stack(stack)
        errors = annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
        warnings = annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
        assert errors == [] and warnings == [], [e.entry.data for e in errors + warnings][:5]


@pytest.mark.parametrize(
    ("monitoring", "message"),
    [
        ({"enabled": True, "window": 60}, "unknown keys window"),
        ({"windowMinutes": 0}, "windowMinutes must be between 1 and 1440"),
        ({"windowMinutes": 90.5}, "must be a whole number"),
        ({"thresholds": {"classPSI": 1}}, "monitoring.thresholds has unknown keys classPSI"),
        ({"thresholds": {"liveAccuracy": 1.5}}, "liveAccuracy must be between 0.0 and 1.0"),
        ({"thresholds": {"inputShift": 0}}, "input_shift"),
        ({"thresholds": [1]}, "thresholds must be an object"),
    ],
)
def test_bad_monitoring_settings_are_refused_naming_the_key(monitoring: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(monitoring=monitoring)
