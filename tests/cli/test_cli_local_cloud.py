"""``gtpipe --local`` against a running local cloud (slow: one tiny real run).

The cloud is the end-to-end tests' (``tests/local_cloud/conftest.py``'s ``running_cloud``) with a
laptop-sized configuration (``tests/cli/cloud.py``): 60 digits, one epoch, a quality gate every model
passes. The CLI reads the outputs file the cloud writes, exactly as after ``make local-up``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gtpipe_cli.errors import Exit
from gtpipe_cli.naming import run_id_for
from tests.cli.cloud import CAPTURE_THRESHOLD, cli_cloud
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


def test_predict_answers_an_inference_id_and_a_captured_low_confidence_request_takes_feedback(
    env: Env, submitted: Submitted
) -> None:
    from gtpipe_shared.capture import new_inference_id, valid_inference_id

    from local.drivers.client import PredictionApi
    from training.datasets import CLASS_NAMES

    api = PredictionApi(env.cloud.outputs)
    image = env.holdout[0].path.read_bytes()
    opted_out = api.request(image, "image/png", extra_headers={"X-Gtpipe-Capture": "off"})
    assert opted_out.status == 200 and opted_out.json()["captured"] is False
    response = api.predict(image)
    body = response.json()
    assert response.status == 200 and valid_inference_id(body["inference_id"])
    assert body["confidence"] < CAPTURE_THRESHOLD and body["captured"] is True
    inference_id = body["inference_id"]
    listed = env.cloud.client("s3").list_objects_v2(Bucket=env.bucket, Prefix="captured/")
    keys = {item["Key"] for item in listed.get("Contents", [])}
    assert f"captured/ids/{inference_id}.json" in keys
    assert f"captured/ids/{opted_out.json()['inference_id']}.json" not in keys
    record_key = next(k for k in keys if k.endswith(f"/{inference_id}.json") and "/ids/" not in k)
    record = json.loads(env.cloud.client("s3").get_object(Bucket=env.bucket, Key=record_key)["Body"].read())
    assert record["reason"] == "low-confidence" and record["model"]["run_id"] == submitted.run_id

    feedback = PredictionApi(env.cloud.outputs)

    def send(payload: dict[str, Any], *, sign: bool = True) -> Any:
        return feedback.post("/feedback", json.dumps(payload).encode(), "application/json", sign=sign)

    label = next(name for name in CLASS_NAMES if name != body["label"])
    accepted = send({"inference_id": inference_id, "label": label})
    assert accepted.status == 201, accepted.body
    assert accepted.json() == {"inference_id": inference_id, "label": label, "status": "recorded"}
    unknown_label = send({"inference_id": inference_id, "label": "not-a-class"})
    assert unknown_label.status == 400 and unknown_label.json()["code"] == "UnknownLabel"
    not_captured = send({"inference_id": new_inference_id(), "label": label})
    assert not_captured.status == 404 and not_captured.json()["code"] == "NotCaptured"
    assert send({"inference_id": inference_id, "label": label}, sign=False).status == 403


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


# -- label formats (issue 17 item 6) on the real pipeline --------------------------------------------------
# These come last: the imported dataset's run deploys a second model, and the tests above expect the first.


def test_export_of_the_run_writes_coco_that_pycocotools_reads_with_the_runs_labels(
    env: Env, submitted: Submitted, tmp_path: Path
) -> None:
    from pycocotools.coco import COCO

    from training.datasets import CLASS_NAMES

    out = tmp_path / "coco"
    result = env.cli("export", submitted.run_id, "--format", "coco", "--out", str(out))
    assert result.code == 0, result.err
    dropped = env.cloud.client("s3").get_object(Bucket=env.bucket, Key="incoming/cli digits.manifest")
    lines = dropped["Body"].read().decode().splitlines()
    assert len(lines) == len(env.labeled)
    assert f"exported {len(lines)} labeled images as coco to {out}" in result.out
    coco = COCO(str(out / "annotations" / "instances.json"))
    assert len(coco.getImgIds()) == len(coco.getAnnIds()) == len(lines)
    categories = coco.loadCats(coco.getCatIds())
    assert [c["name"] for c in sorted(categories, key=lambda c: c["id"])] == list(CLASS_NAMES)
    digit = {record.path.name: record.class_name for record in env.labeled}
    for image in coco.loadImgs(coco.getImgIds()):
        (annotation,) = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
        assert coco.cats[annotation["category_id"]]["name"] == digit[image["file_name"]], image
        assert (image["width"], image["height"]) == (32, 32)  # read from the images in the bucket


@dataclass
class Imported:
    dataset: Path
    submit: CliResult
    follow: CliResult
    run_id: str


@pytest.fixture(scope="module")
def imported(env: Env, submitted: Submitted, tmp_path_factory: pytest.TempPathFactory) -> Imported:
    """A COCO classification dataset of the labeled digits (``annotations/instances.json`` beside
    ``images/``) whose category ids run in the reverse of the pipeline's class order, submitted with
    ``--format coco --classes <the cloud's classes>`` and followed to its end (after ``submitted``'s run).

    Neither pycocotools nor globox writes COCO without boxes (both are detection tools), so the file is
    dumped here and checked by pycocotools' own loader before it is submitted."""
    from pycocotools.coco import COCO

    from tests.cli.cloud import tiny_context

    classes = list(tiny_context()["gtpipe:labelCategories"])
    folder = tmp_path_factory.mktemp("cli-coco") / "digits-coco"
    (folder / "images").mkdir(parents=True)
    (folder / "annotations").mkdir()
    category_id = {name: len(classes) - i for i, name in enumerate(classes)}  # "nine" is 1
    images, annotations = [], []
    for number, record in enumerate(env.labeled, start=1):
        shutil.copyfile(record.path, folder / "images" / record.path.name)
        images.append({"id": number, "file_name": record.path.name, "width": 32, "height": 32})
        annotations.append({"id": number, "image_id": number, "category_id": category_id[record.class_name]})
    coco_file = folder / "annotations" / "instances.json"
    coco_file.write_text(
        json.dumps(
            {
                "images": images,
                "annotations": annotations,
                "categories": [
                    {"id": i, "name": n, "supercategory": "digit"} for n, i in category_id.items()
                ],
            }
        )
    )
    reference = COCO(str(coco_file))
    assert len(reference.getImgIds()) == len(reference.getAnnIds()) == len(env.labeled)
    submit = env.cli("submit", str(folder), "--format", "coco", "--classes", ",".join(classes), "--quiet")
    assert submit.code == 0, submit.err
    run_id = submit.out.strip()
    follow = env.cli("follow", run_id, "--interval", "0.5", "--timeout", RUN_TIMEOUT)
    env.cloud.wait_idle(30)
    return Imported(folder, submit, follow, run_id)


def test_a_submitted_coco_dataset_runs_to_success_without_labeling(env: Env, imported: Imported) -> None:
    from gtpipe_cli.progress import execution_history, get_run

    assert imported.follow.code == 0, imported.follow.out + imported.follow.err
    assert f"run {imported.run_id} SUCCEEDED after " in imported.follow.out
    run = get_run(env.cloud.client("dynamodb"), env.cloud.outputs["RunsTableName"], imported.run_id)
    assert run is not None and run["status"] == "SUCCEEDED"
    assert run["manifest_kind"] == "augmented"
    assert "label" not in run["steps"] and run["steps"]["train"]["status"] == "Completed"
    history = execution_history(env.cloud.client("stepfunctions"), run["execution_arn"])
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert "UseDroppedManifest" in entered and "Label" not in entered
    assert "Train" in entered


def test_the_manifest_dropped_for_a_coco_dataset_carries_its_labels_in_the_pipelines_class_ids(
    env: Env, imported: Imported
) -> None:
    s3 = env.cloud.client("s3")
    key = "incoming/digits-coco.manifest"
    versions = [
        v for v in s3.list_object_versions(Bucket=env.bucket, Prefix=key)["Versions"] if v["Key"] == key
    ]
    assert len(versions) == 1
    assert imported.run_id == run_id_for(env.bucket, key, versions[0]["VersionId"])
    lines = [
        json.loads(line) for line in s3.get_object(Bucket=env.bucket, Key=key)["Body"].read().splitlines()
    ]
    assert [line["source-ref"] for line in lines] == [
        f"s3://{env.bucket}/images/digits-coco/{record.path.name}" for record in env.labeled
    ]
    assert [line["category"] for line in lines] == [record.label for record in env.labeled]
    assert [line["category-metadata"]["class-name"] for line in lines] == [
        record.class_name for record in env.labeled
    ]
    assert {line["category-metadata"]["type"] for line in lines} == {"groundtruth/image-classification"}
    uploaded = s3.list_objects_v2(Bucket=env.bucket, Prefix="images/digits-coco/")["KeyCount"]
    assert uploaded == len(env.labeled)


def test_a_coco_dataset_submitted_in_its_own_class_order_fails_validation_naming_the_mismatch(
    env: Env, imported: Imported
) -> None:
    # Without --classes the ids follow the COCO category ids ("nine" is 0): start_run refuses the labels
    # rather than training on the wrong classes.
    submit = env.cli(
        "submit",
        str(imported.dataset),
        "--format",
        "coco",
        "--key",
        "digits-coco-own-order.manifest",
        "--images-name",
        "digits-coco-own-order",
        "--quiet",
    )
    assert submit.code == 0, submit.err
    run_id = submit.out.strip()
    follow = env.cli("follow", run_id, "--interval", "0.5", "--timeout", "60")
    assert follow.code == Exit.RUN_FAILED, follow.out + follow.err
    assert f"run {run_id} FAILED" in follow.out
    assert "does not match label category" in follow.out, follow.out
