"""Report Lambda end to end on moto: generated recorded runs (tests/lambdas/recorded_run/) are put into
S3, the runs ledger and CloudWatch Logs, the handler renders each report once (module scope: matplotlib is
the cost), and the tests check what landed in the bucket."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from gtpipe_shared.aws import reset_clients
from gtpipe_shared.pricing import LabelingPrices
from moto import mock_aws
from PIL import Image
from report import handler
from report.gather import Clients, Settings, gather_run
from report.labels import AUTO_ANNOTATION_NOTE
from report.model import RunData

from tests.lambdas import recorded_run
from tests.lambdas.conftest import DATA_BUCKET, REGION, RUNS_TABLE, FakeContext, _Clients
from tests.lambdas.recorded_run import images_of

assert recorded_run.BUCKET == DATA_BUCKET and recorded_run.RUNS_TABLE == RUNS_TABLE

DIGITS_PER_CLASS = [30, 1, 30, 30, 30, 30, 30, 30, 30, 0]  # a single-image class and an empty one
FIFTY_PER_CLASS = [0 if i % 17 == 5 else 1 if i % 11 == 2 else 2 for i in range(50)]
SCENARIOS: dict[str, dict[str, Any]] = {
    "digits": {"classes": 10, "per_class": DIGITS_PER_CLASS},
    "one_class": {"classes": 1, "per_class": [5]},
    "two_classes_augmented": {"classes": 2, "per_class": [6, 1], "augmented": True, "ledger_costs": False},
    "fifty_classes": {
        "classes": 50,
        "per_class": FIFTY_PER_CLASS,
        "ledger_costs": False,
        "auto_annotation_files": False,
    },
    "hostile_names": {"classes": 3, "per_class": [4, 3, 2], "hostile_names": True},
    "failed_at_split": {"classes": 3, "per_class": [4, 4, 4], "outcome": "failed", "failed_at": "split"},
    "failed_in_training": {
        "classes": 3,
        "per_class": [4, 4, 4],
        "outcome": "failed",
        "failed_at": "training",
    },
    "rejected": {"classes": 3, "per_class": [5, 5, 5], "outcome": "rejected"},
    "detection": {"detection": True},
}
BASE = ["class_histogram.png", "label_confidence.png", "labeling_cost.png"]
EXPECTED_FIGURES = {
    "digits": [
        *BASE,
        "training_curves.png",
        "confusion_matrix.png",
        "validation_grid_01.png",
        "validation_grid_02.png",
        "step_timeline.png",
    ],
    "one_class": [
        *BASE,
        "training_curves.png",
        "confusion_matrix.png",
        "validation_grid_01.png",
        "step_timeline.png",
    ],
    "two_classes_augmented": [
        "class_histogram.png",
        "label_confidence.png",
        "training_curves.png",
        "confusion_matrix.png",
        "validation_grid_01.png",
        "step_timeline.png",
    ],
    "fifty_classes": [
        *BASE,
        "training_curves.png",
        "confusion_matrix.png",
        *[f"validation_grid_{n:02d}.png" for n in range(1, 8)],
        "step_timeline.png",
    ],
    "hostile_names": [
        *BASE,
        "training_curves.png",
        "confusion_matrix.png",
        "validation_grid_01.png",
        "step_timeline.png",
    ],
    "failed_at_split": [*BASE, "step_timeline.png"],
    "failed_in_training": [*BASE, "training_curves.png", "step_timeline.png"],
    "rejected": [
        *BASE,
        "training_curves.png",
        "confusion_matrix.png",
        "validation_grid_01.png",
        "step_timeline.png",
    ],
    "detection": [
        *BASE,
        "training_curves.png",
        "average_precision.png",
        "sample_detections.png",
        "validation_grid_01.png",
        "step_timeline.png",
    ],
}


@dataclass
class Rendered:
    """One scenario's report as it landed in the bucket."""

    run: recorded_run.RecordedRun
    answer: dict[str, Any]
    html: str
    keys: set[str]
    pngs: dict[str, bytes]
    seconds: float


@dataclass
class Env:
    """The module's moto resources, kept alive for the gather-level tests."""

    s3: Any
    dynamodb: Any
    logs: Any
    rendered: dict[str, Rendered]


@pytest.fixture(scope="module")
def env(_clients: _Clients) -> Iterator[Env]:
    with mock_aws(), pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATA_BUCKET", DATA_BUCKET)
        patch.setenv("RUNS_TABLE", RUNS_TABLE)
        patch.delenv("LABELING_PRICES", raising=False)
        s3, dynamodb = _clients.s3, _clients.dynamodb
        logs = boto3.client("logs", region_name=REGION)
        recorded_run.create_resources(s3, dynamodb)
        reset_clients()
        rendered: dict[str, Rendered] = {}
        for name, options in SCENARIOS.items():
            run = recorded_run.build_run(run_id=f"{name.replace('_', '-')}-0123456789abcdef", **options)
            recorded_run.install(run, s3, dynamodb, logs)
            started = time.perf_counter()
            answer = handler.lambda_handler(run.event(), FakeContext())
            seconds = time.perf_counter() - started
            prefix = f"reports/{run.run_id}/"
            keys = {
                item["Key"]
                for item in s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix=prefix).get("Contents", [])
            }
            html = s3.get_object(Bucket=DATA_BUCKET, Key=prefix + "index.html")["Body"].read().decode()
            pngs = {
                key[len(prefix + "figures/") :]: s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read()
                for key in keys
                if key.endswith(".png")
            }
            rendered[name] = Rendered(run, answer, html, keys, pngs, seconds)
        yield Env(s3, dynamodb, logs, rendered)
        reset_clients()


def _gather(env: Env, run: recorded_run.RecordedRun, sagemaker: Any = None) -> RunData:
    clients = Clients(
        s3=env.s3,
        sagemaker=sagemaker or boto3.client("sagemaker", region_name=REGION),
        logs=env.logs,
        runs_table=env.dynamodb.Table(RUNS_TABLE),
    )
    return gather_run(run.run_id, run.outcome, run.state, Settings(DATA_BUCKET, LabelingPrices()), clients)


# -- every scenario -------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_report_has_the_expected_figures_as_sane_pngs(env: Env, scenario: str) -> None:
    # given a recorded run  # when its report was rendered
    rendered = env.rendered[scenario]
    # then the answer lists exactly the expected figures, each one a PNG of sane size that is not blank
    assert rendered.answer["figures"] == EXPECTED_FIGURES[scenario]
    assert rendered.answer["report_uri"] == f"s3://{DATA_BUCKET}/reports/{rendered.run.run_id}/index.html"
    for name in rendered.answer["figures"]:
        image = Image.open(io.BytesIO(rendered.pngs[name]))
        assert image.format == "PNG", name
        image.load()
        width, height = image.size
        assert 300 <= width <= 1600 and 200 <= height <= 1200, (name, image.size)
        low, high = image.convert("L").getextrema()
        assert high - low > 100, f"{name} looks blank"
        assert len(image.convert("RGB").getcolors(maxcolors=100_000) or range(100_000)) > 20, (
            f"{name} looks blank"
        )


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_page_links_exactly_the_written_figures(env: Env, scenario: str) -> None:
    rendered = env.rendered[scenario]
    page = images_of(rendered.html)
    written = {f"figures/{name}" for name in rendered.answer["figures"]}
    prefix = f"reports/{rendered.run.run_id}/"
    assert set(page.sources) == written
    assert len(page.sources) == len(written)
    assert rendered.keys == {prefix + "index.html"} | {prefix + src for src in written}
    assert all(alt and len(alt) > 10 for alt in page.alts)
    # Self-contained: no scripts and nothing fetched from elsewhere.
    assert "<script" not in rendered.html
    assert "http://" not in rendered.html and "https://" not in rendered.html


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_answer_warnings_are_short_strings_and_rendering_had_no_internal_error(
    env: Env, scenario: str
) -> None:
    warnings = env.rendered[scenario].answer["warnings"]
    assert isinstance(warnings, list) and all(isinstance(w, str) and len(w) <= 300 for w in warnings)
    assert not [w for w in warnings if "internal error" in w or "could not be rendered" in w]


# -- particular runs ------------------------------------------------------------------------------


def test_digits_report_headline_and_sections(env: Env) -> None:
    rendered = env.rendered["digits"]
    html = rendered.html
    assert 'class="badge succeeded"' in html
    metrics = rendered.run.state["evaluation"]
    assert f"{metrics['metric_value']:.3f}" in html
    assert "threshold 0.5, passed" in html
    # the one validation image without output is a warning, nothing else is
    assert rendered.answer["warnings"] == ["1 validation images have no usable transform output"]
    # label counts and costs come from the ledger
    counters = rendered.run.ledger_item["label_counters"]
    assert f"{counters['human']} human, {counters['machine']} machine, {counters['failed']} failed" in html
    assert f"${rendered.run.ledger_item['labeling_cost']['actual_usd']:,.2f}" in html
    assert "estimated $27.96, budget $50.00" in html
    assert "Final active-learning model: <code>arn:aws:sagemaker:" in html
    assert "recorded in the runs ledger" in html
    # a Ground Truth run has no team statistics, and the labeling team section says why
    assert (
        '<section id="team"><h2>Labeling team</h2><div class="unavailable">not available: the labels come from '
        in html
    )
    assert "team_agreement.png" not in rendered.pngs


def test_digits_data_comes_from_every_source(env: Env) -> None:
    # given the digits run in S3, the ledger and CloudWatch Logs  # when it is gathered
    run = env.rendered["digits"].run
    data = _gather(env, run)
    # then labels, iterations, curves, evaluation, examples and steps are all there
    assert data.labels is not None and data.labels.source == "labeling job output"
    counters = run.ledger_item["label_counters"]
    human, machine = counters["human"], counters["machine"]
    assert (data.labels.human_objects, data.labels.machine_objects) == (human, machine)
    assert data.labels.per_class[9].total <= 2  # the empty class only gets label noise
    assert data.cost is not None
    assert [row.iteration for row in data.cost.iterations] == [1, 2, 3]
    assert sum(row.human_objects for row in data.cost.iterations) == human
    assert data.cost.iterations[-1].machine_objects == machine  # activelearning/auto-annotation/3/
    assert data.cost.attribution_note == AUTO_ANNOTATION_NOTE
    assert (data.cost.estimated_usd, data.cost.budget_usd) == (27.96, 50.0)
    assert data.cost.actual_human_usd == run.ledger_item["labeling_cost"]["human_usd"]
    assert data.curves is not None and data.curves.source == "log"
    assert [p.epoch for p in data.curves.series["validation:accuracy"]] == list(range(10))
    assert data.evaluation is not None and data.evaluation.source == "metrics.json"
    assert data.evaluation.confusion_matrix is not None and len(data.evaluation.confusion_matrix) == 10
    shown = {e.true_class for e in data.classification_examples}
    assert shown == set(range(9))  # every class with validation images, not the empty one
    assert all(e.image is not None and max(e.image.size) <= 128 for e in data.classification_examples)
    assert [s.name for s in data.steps][:3] == ["label", "split", "train"]


def test_empty_and_single_image_classes_are_shown_not_hidden(env: Env) -> None:
    data = _gather(env, env.rendered["digits"].run)
    single = [e for e in data.classification_examples if e.true_class == 1]
    assert len(single) == 1
    assert (
        "no validation images of this class" not in env.rendered["digits"].html
    )  # that text is inside the PNG
    html = env.rendered["digits"].html
    assert "<td>nine</td>" in html and "<td>one</td>" in html


def test_hostile_class_names_are_escaped_in_the_page(env: Env) -> None:
    html = env.rendered["hostile_names"].html
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "$x^2$ &amp; co" in html


def test_failed_run_shows_step_reason_and_what_is_missing(env: Env) -> None:
    html = env.rendered["failed_at_split"].html
    assert 'class="badge failed"' in html
    assert "The run failed at split." in html
    assert "&lt;b&gt;copy them&lt;/b&gt;" in html
    assert (
        "Training and validation curves</strong>: not available: no training job ran (the run failed at split)"
        in html
    )
    assert "Confusion matrix</strong>: not available: the run failed at split before evaluation" in html
    assert "not available: no validation set: the run failed at split" in html


def test_failed_training_still_plots_the_partial_log(env: Env) -> None:
    data = _gather(env, env.rendered["failed_in_training"].run)
    assert data.curves is not None and len(data.curves.series["validation:accuracy"]) == 2
    assert "The run failed at training." in env.rendered["failed_in_training"].html


def test_rejected_run_headline(env: Env) -> None:
    html = env.rendered["rejected"].html
    assert 'class="badge rejected"' in html
    assert "threshold 0.99, not passed" in html


def test_augmented_manifest_run_has_no_labeling_cost(env: Env) -> None:
    html = env.rendered["two_classes_augmented"].html
    assert (
        "Labeling cost</strong>: not available: no labeling job ran: the dropped manifest already carried labels"
        in html
    )
    assert "dropped augmented manifest" in html
    assert 'Labeling team</h2><div class="unavailable">not available: no labeling job ran' in html


def test_costs_are_computed_when_the_ledger_has_none(env: Env) -> None:
    run = env.rendered["fifty_classes"].run
    data = _gather(env, run)
    assert data.cost is not None
    counters = run.state["labeling"]["counters"]
    expected = round(counters["HumanLabeled"] * 0.116, 2), round(counters["MachineLabeled"] * 0.08, 2)
    assert (data.cost.actual_human_usd, data.cost.actual_machine_usd) == expected
    assert data.cost.actual_note == "computed by the report from the job's label counters"
    assert data.cost.estimate_note is not None and data.cost.estimate_note.startswith(
        "computed by the report"
    )
    # without automated labeling's files, machine labels are placed by their creation date
    assert data.cost.iterations[-1].machine_objects == counters["MachineLabeled"]
    assert data.cost.attribution_note is not None and "creation date" in data.cost.attribution_note


def test_detection_report_has_ap_and_detections(env: Env) -> None:
    run = env.rendered["detection"].run
    data = _gather(env, run)
    assert data.curves is not None and set(data.curves.series) == {
        "validation:mAP",
        "train:cross_entropy",
        "train:smooth_l1",
    }
    assert data.labels is not None and data.labels.unit == "boxes"
    assert data.evaluation is not None and data.evaluation.metric_name == "map_50"
    assert data.detection_rows[3] == []  # the unused class has no images
    assert data.detection_samples and all(data.detection_examples[i].image for i in data.detection_samples)
    assert "<td>licence plate (rear, EU format, any country)</td>" in env.rendered["detection"].html


def test_curves_fall_back_to_final_metrics_without_a_log(env: Env) -> None:
    # given a training job without a log stream whose DescribeTrainingJob has final metrics
    run = env.rendered["rejected"].run
    state = {**run.state, "training": {"job_name": "nolog-0123456789abcdef-train-0"}}
    moved = recorded_run.RecordedRun(run.run_id, run.outcome, state, run.ledger_item, {}, run.class_names)

    class SageMaker:
        def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
            return {"FinalMetricDataList": [{"MetricName": "validation:accuracy", "Value": 0.7}]}

    # when it is gathered
    data = _gather(env, moved, SageMaker())
    # then the curves are the single final values, with the reason
    assert data.curves is not None and data.curves.source == "final"
    assert data.curves.series["validation:accuracy"][0].value == 0.7
    assert data.curves.note is not None and "ResourceNotFoundException" in data.curves.note


def test_downloaded_copy_has_no_broken_images(env: Env, tmp_path: Path) -> None:
    # given the report folder downloaded as a user would (aws s3 cp --recursive)
    run = env.rendered["detection"].run
    recorded_run.download_report(env.s3, run.run_id, tmp_path)
    index = tmp_path / "index.html"
    # then every image of the page resolves to a PNG next to it
    sources = images_of(index.read_text()).sources
    assert sources
    for source in sources:
        with Image.open(index.parent / source) as image:
            image.verify()


def test_rendering_time_is_bounded(env: Env) -> None:
    # The largest report (50 classes, 7 grid pages) renders well within a Lambda timeout.
    assert max(r.seconds for r in env.rendered.values()) < 60


def test_class_names_come_from_the_labels_when_the_state_has_none(env: Env) -> None:
    run = env.rendered["digits"].run
    state = {**run.state, "config": {**run.state["config"], "label_categories": None}, "split": None}
    moved = recorded_run.RecordedRun(run.run_id, run.outcome, state, run.ledger_item, {}, run.class_names)
    data = _gather(env, moved)
    assert data.class_names[:9] == recorded_run.DIGITS[:9]
    assert "the execution state has no class names; names were taken from the labels" in data.warnings
