"""Label-error finding on the local cloud, end to end (slow: real training, batch transform, review, hosting).

Given the stacks synthesized with ``gtpipe:labelErrors`` (2 folds) on the builtin labeling backend with its
review stage, and a simulated reviewer who knows the truth (``CloudSettings.reviewer_error_rate`` 0), when a
pre-labeled manifest of digits with a known tenth of its labels flipped on purpose is dropped, then labeling
is skipped and the real state machine trains, predicts each training object with a fold model that did not
train on it, flags the likely errors, sends them to a review-only job the reviewer decides over the HTTPS
labeling API, retrains on the corrected labels and deploys the retrained model; the ledger and the report
show what was flagged and confirmed.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bench.label_errors_bench import flip_labels
from local.drivers.client import PredictionApi
from local.drivers.demo import demo_context
from local.drivers.runs import RunProgress, execution_history, state_durations
from tests.local_cloud.conftest import follow_dropped, jsonl, running_cloud, upload_digits

# The states from Train to CreateModel with two folds and something flagged: one home, the definition's test.
from tests.pipeline.test_label_errors_pipeline import FLAGGED_PATH
from training.datasets import DigitRecord, augmented_manifest_line

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 600.0
IMAGES = 306  # 300 in the manifest (240 train / 60 validation after Split), 6 held out to predict
HOLDOUT = 0.02
FLIP = 0.1  # 30 of the manifest's labels changed to another class (about 24 land in the training split)
FLIP_SEED = 7
FOLDS = 2  # as FLAGGED_PATH (tests/pipeline/test_label_errors_pipeline.py) has them
MAX_SHARE = 0.2
# Enough training for a fold model (120 digits) to be right on most held-out digits: 8 epochs of 16-image
# batches, the learning rate cut after 6 (the demo's schedule, 6,9, assumes 10 epochs).
HYPERPARAMETERS = {"epochs": "8", "mini_batch_size": "16", "lr_scheduler_step": "6"}
ATTRIBUTE = "category"


def label_errors_context() -> dict[str, Any]:
    """The digits demo on the builtin backend with review and label-error finding; a quality gate the
    retrained model passes on a validation split that keeps its flipped labels."""
    context = demo_context(task="image-classification", labeling="builtin")
    return {
        **context,
        "gtpipe:hyperparameters": {**context["gtpipe:hyperparameters"], **HYPERPARAMETERS},
        "gtpipe:qualityThreshold": 0.5,
        "gtpipe:labeling": {"workersPerObject": 1, "autoLabeling": False, "review": {"enabled": True}},
        "gtpipe:labelErrors": {"enabled": True, "folds": FOLDS, "maxShare": MAX_SHARE},
    }


@dataclass
class Reviewed:
    """The run of the noisy manifest and what it left behind."""

    cloud: Any
    truth: dict[str, int]  # source-ref -> true class
    holdout: list[DigitRecord]
    progress: RunProgress
    states: list[str]
    history: list[dict[str, Any]]
    seconds: float

    @property
    def run(self) -> dict[str, Any]:
        return self.progress.run or {}

    @property
    def run_id(self) -> str:
        return str(self.progress.run_id)

    def read(self, key: str) -> bytes:
        bucket = str(self.cloud.outputs["DataBucketName"])
        return bytes(self.cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())

    def manifest(self, key: str) -> list[bytes]:
        return [line for line in self.read(key).split(b"\n") if line.strip()]

    def label_errors_key(self, name: str) -> str:
        return f"splits/{self.run_id}/label-errors/{name}"


@pytest.fixture(scope="module")
def noisy_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reviewed]:
    """300 digits dropped with their labels, a tenth of them flipped (seeded); the reviewer knows the truth."""
    with running_cloud(
        tmp_path_factory.mktemp("label-errors"),
        label_errors_context(),
        "cdk.out-tests-label-errors",
        simulated_labelers=1,  # the crowd (and so the reviewer) starts with a labeler; nothing to label
        simulated_reviewers=1,
        reviewer_error_rate=0.0,
        # Nothing here waits for a schedule or an alarm (a review-only job completes with its last decision):
        # their loops would only take CPU from the run.
        schedule_seconds_per_minute=0,
        alarm_tick_seconds=0,
    ) as cloud:
        # The reviewer's reference answers are the true labels.
        digits = upload_digits(
            cloud, tmp_path_factory.mktemp("digits"), limit=IMAGES, holdout_fraction=HOLDOUT
        )
        bucket, labeled = digits.bucket, digits.labeled
        noisy, _ = flip_labels(labeled, FLIP, FLIP_SEED)
        body = jsonl([augmented_manifest_line(record, ATTRIBUTE, job_name="noisy") for record in noisy])
        key = "incoming/noisy.manifest"
        started = time.monotonic()
        put = cloud.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
        progress = follow_dropped(cloud, key, put.get("VersionId"), timeout=RUN_TIMEOUT)
        seconds = time.monotonic() - started
        arn = (progress.run or {}).get("execution_arn")
        history = execution_history(cloud.client("stepfunctions"), arn) if arn else []
        states = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
        cloud.wait_idle(30)
        truth = {record.source_ref: record.label for record in labeled}
        yield Reviewed(cloud, truth, digits.holdout, progress, states, history, seconds)


@dataclass(frozen=True)
class Flags:
    """The split's training lines, which of them were flipped, and which the run flagged."""

    lines: list[bytes]
    flipped: set[int]
    flagged: set[int]


def right(result: Reviewed, line: bytes) -> bool:
    """Whether a manifest line carries its image's true label."""
    obj = json.loads(line)
    return bool(obj[ATTRIBUTE] == result.truth[obj["source-ref"]])


def flags_of(result: Reviewed) -> Flags:
    lines = result.manifest(f"splits/{result.run_id}/train.manifest")
    flipped = {index for index, line in enumerate(lines) if not right(result, line)}
    issues = json.loads(result.read(result.label_errors_key("issues.json")))["issues"]
    return Flags(lines, flipped, {int(issue["index"]) for issue in issues})


def test_the_run_goes_through_the_label_error_states_and_serves_the_retrained_model(
    noisy_run: Reviewed,
) -> None:
    # Given the noisy pre-labeled manifest
    result = noisy_run
    # Then the run succeeded without labeling, through every label-error state between Train and CreateModel
    assert result.progress.run_status == "SUCCEEDED", result.run
    assert result.run["manifest_kind"] == "augmented"
    assert "Label" not in result.states and "LabelWithTeam" not in result.states
    train = result.states.index("Train")
    assert result.states[train : train + len(FLAGGED_PATH)] == FLAGGED_PATH, result.states
    assert "DeployEndpoint" in result.states
    # And the retrain read the corrected manifest, and its model is the one deployed
    sagemaker = result.cloud.client("sagemaker")
    retrain = sagemaker.describe_training_job(TrainingJobName=f"{result.run_id}-retrain-0")
    channel = retrain["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    assert channel.endswith(result.label_errors_key("train.manifest"))
    model = sagemaker.describe_model(ModelName=f"{result.run_id}-model-0")
    assert model["PrimaryContainer"]["ModelDataUrl"] == retrain["ModelArtifacts"]["S3ModelArtifacts"]
    # And the deployed model answers
    api = PredictionApi(result.cloud.outputs)
    response = api.predict(result.holdout[0].path.read_bytes(), "image/png")
    assert response.status == 200, response.body
    slowest = sorted(state_durations(result.history), key=lambda item: -item[1])[:8]
    print(f"\nlabel-error run: {result.seconds:.0f}s; slowest states: {slowest}")


def test_most_flipped_training_labels_are_flagged(noisy_run: Reviewed) -> None:
    # Given the run's training split, with the labels flipped on purpose that landed in it
    result = noisy_run
    flags = flags_of(result)
    assert flags.flipped, "the seeded flips put some flipped labels in the training split"
    # Then the fold models flagged most of them, within the configured share
    caught = flags.flagged & flags.flipped
    print(
        f"\nflipped in train: {len(flags.flipped)} of {len(flags.lines)}, flagged {len(flags.flagged)}, "
        f"of them flipped {len(caught)}"
    )
    assert len(flags.flagged) <= MAX_SHARE * len(flags.lines)
    # Measured: 18 of the 23 flipped in the training split flagged (0.78), among 32 flags (seeded flips,
    # split, folds and training). The bound leaves 4 of margin for training that differs by a few objects on
    # another machine (floating point); the benchmark's 93% needs the whole data set (BENCHMARKS.md).
    assert len(caught) >= 0.6 * len(flags.flipped), (len(caught), len(flags.flipped))


def test_the_reviewers_corrections_reach_the_retraining_manifest(noisy_run: Reviewed) -> None:
    # Given the flags and a reviewer who knows the truth
    result = noisy_run
    flags = flags_of(result)
    corrected = result.manifest(result.label_errors_key("train.manifest"))
    assert len(corrected) == len(flags.lines)
    for index, (given, fixed) in enumerate(zip(flags.lines, corrected, strict=True)):
        if index not in flags.flagged:
            # Then a line nobody flagged is kept byte for byte
            assert fixed == given, index
            continue
        # And every flagged line now carries the true label (a flipped one fixed, a right one kept)
        line = json.loads(fixed)
        assert line["source-ref"] == json.loads(given)["source-ref"]
        assert line[ATTRIBUTE] == result.truth[line["source-ref"]], index
    # And only the flipped labels that were not flagged are still wrong
    wrong = {i for i, line in enumerate(corrected) if not right(result, line)}
    assert wrong == flags.flipped - flags.flagged
    # And the label set's dataset keeps them: its current version is the corrected manifest, the split's
    # version before it (a later cumulative run trains on the reviewed labels)
    version = result.run["dataset"]["version"]
    dataset_key = version["train_uri"].split("/", 3)[3]
    assert result.manifest(dataset_key) == corrected
    bucket = str(result.cloud.outputs["DataBucketName"])
    older = result.cloud.client("s3").get_object(
        Bucket=bucket, Key=dataset_key, VersionId=version["train_version_id"]
    )
    assert [line for line in older["Body"].read().split(b"\n") if line.strip()] == flags.lines
    # And the reviewer decided every flagged object through the labeling API
    crowd = result.cloud.crowd
    assert crowd is not None
    [reviewer] = [worker for worker in crowd.labelers if worker.name.startswith("reviewer-")]
    assert reviewer.decisions == len(flags.flagged)


def test_the_ledger_and_the_report_show_what_was_flagged_and_confirmed(noisy_run: Reviewed) -> None:
    # Given the run and its flags
    result = noisy_run
    flags = flags_of(result)
    confirmed = len(flags.flagged & flags.flipped)
    # Then the ledger's label-errors entry counts them: the reviewer fixed each flipped one and kept the rest
    step = result.run["steps"]["labelerrors"]
    assert step["status"] == "Completed"
    assert step["flags"]["flagged"] == len(flags.flagged)
    assert step["flags"]["objects"] == step["flags"]["assessed"] == len(flags.lines)
    summary = step["summary"]
    assert (summary["flagged"], summary["confirmed"], summary["kept"], summary["unreviewed"]) == (
        len(flags.flagged),
        confirmed,
        len(flags.flagged) - confirmed,
        0,
    )
    # And the validation accuracy of Train's model and of the retrain, as their jobs reported it (the
    # validation split keeps its flipped labels, so no bound on the change: a few images move it)
    accuracy = step["accuracy"]
    before, after = float(accuracy["before"]), float(accuracy["after"])
    assert accuracy["metric"] == "validation:accuracy" and 0.0 < before <= 1.0 and 0.0 < after <= 1.0
    assert float(accuracy["change"]) == pytest.approx(after - before, abs=1e-4)
    print(f"\nvalidation accuracy before {before:.4f}, after {after:.4f}")
    # And the report's training section shows the label-error finding with those counts
    page = result.read(f"reports/{result.run_id}/index.html").decode()
    assert "<h3>Label-error finding</h3>" in page
    section = page.split("<h3>Label-error finding</h3>", 1)[1]
    for count in (len(flags.flagged), confirmed):
        assert f"<td class=n>{count}</td>" in section, count
    assert "The served model was trained again on the reviewed labels (Retrain)." in section
    assert (
        html.escape(f"before the fix (Train's model) {before:.4f}, after it (Retrain's) {after:.4f}")
        in section
    )
