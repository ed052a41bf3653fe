"""The first hour of a new user (issue 20, items 11-13): reference answers for the local cloud's simulated
labelers, labels without ``-metadata``, ``--local`` from any folder, runs without a report, ``make demo
KEEP=1`` and ``local.cli up`` with another configuration."""

# ruff: noqa: F811 - aws_stacks is tests.cli.stacks' fixture, imported

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest
from gtpipe_shared.unanswered import record_unanswered, unanswered_path
from moto import mock_aws

from gtpipe_cli import main as cli_main
from gtpipe_cli.display import FollowDisplay
from gtpipe_cli.errors import Exit
from gtpipe_cli.local_answers import unanswered_notes
from gtpipe_cli.progress import RunProgress
from gtpipe_cli.target import Target, TargetOptions, resolve_target
from tests.cli.conftest import gtpipe
from tests.cli.stacks import RUN_ID, aws_stacks, local_outputs, put_run  # noqa: F401 - a fixture

ROOT = Path(__file__).resolve().parents[2]


# -- 11: reference answers for the simulated labelers ------------------------------------------------------


@pytest.fixture
def local_s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Target:
    """A local-cloud target whose S3 is moto's, with its reference-answer file under tmp_path."""
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        session.client("s3").create_bucket(Bucket="data-bucket")
        outputs = {
            "DataBucketName": "data-bucket",
            "IncomingPrefix": "incoming/",
            "StateMachineArn": "arn:aws:states:us-east-1:000000000000:stateMachine:Gtpipe",
            "ApiUrl": "https://127.0.0.1:2/prod/",
            "RunsTableName": "runs",
            "WorkforceReferenceLabels": str(tmp_path / "workforce" / "reference-labels.jsonl"),
        }
        target = Target("local", "the local cloud", outputs, session, hint_flags="--local")
        monkeypatch.setattr(cli_main, "resolve_target", lambda options: target)
        yield target


def unlabeled_pets(tmp_path: Path) -> tuple[Path, Path]:
    """A folder with cat.png and dog.png, and an unlabeled manifest of the two (refs relative to it)."""
    images = tmp_path / "pets"
    images.mkdir()
    for name in ("cat.png", "dog.png"):
        (images / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    manifest = tmp_path / "pets.manifest"
    manifest.write_text('{"source-ref": "cat.png"}\n{"source-ref": "dog.png"}\n')
    return images, manifest


def test_submit_local_says_which_images_no_simulated_labeler_can_answer(
    local_s3: Target, tmp_path: Path
) -> None:
    images, manifest = unlabeled_pets(tmp_path)

    result = gtpipe("submit", str(manifest), "--images", str(images), "--local")

    assert result.code == 0, result.err
    assert "warning: 2 image(s) of this unlabeled manifest have no reference answer in" in result.out
    assert "--reference-answers FILE" in result.out


def test_submit_local_adds_reference_answers_with_refs_pointed_at_the_uploads(
    local_s3: Target, tmp_path: Path
) -> None:
    images, manifest = unlabeled_pets(tmp_path)
    answers = tmp_path / "answers.jsonl"
    answers.write_text('{"source-ref": "cat.png", "label": 0}\n\n{"source-ref": "dog.png", "label": "dog"}\n')
    reference = Path(local_s3.outputs["WorkforceReferenceLabels"])
    reference.parent.mkdir(parents=True)
    reference.write_text('{"source-ref": "s3://data-bucket/images/old/1.png", "label": 1}')  # no newline

    result = gtpipe("submit", str(manifest), "--images", str(images), "--reference-answers", str(answers))

    assert result.code == 0, result.err
    assert f"added 2 reference answers to {reference}" in result.out
    assert "warning" not in result.out
    lines = [json.loads(line) for line in reference.read_text().splitlines()]
    assert [line["source-ref"] for line in lines] == [
        "s3://data-bucket/images/old/1.png",
        "s3://data-bucket/images/pets/cat.png",
        "s3://data-bucket/images/pets/dog.png",
    ]
    assert [line["label"] for line in lines] == [1, 0, "dog"]


def test_bad_reference_answers_are_refused_before_anything_is_uploaded(
    local_s3: Target, tmp_path: Path
) -> None:
    manifest = tmp_path / "pets.manifest"
    manifest.write_text('{"source-ref": "s3://data-bucket/images/cat.png"}\n')
    answers = tmp_path / "answers.jsonl"
    answers.write_text('{"source-ref": "s3://data-bucket/images/cat.png", "category": 0}\n')

    result = gtpipe("submit", str(manifest), "--reference-answers", str(answers))

    assert result.code == Exit.USAGE
    assert "answers.jsonl line 1: a reference answer is" in result.err
    assert "Contents" not in local_s3.client("s3").list_objects_v2(Bucket="data-bucket")
    assert not Path(local_s3.outputs["WorkforceReferenceLabels"]).exists()


def test_reference_answers_are_for_the_local_cloud_only(aws_stacks: dict[str, str], tmp_path: Path) -> None:
    manifest = tmp_path / "pets.manifest"
    manifest.write_text('{"source-ref": "s3://b/cat.png"}\n')
    answers = tmp_path / "answers.jsonl"
    answers.write_text('{"source-ref": "s3://b/cat.png", "label": 0}\n')
    result = gtpipe("submit", str(manifest), "--reference-answers", str(answers), "--region", "us-east-1")
    assert result.code == Exit.USAGE and "--reference-answers is for the local cloud" in result.err


def test_the_usage_says_unlabeled_images_need_reference_answers_locally() -> None:
    result = gtpipe("submit", "--help")
    text = " ".join(result.out.split())
    assert result.code == 0
    assert "--reference-answers FILE" in text
    assert "Images of your own that are unlabeled need them" in text
    assert "ground-truth labeling fails the run" in text and "leaves the job open" in text


class StubApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []

    def call(self, method: str, path: str, token: str, body: Any = None) -> Any:
        self.calls.append((method, path, body))
        return {}


def test_a_simulated_labeler_without_an_answer_releases_the_task_warns_and_notes_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from local.cognito import LocalUser
    from local.labeling_crowd import CrowdSettings, ReferenceAnswers, SimulatedLabeler

    reference = tmp_path / "reference-labels.jsonl"
    reference.write_text('{"source-ref": "s3://b/known.png", "label": 0}\n')
    api = StubApi()
    labeler = SimulatedLabeler(
        1,
        LocalUser(username="u", password="p", groups=("labelers",)),
        api=api,  # type: ignore[arg-type]
        cognito=lambda: None,
        client_id="client",
        references=ReferenceAnswers(reference),
        settings=CrowdSettings(reference_labels=reference),
        stop=threading.Event(),
    )
    labeler._token = "token"
    job = f"{RUN_ID}-labeling-0"
    task = {"job_name": job, "index": 4, "source_ref": "s3://b/mine.png", "lease_id": "L", "task_type": "x"}

    with caplog.at_level(logging.WARNING, logger="local.labeling_crowd"):
        assert labeler._answer(task) is False

    assert api.calls == [("POST", f"api/jobs/{job}/tasks/4/release", {"lease_id": "L"})]
    assert "no reference answer for s3://b/mine.png" in caplog.text
    assert "--reference-answers" in caplog.text
    assert json.loads(unanswered_path(reference).read_text()) == {job: ["s3://b/mine.png"]}
    (note,) = unanswered_notes(reference, RUN_ID)
    assert note.startswith(
        "WARNING: 1 object(s) without a reference answer, released by the simulated labelers"
    )
    assert unanswered_notes(reference, "other-0123456789abcdef") == []


def test_the_progress_line_ends_with_the_labelers_warning() -> None:
    reference = Path("/nonexistent/reference-labels.jsonl")
    started = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3)
    run = {"run_id": RUN_ID, "status": "RUNNING", "created_at": started.strftime("%Y-%m-%dT%H:%M:%SZ")}
    snapshot = RunProgress(RUN_ID, "RUNNING", "RUNNING", "LabelWithTeam", run=run, notes=["WARNING: 3 ..."])
    assert snapshot.line().endswith("WARNING: 3 ...")
    assert FollowDisplay(io.StringIO(), tty=False).line(snapshot).endswith("WARNING: 3 ...")
    assert unanswered_notes(reference, RUN_ID) == []


def test_record_unanswered_counts_each_object_once(tmp_path: Path) -> None:
    reference = tmp_path / "reference-labels.jsonl"
    job = f"{RUN_ID}-labeling-0"
    assert record_unanswered(reference, job, "s3://b/1.png") == 1
    assert record_unanswered(reference, job, "s3://b/1.png") == 1
    assert record_unanswered(reference, job, "s3://b/2.png") == 2


# -- 12: labels without -metadata --------------------------------------------------------------------------


def test_submit_warns_about_labels_without_metadata(aws_stacks: dict[str, str], tmp_path: Path) -> None:
    manifest = tmp_path / "pets.manifest"
    manifest.write_text(
        '{"source-ref": "s3://b/1.png", "category": 1}\n'
        '{"source-ref": "s3://b/2.png", "category": 0}\n'
        '{"source-ref": "s3://b/3.png", "boxes": {"annotations": []}}\n'
    )
    result = gtpipe("submit", str(manifest), "--region", "us-east-1")
    assert result.code == 0, result.err
    warnings = [line for line in result.out.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2
    assert warnings[0].startswith(
        "warning: 2 line(s) (first: line 1) have label attribute 'category' without 'category-metadata'"
    )
    assert "sent to labeling" in warnings[0]
    assert warnings[1].startswith("warning: 1 line(s) (first: line 3) have label attribute 'boxes'")


def test_a_labeled_manifest_gets_no_warning(aws_stacks: dict[str, str], tmp_path: Path) -> None:
    manifest = tmp_path / "pets.manifest"
    line = {"source-ref": "s3://b/1.png", "category": 1, "category-metadata": {"class-name": "dog"}}
    manifest.write_text(json.dumps(line) + "\n")
    result = gtpipe("submit", str(manifest), "--region", "us-east-1")
    assert result.code == 0 and "warning" not in result.out + result.err


def test_follow_prints_the_ledgers_warnings_once(aws_stacks: dict[str, str]) -> None:
    table = aws_stacks["RunsTableName"]
    put_run(table, status="RUNNING", warnings=["3 line(s) (first: line 1) have label attribute 'category'"])
    result = gtpipe("follow", RUN_ID, "--region", "us-east-1", "--interval", "0", "--timeout", "0")
    assert result.code == Exit.NOT_YET
    assert result.out.count("warning: 3 line(s) (first: line 1) have label attribute 'category'\n") == 1
    assert result.out.startswith("warning: ")


# -- 13: --local from any folder, runs without a report, make demo KEEP=1, local.cli up ------------------


def test_local_finds_the_outputs_from_any_folder_of_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkout = tmp_path / "checkout"
    (checkout / ".git").mkdir(parents=True)
    local_outputs(checkout / ".local")
    deep = checkout / "training" / "detection"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    target = resolve_target(TargetOptions(local=True))
    assert target.kind == "local" and str(checkout / ".local" / "outputs.json") in target.description
    assert target.hint_flags == "--local"


def test_local_does_not_look_above_the_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local_outputs(tmp_path / ".local")  # outside the checkout
    checkout = tmp_path / "checkout"
    (checkout / ".git").mkdir(parents=True)
    monkeypatch.chdir(checkout)
    result = gtpipe("runs", "--local")
    assert result.code == Exit.INPUT_MISSING and ".local/outputs.json is missing" in result.err


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"failure": {"step": "labeling", "error": "LabelingIncomplete", "cause": "x"}}, "at labeling"),
        ({"failure": {"step": "costguard", "error": "LabelingBudgetExceeded", "cause": "x"}}, "at costguard"),
        (
            {"errors": ["line 3: missing 'source-ref'"]},
            "validating its manifest (line 3: missing 'source-ref')",
        ),
    ],
)
def test_report_of_a_run_that_failed_before_training_says_there_will_be_none(
    aws_stacks: dict[str, str], fields: dict[str, Any], says: str
) -> None:
    put_run(aws_stacks["RunsTableName"], status="FAILED", **fields)
    result = gtpipe("report", RUN_ID, "--region", "us-east-1")
    assert result.code == Exit.RUN_FAILED
    assert f"run {RUN_ID} FAILED {says}" in result.err
    assert "before training: there will be no report" in result.err and "yet" not in result.err


def test_report_of_a_run_whose_report_failed_says_so(aws_stacks: dict[str, str]) -> None:
    put_run(
        aws_stacks["RunsTableName"],
        status="FAILED",
        failure={"step": "training", "error": "AlgorithmError", "cause": "x"},
        report_error={"error": "States.Timeout", "cause": "took too long"},
    )
    result = gtpipe("report", RUN_ID, "--region", "us-east-1")
    assert result.code == Exit.RUN_FAILED
    assert "its report failed (States.Timeout: took too long): there will be no report" in result.err


def test_make_demo_keep_1_keeps_the_cloud_running() -> None:
    import subprocess

    def demo_command(*extra: str) -> str:
        done = subprocess.run(
            ["make", "-n", "--no-print-directory", "-C", str(ROOT), "demo", *extra],
            capture_output=True,
            text=True,
            check=True,
        )
        return next(line for line in done.stdout.splitlines() if "-m local.demo" in line).strip()

    assert demo_command("KEEP=1").endswith("--keep-running")
    assert "--keep-running" not in demo_command()


def test_the_demo_says_its_by_hand_commands_die_with_it_unless_kept_running() -> None:
    from local.drivers.demo import by_hand_header

    ending = by_hand_header(keep_running=False)
    assert "stops when the demo ends" in ending
    assert "make demo KEEP=1" in ending and "make local-up" in ending
    assert "keeps running until Ctrl-C" in by_hand_header(keep_running=True)


@pytest.fixture
def running_cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state dir whose cloud "runs" (pid check stubbed), started with --demo-context -c gtpipe:a=1."""
    from local.drivers import cli

    monkeypatch.setattr(cli, "_pid", lambda state_dir: 4242)
    record = {
        "context": {"gtpipe:a": 1},
        "demo_context": True,
        "cdk_out": None,
        "port": None,
        "api_port": None,
    }
    (tmp_path / cli.CONFIG_FILE).write_text(json.dumps(record))
    return tmp_path


def test_up_with_another_configuration_while_running_refuses_and_names_it(
    running_cloud: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from local.drivers import cli

    code = cli.main(
        ["--state-dir", str(running_cloud), "up", "--demo-context", "-c", "gtpipe:a=2", "-c", "b=x"]
    )

    assert code == 1
    err = capsys.readouterr().err
    assert "already running (pid 4242) with another configuration" in err
    assert "-c gtpipe:a: running 1, asked 2" in err and '-c b: running unset, asked "x"' in err
    assert "python -m local.cli down" in err


def test_up_with_the_same_configuration_while_running_is_fine(
    running_cloud: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from local.drivers import cli

    assert cli.main(["--state-dir", str(running_cloud), "up", "--demo-context", "-c", "gtpipe:a=1"]) == 0
    assert "already running (pid 4242)" in capsys.readouterr().out
    assert cli.main(["--state-dir", str(running_cloud), "up", "-c", "gtpipe:a=1"]) == 1
    assert "--demo-context: running True, asked False" in capsys.readouterr().err


# -- 10 and 12: the README -------------------------------------------------------------------------------


def test_the_readmes_augmented_lines_are_labeled_lines_start_run_accepts() -> None:
    import re

    from gtpipe_shared.manifest import ManifestRules, validate_manifest

    readme = (ROOT / "README.md").read_text()
    lines = re.findall(r"```json\n(\{\"source-ref\".*\})\n```", readme)
    assert len(lines) == 2
    for line, task_type in zip(lines, ("image-classification", "object-detection"), strict=True):
        rules = ManifestRules(
            allowed_buckets=frozenset({"my-data-bucket"}),
            class_names=("cat", "dog"),
            task_type=task_type,
            label_attribute="category",
        )
        report = validate_manifest(io.BytesIO(line.encode() + b"\n"), rules)
        assert report.ok, report.messages()
        assert report.summary.kind == "augmented" and report.warnings == []
        # Without its -metadata the same line is unlabeled, and start_run warns.
        record = json.loads(line)
        del record["category-metadata"]
        report = validate_manifest(io.BytesIO(json.dumps(record).encode() + b"\n"), rules)
        assert report.ok and report.summary.kind == "input" and len(report.warnings) == 1


def test_the_readme_names_every_tool_with_its_minimum_version() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Prerequisites", 1)[1].split("\n\n", 2)[1]
    rows = {row.split("|")[1].strip(): row.split("|")[2].strip() for row in table.splitlines()[2:]}
    assert rows["Python"] == "3.11" and rows["Node.js"] == "20"
    assert rows["AWS CLI"].startswith("2.13.0")  # the first v2 that honours AWS_ENDPOINT_URL
    assert rows["curl"] == "7.75.0"  # --aws-sigv4
    assert "jq" in rows and "GNU make" in rows
    assert "AWS_ENDPOINT_URL" in table
