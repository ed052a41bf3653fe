"""``gtpipe`` without a local cloud: argument parsing and target resolution (AWS via moto, the local
outputs file), with the one-line errors and their exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from gtpipe_cli.errors import CliError, Exit
from gtpipe_cli.target import TargetOptions, local_target, resolve_target
from tests.cli.conftest import gtpipe
from tests.cli.stacks import aws_stacks as aws_stacks  # fixture
from tests.cli.stacks import local_outputs

# -- argument parsing -----------------------------------------------------------------------------------


def test_usage_errors_exit_64_and_name_the_problem() -> None:
    result = gtpipe("runs", "--limit", "0")
    assert result.code == Exit.USAGE
    assert "--limit" in result.err and "at least 1" in result.err

    result = gtpipe("predict", "x.png", "--min-confidence", "1.5")
    assert result.code == Exit.USAGE
    assert "number from 0 to 1" in result.err

    assert gtpipe("frobnicate").code == Exit.USAGE
    assert gtpipe().code == Exit.USAGE


def test_help_exits_0_and_documents_the_exit_codes() -> None:
    result = gtpipe("--help")
    assert result.code == 0
    assert "Exit codes" in result.out and "77 no AWS credentials" in " ".join(result.out.split())


@pytest.mark.parametrize(
    "argv",
    [
        ["--local", "--state-dir", "{dir}", "runs"],
        ["runs", "--local", "--state-dir", "{dir}"],
        ["--local", "runs", "--state-dir", "{dir}"],
    ],
)
def test_target_options_work_before_or_after_the_command(argv: list[str], tmp_path: Path) -> None:
    # No outputs.json there: the error proves the options reached the target resolution.
    result = gtpipe(*[arg.format(dir=tmp_path) for arg in argv])
    assert result.code == Exit.INPUT_MISSING
    assert f"{tmp_path}/outputs.json is missing" in result.err
    assert "make local-up" in result.err
    assert "Traceback" not in result.err


# -- target resolution ----------------------------------------------------------------------------------


def test_local_target_reads_outputs_json_and_points_clients_at_the_local_endpoint(tmp_path: Path) -> None:
    local_outputs(tmp_path)
    target = resolve_target(TargetOptions(local=True, state_dir=tmp_path))
    assert target.kind == "local"
    assert (target.bucket, target.runs_table, target.region) == ("data-bucket", "runs", "eu-west-1")
    assert target.api_url == "https://127.0.0.1:2/prod"
    assert target.ca_path == str(tmp_path / "ca.pem")
    s3 = target.client("s3")
    assert s3.meta.endpoint_url == "http://127.0.0.1:1"
    assert s3.meta.region_name == "eu-west-1"
    assert target.credentials().access_key == "AKIAGTPIPELOCAL00000"
    assert target.api_key() is None
    assert target.hint_flags == f"--local --state-dir {tmp_path}"


def test_local_target_with_api_key_auth_uses_the_published_key(tmp_path: Path) -> None:
    local_outputs(tmp_path, ApiKey="k" * 40)
    assert local_target(tmp_path).api_key() == "k" * 40


def test_local_outputs_missing_an_output_or_unreadable_is_a_clear_error(tmp_path: Path) -> None:
    local_outputs(tmp_path, RunsTableName="")
    with pytest.raises(CliError) as raised:
        local_target(tmp_path)
    assert raised.value.code == Exit.UNAVAILABLE and "RunsTableName" in raised.value.message
    (tmp_path / "outputs.json").write_text("{not json")
    with pytest.raises(CliError) as raised:
        local_target(tmp_path)
    assert raised.value.code == Exit.INPUT_MISSING and "cannot read" in raised.value.message


def test_a_stale_local_outputs_file_says_the_local_cloud_is_not_running(tmp_path: Path) -> None:
    local_outputs(tmp_path)  # port 1: nothing listens
    result = gtpipe("runs", "--local", "--state-dir", str(tmp_path))
    assert result.code == Exit.UNAVAILABLE
    assert "cannot reach http://127.0.0.1:1" in result.err and "make local-up" in result.err


def test_aws_target_reads_the_pipeline_stack_outputs(aws_stacks: dict[str, str]) -> None:
    target = resolve_target(TargetOptions(region="us-east-1"))
    assert target.kind == "aws"
    assert target.bucket == aws_stacks["DataBucketName"]
    assert target.runs_table == aws_stacks["RunsTableName"]
    assert target.outputs["EndpointName"] == "gtpipe-endpoint"
    assert target.description == "stacks GtpipeData/GtpipePipeline in us-east-1"
    assert target.hint_flags == "--region us-east-1"


def test_aws_target_with_another_prefix_or_region_that_has_no_stack_is_a_clear_error(
    aws_stacks: dict[str, str],
) -> None:
    result = gtpipe("runs", "--stack-prefix", "Other")
    assert result.code == Exit.UNAVAILABLE
    assert "stack OtherPipeline not found in us-east-1" in result.err
    result = gtpipe("runs", "--region", "eu-west-1")
    assert result.code == Exit.UNAVAILABLE and "GtpipePipeline not found in eu-west-1" in result.err


def test_missing_credentials_are_one_line_exit_77(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = gtpipe("runs", "--region", "us-east-1")
    assert result.code == Exit.NO_CREDENTIALS
    assert result.err.startswith("gtpipe: no AWS credentials found")
    assert result.err.count("\n") == 1

    result = gtpipe("runs", "--profile", "nobody")
    assert result.code == Exit.NO_CREDENTIALS and "nobody" in result.err
