"""``gtpipe runs``, ``follow``, ``report`` and ``submit`` without a local cloud (AWS via moto): run ids,
manifest rewriting, progress ranks and display, and the one-line errors with their exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from gtpipe_cli.display import FollowDisplay, bar, duration, runs_table
from gtpipe_cli.errors import CliError, Exit
from gtpipe_cli.naming import is_run_id, run_id_for
from gtpipe_cli.progress import RunProgress, fraction_done, state_ranks
from gtpipe_cli.submit import manifest_key, rewrite_source_refs
from tests.cli.conftest import gtpipe
from tests.cli.stacks import ASL, RUN_ID, put_item, put_run
from tests.cli.stacks import aws_stacks as aws_stacks  # fixture

# -- runs, follow, report and submit against AWS (moto) ----------------------------------------------


def test_runs_against_aws_lists_ledger_items_newest_first(aws_stacks: dict[str, str]) -> None:
    table = aws_stacks["RunsTableName"]
    items = [
        {"run_id": "old-0000000000000001", "status": "SUCCEEDED", "task_type": "image-classification",
         "created_at": "2026-01-01T10:00:00.000000Z", "ended_at": "2026-01-01T10:12:30.000000Z",
         "metrics": {"metric_name": "accuracy", "metric_value": 0.9375, "quality_threshold": 0.8},
         "labeling_cost": {"estimated_usd": 5.68, "actual_usd": 4.8412}},
        {"run_id": "new-0000000000000002", "status": "FAILED", "task_type": "image-classification",
         "created_at": "2026-01-02T10:00:00.000000Z", "ended_at": "2026-01-02T10:01:00.000000Z",
         "failure": {"step": "train", "error": "AlgorithmError", "cause": "boom"}},
        {"run_id": "@serving", "source_run_id": "old-0000000000000001"},
    ]  # fmt: skip
    for entry in items:
        put_item(table, entry)
    result = gtpipe("runs", "--region", "us-east-1")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["RUN", "STATUS", "TASK", "CREATED", "(UTC)", "DURATION", "LABELING", "DETAIL"]
    assert lines[1].split()[:2] == ["new-0000000000000002", "FAILED"]
    assert "failed at train: AlgorithmError" in lines[1] and "1m00s" in lines[1]
    assert lines[2].split()[:2] == ["old-0000000000000001*", "SUCCEEDED"]
    assert "accuracy 0.938 (gate 0.8)" in lines[2] and "12m30s" in lines[2]
    assert "$4.84 (est. $5.68)" in lines[2] and " - " in lines[1]
    assert len(lines) == 3  # @serving is not a run

    result = gtpipe("runs", "--region", "us-east-1", "--limit", "1", "--json")
    assert [run["run_id"] for run in json.loads(result.out)] == ["new-0000000000000002"]


def test_follow_and_report_of_unknown_runs_exit_3(aws_stacks: dict[str, str]) -> None:
    result = gtpipe("follow", "not a run", "--region", "us-east-1")
    assert result.code == Exit.UNKNOWN_RUN and "is not a run id" in result.err
    result = gtpipe("follow", RUN_ID, "--region", "us-east-1", "--start-timeout", "0", "--interval", "0")
    assert result.code == Exit.UNKNOWN_RUN
    assert f"unknown run {RUN_ID}: not in the runs ledger" in result.err
    result = gtpipe("report", RUN_ID, "--region", "us-east-1")
    assert result.code == Exit.UNKNOWN_RUN and f"unknown run {RUN_ID}" in result.err


def test_follow_exit_codes_say_the_outcome(aws_stacks: dict[str, str]) -> None:
    table = aws_stacks["RunsTableName"]
    args = ("follow", RUN_ID, "--region", "us-east-1", "--interval", "0")
    put_run(table, status="RUNNING")
    result = gtpipe(*args, "--timeout", "0")
    assert result.code == Exit.NOT_YET and f"run {RUN_ID} is still RUNNING" in result.out

    put_run(table, status="FAILED", errors=["line 3: source-ref is not an s3:// URI"])
    result = gtpipe(*args)
    assert result.code == Exit.RUN_FAILED
    assert "FAILED: line 3: source-ref is not an s3:// URI" in result.out

    put_run(table, status="REJECTED", ended_at="2026-01-01T10:05:00.000000Z",
            metrics={"metric_name": "accuracy", "metric_value": 0.5},
            report_uri="s3://b/reports/x/index.html")  # fmt: skip
    result = gtpipe(*args)
    assert result.code == Exit.RUN_REJECTED
    assert f"run {RUN_ID} REJECTED after 5m00s: accuracy 0.500" in result.out
    assert (
        f"report: gtpipe report {RUN_ID} --region us-east-1 --open  (s3://b/reports/x/index.html)"
        in result.out
    )

    put_run(table, status="SUCCEEDED", ended_at="2026-01-01T10:05:00.000000Z")
    assert gtpipe(*args).code == Exit.OK


def test_report_downloads_the_run_report_or_says_there_is_none_yet(
    aws_stacks: dict[str, str], tmp_path: Path
) -> None:
    bucket, table = aws_stacks["DataBucketName"], aws_stacks["RunsTableName"]
    put_run(table, status="RUNNING")
    result = gtpipe("report", RUN_ID, "--region", "us-east-1", "--out", str(tmp_path / "r"))
    assert result.code == Exit.NOT_YET
    assert f"run {RUN_ID} (RUNNING) has no report yet under s3://{bucket}/reports/{RUN_ID}/" in result.err

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_object(Bucket=bucket, Key=f"reports/{RUN_ID}/index.html", Body=b"<html>report</html>")
    s3.put_object(Bucket=bucket, Key=f"reports/{RUN_ID}/figures/classes.png", Body=b"png")
    s3.put_object(Bucket=bucket, Key=f"reports/{RUN_ID}-other/index.html", Body=b"not this run")
    result = gtpipe("report", RUN_ID, "--region", "us-east-1", "--out", str(tmp_path / "r"))
    assert result.code == 0, result.err
    assert (tmp_path / "r" / "index.html").read_bytes() == b"<html>report</html>"
    assert (tmp_path / "r" / "figures" / "classes.png").read_bytes() == b"png"
    assert sorted(p.name for p in (tmp_path / "r").rglob("*") if p.is_file()) == ["classes.png", "index.html"]
    assert f"s3://{bucket}/reports/{RUN_ID}/" in result.out
    assert str((tmp_path / "r" / "index.html").resolve()) in result.out.splitlines()


def test_report_open_hands_the_file_url_to_the_browser(
    aws_stacks: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    bucket = aws_stacks["DataBucketName"]
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=bucket, Key=f"reports/{RUN_ID}/index.html", Body=b"<html></html>"
    )
    monkeypatch.chdir(tmp_path)
    assert gtpipe("report", RUN_ID, "--region", "us-east-1", "--open").code == 0
    index = tmp_path / ".gtpipe" / "reports" / RUN_ID / "index.html"
    assert opened == [index.as_uri()]


def test_submit_to_aws_uploads_images_and_the_rewritten_manifest(
    aws_stacks: dict[str, str], tmp_path: Path
) -> None:
    bucket = aws_stacks["DataBucketName"]
    images = tmp_path / "cats and dogs"
    (images / "cat").mkdir(parents=True)
    (images / "cat" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n cat")
    (images / ".hidden").write_bytes(b"x")
    manifest = tmp_path / "pets.manifest"
    original = b'{"source-ref": "cat/1.png"}\n{"source-ref": "s3://other/2.png"}\n'
    manifest.write_bytes(original)
    result = gtpipe("submit", str(manifest), "--images", str(images), "--region", "us-east-1")
    assert result.code == 0, result.err
    s3 = boto3.client("s3", region_name="us-east-1")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["images/cats-and-dogs/cat/1.png", "incoming/pets.manifest"]
    dropped = s3.get_object(Bucket=bucket, Key="incoming/pets.manifest")["Body"].read().decode()
    assert [json.loads(line)["source-ref"] for line in dropped.splitlines()] == [
        f"s3://{bucket}/images/cats-and-dogs/cat/1.png",
        "s3://other/2.png",
    ]
    assert manifest.read_bytes() == original
    run_line = next(line for line in result.out.splitlines() if line.startswith("run "))
    run_id = run_line.split()[1]
    assert run_id == run_id_for(bucket, "incoming/pets.manifest", None)  # moto's bucket is unversioned
    assert f"follow it: gtpipe follow {run_id} --region us-east-1" in result.out


def test_submit_refuses_what_cannot_start_a_run_before_uploading_anything(
    aws_stacks: dict[str, str], tmp_path: Path
) -> None:
    bucket = aws_stacks["DataBucketName"]
    manifest = tmp_path / "pets.txt"
    manifest.write_text('{"source-ref": "s3://b/1.png"}\n')
    result = gtpipe("submit", str(manifest), "--region", "us-east-1")
    assert result.code == Exit.USAGE and "does not end in .manifest or .jsonl" in result.err

    result = gtpipe("submit", str(tmp_path / "missing.manifest"), "--region", "us-east-1")
    assert result.code == Exit.INPUT_MISSING and "missing.manifest not found" in result.err

    images = tmp_path / "imgs"
    images.mkdir()
    (images / "a.png").write_bytes(b"a")
    manifest = tmp_path / "pets.manifest"
    manifest.write_text('{"source-ref": "a.png"}\n{"source-ref": "b.png"}\n')
    result = gtpipe("submit", str(manifest), "--images", str(images), "--region", "us-east-1")
    assert result.code == Exit.INPUT_MISSING
    assert "manifest line 2: source-ref 'b.png' is neither an s3:// URI nor a file in" in result.err
    assert "Contents" not in boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=bucket)


# -- run ids and manifests -------------------------------------------------------------------------------


def test_run_id_is_start_runs_rule_also_when_loaded_from_the_source_tree() -> None:
    from gtpipe_shared.naming import run_id_for as start_run_rule

    assert run_id_for("bucket", "incoming/My Data.manifest", "v1") == start_run_rule(
        "bucket", "incoming/My Data.manifest", "v1"
    )
    assert is_run_id(run_id_for("b", "incoming/x.jsonl", None))
    assert not is_run_id("x-123")


def test_rewrite_keeps_s3_refs_and_other_fields_and_returns_untouched_bytes_when_nothing_changes(
    tmp_path: Path,
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.png").write_bytes(b"a")
    body = (
        b'{"source-ref": "sub/a.png", "category": 3, "category-metadata": {"class-name": "three"}}\r\n'
        b"\n"
        b'{"source-ref": "s3://b/k.png"}\n'
        b"not json\n"
    )
    rewritten, count = rewrite_source_refs(body, tmp_path, lambda p: f"s3://bucket/images/x/{p.name}")
    assert count == 1
    lines = rewritten.split(b"\n")
    first = json.loads(lines[0])
    assert first == {
        "source-ref": "s3://bucket/images/x/a.png",
        "category": 3,
        "category-metadata": {"class-name": "three"},
    }
    assert lines[0].endswith(b"\r")
    assert lines[1:] == [b"", b'{"source-ref": "s3://b/k.png"}', b"not json", b""]

    only_s3 = b'{"source-ref": "s3://b/k.png"}\n'
    assert rewrite_source_refs(only_s3, tmp_path, str) == (only_s3, 0)
    assert rewrite_source_refs(only_s3, None, str) == (only_s3, 0)


def test_rewrite_refuses_local_refs_without_images_and_paths_outside_the_folder(tmp_path: Path) -> None:
    with pytest.raises(CliError, match="pass --images DIR"):
        rewrite_source_refs(b'{"source-ref": "a.png"}\n', None, str)
    (tmp_path / "outside.png").write_bytes(b"x")
    (tmp_path / "imgs").mkdir()
    with pytest.raises(CliError, match="neither an s3:// URI nor a file in"):
        rewrite_source_refs(b'{"source-ref": "../outside.png"}\n', tmp_path / "imgs", str)


def test_manifest_key_under_incoming() -> None:
    assert manifest_key(Path("/x/pets.jsonl"), "incoming/") == "incoming/pets.jsonl"
    assert manifest_key(Path("/x/pets.jsonl"), "incoming/", "other.manifest") == "incoming/other.manifest"
    with pytest.raises(CliError, match="relative name"):
        manifest_key(Path("a.manifest"), "incoming/", "../evil.manifest")


# -- progress --------------------------------------------------------------------------------------------


def test_state_ranks_follow_the_success_path_of_the_real_definition() -> None:
    ranks = state_ranks(ASL)
    order = ["Split", "Train", "CreateModel", "Transform", "Evaluate", "QualityGate"]
    assert [ranks[name] for name in order] == sorted(ranks[name] for name in order)
    assert len({ranks[name] for name in order}) == len(order)
    assert ranks["Label"] < ranks["Split"] and ranks["UseDroppedManifest"] < ranks["Split"]
    assert max(ranks.values()) == ranks["Deployed"]
    assert "RecordFailure" not in ranks and "FailedTraining" not in ranks  # Catch paths
    assert fraction_done(ranks, "ChooseLabeling") == 0.0
    assert fraction_done(ranks, "Deployed") == 1.0
    assert fraction_done(ranks, "RecordFailure") is None


def test_state_ranks_end_on_loops() -> None:
    loop = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Task", "Next": "B"},
            "B": {"Type": "Choice", "Choices": [{"Next": "A"}], "Default": "C"},
            "C": {"Type": "Succeed"},
        },
    }
    ranks = state_ranks(loop)
    assert set(ranks) == {"A", "B", "C"}
    assert state_ranks({"StartAt": "missing", "States": {}}) == {}


def progress(state: str | None, steps: dict[str, Any], fraction: float | None = 0.25) -> RunProgress:
    run = {"run_id": RUN_ID, "created_at": "2026-01-01T10:00:00.000000Z", "status": "RUNNING"}
    return RunProgress(RUN_ID, "RUNNING", "RUNNING", state, steps, 3.0, run, fraction)


def test_follow_display_prints_a_line_per_change_when_not_a_terminal() -> None:
    stream = io.StringIO()
    display = FollowDisplay(stream, tty=False)
    training = {"train": {"status": "InProgress", "secondary_status": "Training"}}
    display.update(progress("Train", training))
    display.update(progress("Train", training))
    display.update(progress("Train", {"train": {"status": "Completed", "secondary_status": "Completed"}}))
    display.done()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("[######..................]  25%")
    assert "RUNNING   Train" in lines[0] and lines[0].endswith("train=InProgress/Training")
    assert lines[1].endswith("train=Completed")


def test_the_line_shows_the_labeling_teams_progress_until_every_object_is_labeled() -> None:
    # Given a run whose builtin labeling job has 3 of 10 objects done
    snapshot = progress("LabelWithTeam", {})
    assert snapshot.run is not None
    snapshot.run["labeling_progress"] = {
        "objects": 10,
        "objects_done": 3,
        "answers_done": 11,
        "answers_needed": 30,
    }
    # Then the line says so
    assert snapshot.line().endswith("labeled=3/10 objects (11/30 answers)")
    # And once every object is labeled it no longer does
    snapshot.run["labeling_progress"].update(objects_done=10, answers_done=30)
    assert "labeled=" not in snapshot.line()


def test_follow_display_rewrites_one_line_on_a_terminal() -> None:
    stream = io.StringIO()
    display = FollowDisplay(stream, tty=True)
    display.update(progress("Split", {}))
    display.update(progress("Train", {}, 0.5))
    display.done()
    text = stream.getvalue()
    assert text.count("\r\033[K") == 2 and text.endswith("\n") and text.count("\n") == 1


def test_durations_and_bars() -> None:
    assert [duration(s) for s in (None, 4.4, 187, 3720)] == ["-", "4s", "3m07s", "1h02m"]
    assert bar(None).endswith("--%") and bar(1.0) == "[" + "#" * 24 + "] 100%"
    table = runs_table([{"run_id": RUN_ID, "status": "RUNNING", "steps": {"train": {"rank": 1}}}])
    assert table.splitlines()[1].endswith("in train")


def test_state_ranks_of_a_loop_stay_bounded_and_leave_out_failure_only_states() -> None:
    # given a definition whose rounds loop (Decide -> Round -> Decide) and whose Choice defaults to an
    # error state that can only fail
    definition = {
        "StartAt": "Start",
        "States": {
            "Start": {"Type": "Pass", "Next": "Decide"},
            "Decide": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.next", "StringEquals": "round", "Next": "Round"},
                    {"Variable": "$.next", "StringEquals": "done", "Next": "Finish"},
                ],
                "Default": "Unknown",
            },
            "Round": {"Type": "Pass", "Next": "Decide"},
            "Unknown": {"Type": "Pass", "Next": "Failed"},
            "Failed": {"Type": "Fail"},
            "Finish": {"Type": "Pass", "Next": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }
    # when the states are ranked
    ranks = state_ranks(definition)
    # then the loop's back edge is left out, what follows the loop comes after it, and the failure-only
    # states are not on the success path
    assert ranks == {"Start": 0, "Decide": 1, "Round": 2, "Finish": 2, "Done": 3}
