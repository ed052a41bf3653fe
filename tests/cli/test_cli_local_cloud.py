"""``gtpipe --local`` against a running local cloud (slow: one tiny real run).

The cloud is the end-to-end tests' (``tests/local_cloud/conftest.py``'s ``running_cloud``) with a
laptop-sized configuration (``tests/cli/cloud.py``): 60 digits, one epoch, a quality gate every model
passes. The CLI reads the outputs file the cloud writes, exactly as after ``make local-up``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gtpipe_cli.errors import Exit
from gtpipe_cli.naming import run_id_for
from tests.cli.cloud import cli_cloud
from tests.cli.conftest import CliResult, gtpipe

pytestmark = pytest.mark.slow

IMAGES = 60
RUN_TIMEOUT = "300"


@dataclass
class Env:
    """The running cloud, its state folder (with outputs.json) and a local digits folder."""

    cloud: Any
    state_dir: Path
    images: Path
    labeled: list[Any]
    holdout: list[Any]

    @property
    def bucket(self) -> str:
        return str(self.cloud.outputs["DataBucketName"])

    def cli(self, *argv: str) -> CliResult:
        """``gtpipe argv... --local --state-dir <state dir>``."""
        return gtpipe(*argv, "--local", "--state-dir", str(self.state_dir))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    from training.datasets import write_digits_dataset

    state_dir = tmp_path_factory.mktemp("cli-cloud")
    data = tmp_path_factory.mktemp("cli-data")
    records = write_digits_dataset(data, bucket="local", prefix="digits", holdout_fraction=0.1, limit=IMAGES)
    with cli_cloud(state_dir) as cloud:
        yield Env(
            cloud,
            state_dir,
            data / "local" / "digits",
            [r for r in records if not r.holdout],
            [r for r in records if r.holdout],
        )


def test_predict_before_any_run_says_no_model_is_deployed(env: Env) -> None:
    result = env.cli("predict", str(env.holdout[0].path))
    assert result.code == Exit.NO_MODEL
    assert result.err.startswith("gtpipe: no model is deployed yet (")
    assert "503 NoModel" in result.err and result.err.count("\n") == 1


@dataclass
class Submitted:
    manifest: Path
    original: bytes
    submit: CliResult
    follow: CliResult
    run_id: str


@pytest.fixture(scope="module")
def submitted(env: Env, tmp_path_factory: pytest.TempPathFactory) -> Submitted:
    """An augmented manifest whose source-refs are file names in the images folder, submitted with
    ``--images`` and followed to its end."""
    from training.datasets import augmented_manifest_line

    lines = []
    for record in env.labeled:
        line = augmented_manifest_line(record, "category", job_name="cli")
        line["source-ref"] = record.path.name
        lines.append(json.dumps(line) + "\n")
    manifest = tmp_path_factory.mktemp("cli-manifest") / "cli digits.manifest"
    manifest.write_text("".join(lines))
    original = manifest.read_bytes()
    submit = env.cli("submit", str(manifest), "--images", str(env.images), "--quiet")
    assert submit.code == 0, submit.err
    run_id = submit.out.strip()
    follow = env.cli("follow", run_id, "--interval", "0.5", "--timeout", RUN_TIMEOUT)
    env.cloud.wait_idle(30)
    return Submitted(manifest, original, submit, follow, run_id)


def test_submit_uploads_images_rewrites_refs_in_the_dropped_copy_and_prints_start_runs_run_id(
    env: Env, submitted: Submitted
) -> None:
    s3 = env.cloud.client("s3")
    key = "incoming/cli digits.manifest"
    versions = [
        v for v in s3.list_object_versions(Bucket=env.bucket, Prefix=key)["Versions"] if v["Key"] == key
    ]
    assert len(versions) == 1
    assert submitted.run_id == run_id_for(env.bucket, key, versions[0]["VersionId"])
    uploaded = s3.list_objects_v2(Bucket=env.bucket, Prefix="images/digits/")["KeyCount"]
    assert uploaded == IMAGES
    dropped = s3.get_object(Bucket=env.bucket, Key=key)["Body"].read().decode().splitlines()
    assert (
        json.loads(dropped[0])["source-ref"] == f"s3://{env.bucket}/images/digits/{env.labeled[0].path.name}"
    )
    assert submitted.manifest.read_bytes() == submitted.original  # the user's file is untouched


def test_follow_shows_progress_per_change_and_exits_0_when_the_run_succeeds(submitted: Submitted) -> None:
    follow = submitted.follow
    assert follow.code == 0, follow.out + follow.err
    lines = follow.out.splitlines()
    waiting = [line for line in lines if "waiting for run" in line]  # before start_run recorded it
    assert all(line.startswith("[" + "." * 24 + "]  --%") for line in waiting), follow.out
    progress = [line for line in lines if line.startswith("[") and line not in waiting]
    assert len(progress) >= 4, follow.out
    percents = [int(line.split("]", 1)[1].split("%", 1)[0]) for line in progress]
    assert percents == sorted(percents) and percents[-1] == 100
    assert any(" Train " in line and "train=" in line for line in progress), follow.out
    assert f"run {submitted.run_id} SUCCEEDED after " in follow.out, follow.out
    assert f"report: gtpipe report {submitted.run_id} --local" in follow.out


def test_runs_lists_the_run_as_serving(env: Env, submitted: Submitted) -> None:
    result = env.cli("runs")
    assert result.code == 0, result.err
    row = next(line for line in result.out.splitlines() if line.startswith(submitted.run_id))
    assert row.split()[:3] == [f"{submitted.run_id}*", "SUCCEEDED", "image-classification"]
    assert "accuracy " in row


def test_predict_answers_json_per_image_from_the_deployed_model(env: Env, submitted: Submitted) -> None:
    images = [str(record.path) for record in env.holdout[:3]]
    result = env.cli("predict", *images, "--min-confidence", "0.2")
    assert result.code == 0, result.err
    answers = [json.loads(line) for line in result.out.splitlines()]
    assert [answer["image"] for answer in answers] == images
    for answer in answers:
        assert answer["status"] == 200
        assert answer["answer"]["model"]["run_id"] == submitted.run_id
        assert set(answer["answer"]) >= {"label", "confidence", "probabilities"}


def test_predict_prints_refusals_and_exits_6(env: Env, submitted: Submitted, tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    result = env.cli("predict", str(env.holdout[0].path), str(text))
    assert result.code == Exit.REFUSED
    first, second = (json.loads(line) for line in result.out.splitlines())
    assert first["status"] == 200
    assert second["status"] == 400 and second["answer"]["code"] == "NotAnImage"


def test_report_downloads_the_report_the_pipeline_wrote_for_the_run(
    env: Env, submitted: Submitted, tmp_path: Path
) -> None:
    result = env.cli("report", submitted.run_id, "--out", str(tmp_path / "report"))
    assert result.code == 0, result.err
    index = tmp_path / "report" / "index.html"
    assert submitted.run_id in index.read_text()
    assert list((tmp_path / "report" / "figures").glob("*.png"))
    uri = f"s3://{env.bucket}/reports/{submitted.run_id}/"
    assert uri in result.out and str(index.resolve()) in result.out.splitlines()
    assert f"({uri}index.html)" in submitted.follow.out  # follow named it from the ledger


def test_report_downloads_a_report_put_in_the_bucket(env: Env, tmp_path: Path) -> None:
    run_id = "handmade-0123456789abcdef"
    s3 = env.cloud.client("s3")
    s3.put_object(Bucket=env.bucket, Key=f"reports/{run_id}/index.html", Body=b"<h1>handmade</h1>")
    s3.put_object(Bucket=env.bucket, Key=f"reports/{run_id}/figures/a.png", Body=b"\x89PNG")
    result = env.cli("report", run_id, "--out", str(tmp_path / "report"))
    assert result.code == 0, result.err
    assert (tmp_path / "report" / "index.html").read_bytes() == b"<h1>handmade</h1>"
    assert (tmp_path / "report" / "figures" / "a.png").read_bytes() == b"\x89PNG"
    assert f"s3://{env.bucket}/reports/{run_id}/" in result.out


def test_an_invalid_manifest_fails_follow_with_exit_1_and_has_no_report(env: Env, tmp_path: Path) -> None:
    manifest = tmp_path / "elsewhere.jsonl"
    manifest.write_text('{"source-ref": "s3://some-other-bucket/a.png"}\n')
    submit = env.cli("submit", str(manifest), "--quiet")
    assert submit.code == 0, submit.err
    run_id = submit.out.strip()
    follow = env.cli("follow", run_id, "--interval", "0.5", "--timeout", "60")
    assert follow.code == Exit.RUN_FAILED, follow.out + follow.err
    assert f"run {run_id} FAILED" in follow.out and "some-other-bucket" in follow.out
    assert "report:" not in follow.out  # no execution, no report
    report = env.cli("report", run_id, "--out", str(tmp_path / "r"))
    assert report.code == Exit.RUN_FAILED
    assert f"run {run_id} FAILED at validate (InvalidManifest)" in report.err
    assert "before training: there will be no report" in report.err


def test_the_installed_console_script_runs_outside_the_source_tree(
    env: Env, submitted: Submitted, tmp_path: Path
) -> None:
    script = Path(sys.executable).parent / "gtpipe"
    assert script.exists(), f"{script} is missing: run make install (pip install -e .)"
    manifest = tmp_path / "script.manifest"
    manifest.write_text('{"source-ref": "s3://some-other-bucket/a.png"}\n')
    state = ["--local", "--state-dir", str(env.state_dir)]
    submit = subprocess.run(
        [str(script), "submit", str(manifest), "-q", *state],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # no lambdas/ on the path: the run-id rule is loaded from the source tree
        timeout=60,
        check=False,
    )
    assert submit.returncode == 0, submit.stderr
    versions = env.cloud.client("s3").list_object_versions(
        Bucket=env.bucket, Prefix="incoming/script.manifest"
    )
    assert submit.stdout.strip() == run_id_for(
        env.bucket, "incoming/script.manifest", versions["Versions"][0]["VersionId"]
    )
    runs = subprocess.run(
        [str(script), "runs", *state], capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False
    )
    assert runs.returncode == 0, runs.stderr
    assert submitted.run_id in runs.stdout
    missing = subprocess.run(
        [str(script), "runs", "--local", "--state-dir", str(tmp_path / "nothing")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == Exit.INPUT_MISSING
    assert "make local-up" in missing.stderr and "Traceback" not in missing.stderr
