"""Report Lambda: the plain functions (log parsing, label aggregation, costs, example choice, page
escaping, event validation) without AWS."""

from __future__ import annotations

import json
import struct
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from gtpipe_shared.pricing import LabelingPrices
from PIL import Image
from report import curves, figure_kit, figures, labels, page, timeline
from report.examples import Prediction, choose_classification, class_errors, match_boxes, thumbnail
from report.handler import ReportError, parse_request, report_key, settings_from_env
from report.model import EVALUATION, ClassLabels, Evaluation, RunData
from report.team import parse_team

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

CLASSIFICATION_LOG = """\
[11/20/2026 10:42:00 INFO] Final configuration: {'epochs': '3'}
[11/20/2026 10:43:00 INFO] Epoch[0] Train-accuracy=0.500000
[11/20/2026 10:43:00 INFO] Epoch[0] Train-loss=1.900000
[11/20/2026 10:43:00 INFO] Epoch[0] Time cost=1.234
[11/20/2026 10:43:00 INFO] Epoch[0] Validation-accuracy=0.400000
[11/20/2026 10:44:00 INFO] Epoch[1] Train-accuracy=0.700000
[11/20/2026 10:44:00 INFO] Epoch[1] Train-loss=nan
[11/20/2026 10:44:00 INFO] Epoch[1] Validation-accuracy=0.650000
[11/20/2026 10:45:00 INFO] Epoch[2] Train-accuracy=0.900000
[11/20/2026 10:45:00 INFO] Epoch[2] Train-top_k_accuracy_5=0.990000
[11/20/2026 10:45:00 INFO] Epoch[2] Validation-accuracy=0.800000
"""

DETECTION_LOG = """\
[11/20/2026 10:43:00 INFO 1] #quality_metric: host=algo-1, epoch=0, batch=10 train cross_entropy <loss>=(2.0)
[11/20/2026 10:43:00 INFO 1] #quality_metric: host=algo-1, epoch=0, batch=20 train cross_entropy <loss>=(1.0)
[11/20/2026 10:43:00 INFO 1] #quality_metric: host=algo-1, epoch=0, batch=20 train smooth_l1 <loss>=(0.5)
[11/20/2026 10:43:30 INFO 1] #quality_metric: host=algo-1, epoch=0, validation mAP <score>=(0.125)
[11/20/2026 10:44:00 INFO 1] #quality_metric: host=algo-1, epoch=1, batch=10 train cross_entropy <loss>=(0.8)
[11/20/2026 10:44:30 INFO 1] #quality_metric: host=algo-1, epoch=1, validation mAP <score>=(0.25)
"""


# -- curves ---------------------------------------------------------------------------------------


def _parse(text: str, task_type: str) -> dict[str, list[curves.MetricPoint]]:
    compiled, problems = curves.compile_definitions(curves.default_definitions(task_type))
    assert problems == []
    return curves.parse_metric_log(text.splitlines(), compiled)


def test_classification_log_gives_one_value_per_epoch_and_skips_nan() -> None:
    # given the image-classification algorithm's log  # when it is parsed with its metric definitions
    series = _parse(CLASSIFICATION_LOG, "image-classification")
    # then every metric has its values in epoch order; the diverged loss is skipped
    assert [(p.epoch, p.value) for p in series["validation:accuracy"]] == [(0, 0.4), (1, 0.65), (2, 0.8)]
    assert [p.value for p in series["train:accuracy"]] == [0.5, 0.7, 0.9]
    assert [p.value for p in series["train:loss"]] == [1.9]
    assert [p.value for p in series["train:top_k_accuracy"]] == [0.99]
    assert "validation:loss" not in series


def test_detection_log_values_are_averaged_per_epoch() -> None:
    # given the object-detection algorithm's log with two loss values in epoch 0
    series = _parse(DETECTION_LOG, "object-detection")
    # when a series is prepared for plotting
    xs, ys, averaged = curves.per_epoch(series["train:cross_entropy"])
    # then the per-batch values are averaged per epoch; mAP keeps one value per epoch
    assert (xs, ys, averaged) == ([0.0, 1.0], [1.5, 0.8], True)
    assert curves.per_epoch(series["validation:mAP"]) == ([0.0, 1.0], [0.125, 0.25], False)
    assert [p.value for p in series["train:smooth_l1"]] == [0.5]


def test_detection_definitions_read_the_builtin_and_the_local_detector_lines() -> None:
    # given the same metric in the built-in's forms and the local detector's form
    lines = [
        "#quality_metric: host=algo-1, epoch=0, batch=10 train cross_entropy <loss>=(1.5)",
        "#quality_metric: host=algo-1, epoch=1, batch=10, train cross_entropy <loss>=(1.25)",
        "[INFO] #quality_metric: host=algo-1, epoch=2, train cross_entropy <loss>=(1.000000)",
    ]
    # when parsed  # then all three are found, with their epochs
    series = _parse("\n".join(lines), "object-detection")
    assert [(p.epoch, p.value) for p in series["train:cross_entropy"]] == [(0, 1.5), (1, 1.25), (2, 1.0)]
    from gtpipe_shared.metric_definitions import DETECTION_METRIC_DEFINITIONS

    assert [d["Name"] for d in curves.default_definitions("object-detection")] == [
        d["Name"] for d in DETECTION_METRIC_DEFINITIONS
    ]


def test_values_without_an_epoch_are_plotted_by_log_position() -> None:
    # given a custom definition whose lines name no epoch
    compiled, _ = curves.compile_definitions([{"Name": "train:loss", "Regex": r"loss: ([0-9.]+)"}])
    series = curves.parse_metric_log(["loss: 3", "loss: 2\nloss: 1"], compiled)
    # then x is the position in the log (a multi-line event counts each line)
    assert curves.per_epoch(series["train:loss"]) == ([1.0, 2.0, 3.0], [3.0, 2.0, 1.0], False)


def test_classification_definitions_match_the_training_contract() -> None:
    # The report falls back to the one shared table (gtpipe_shared.metric_definitions).
    from gtpipe_shared.metric_definitions import CLASSIFICATION_METRIC_DEFINITIONS as METRIC_DEFINITIONS

    assert curves.default_definitions("image-classification") == METRIC_DEFINITIONS


def test_unusable_definitions_are_reported_not_raised() -> None:
    compiled, problems = curves.compile_definitions(
        [{"Name": "bad", "Regex": "(unclosed"}, {"Name": "nogroup", "Regex": "loss"}, {"Regex": "x"}]
    )
    assert compiled == []
    assert len(problems) == 3
    assert "does not compile" in problems[0]
    assert "no capture group" in problems[1]


def test_final_metrics_become_single_points() -> None:
    final = curves.final_metric_series(
        [
            {"MetricName": "validation:accuracy", "Value": 0.9},
            {"MetricName": "train:loss", "Value": float("nan")},
        ]
    )
    assert list(final) == ["validation:accuracy"]
    assert final["validation:accuracy"][0].value == 0.9


# -- labels and cost ------------------------------------------------------------------------------


def _line(label: object, human: bool, confidence: float | None, created: datetime | None = None) -> bytes:
    metadata: dict[str, object] = {"human-annotated": "yes" if human else "no", "class-name": f"c{label}"}
    if confidence is not None:
        metadata["confidence"] = confidence
    if created is not None:
        metadata["creation-date"] = created.replace(tzinfo=None).isoformat()
    return json.dumps(
        {"source-ref": "s3://b/x.png", "category": label, "category-metadata": metadata}
    ).encode()


ITERATIONS = [
    labels.IterationRecord(1, 2, T0 + timedelta(minutes=5)),
    labels.IterationRecord(2, 3, T0 + timedelta(minutes=20)),
    labels.IterationRecord(3, 1, T0 + timedelta(minutes=40)),
]


def test_label_summary_counts_human_and_machine_labels_per_class() -> None:
    # given human and machine labels, a failed object, a class outside the list and a blank line
    lines = [
        _line(0, True, 0.9),
        _line(0, True, 0.7),
        _line(1, False, 0.6, T0 + timedelta(minutes=25)),
        _line(1, False, None, T0 + timedelta(minutes=50)),
        json.dumps(
            {"source-ref": "s3://b/y.png", "category-metadata": {"failure-reason": "timeout"}}
        ).encode(),
        _line(7, True, 0.9),
        b"   ",
        None,
    ]
    # when they are summarized with the job's iterations
    summary, names = labels.summarize_labels(
        lines,
        manifest_uri="s3://b/out.manifest",
        source="labeling job output",
        task_type="image-classification",
        num_classes=3,
        label_attribute="category",
        iterations=ITERATIONS,
    )
    # then counts, confidences and failures are per class; machine labels land in iterations by time
    assert [(c.human, c.machine) for c in summary.per_class] == [(2, 0), (0, 2), (0, 0)]
    assert summary.per_class[0].mean_confidence(True) == pytest.approx(0.8)
    assert summary.per_class[1].mean_confidence(False) == pytest.approx(0.6)
    assert summary.per_class[2].mean_confidence(True) is None
    assert (summary.human_objects, summary.machine_objects) == (3, 2)
    assert summary.failed_objects == 2  # the failure-reason line and the over-long (None) line
    assert summary.unknown_class_labels == 1
    assert summary.machine_by_iteration == {3: 2}
    assert summary.machine_iteration_note is not None and "creation date" in summary.machine_iteration_note
    assert names == {0: "c0", 1: "c1", 7: "c7"}


def test_machine_labels_without_times_go_to_the_last_iteration_with_a_note() -> None:
    summary, _ = labels.summarize_labels(
        [_line(0, False, 0.5)],
        manifest_uri="u",
        source="labeling job output",
        task_type="image-classification",
        num_classes=1,
        label_attribute=None,  # discovered from the line
        iterations=ITERATIONS,
    )
    assert summary.machine_by_iteration == {3: 1}
    assert (
        summary.machine_iteration_note
        == "machine labels shown in iteration 3: their iteration is not recorded"
    )


def test_detection_labels_are_counted_per_box_and_billed_per_object() -> None:
    line = json.dumps(
        {
            "source-ref": "s3://b/d.png",
            "box": {
                "image_size": [{"width": 10, "height": 10}],
                "annotations": [{"class_id": 1}, {"class_id": 1}],
            },
            "box-metadata": {"objects": [{"confidence": 0.5}, {"confidence": 0.7}], "human-annotated": "yes"},
        }
    ).encode()
    summary, _ = labels.summarize_labels(
        [line],
        manifest_uri="u",
        source="s",
        task_type="object-detection",
        num_classes=2,
        label_attribute="box",
    )
    assert summary.unit == "boxes"
    assert summary.per_class[1].human == 2
    assert summary.per_class[1].mean_confidence(True) == pytest.approx(0.6)
    assert summary.human_objects == 1


def test_consolidation_files_give_iterations() -> None:
    root = "labeling/job/annotations/consolidated-annotation/consolidation-response/"
    body = json.dumps([{"datasetObjectId": "1"}, {"datasetObjectId": "2"}, {"datasetObjectId": "2"}]).encode()
    assert labels.count_consolidated(body) == 2
    records = labels.iterations_from_files(
        [
            (root + "iteration-2/2026-11-20_10:20:00.json", 3),
            (root + "iteration-1/2026-11-20_10:05:00.json", 2),
            (root + "iteration-1/2026-11-20_10:07:00.json", 1),
            (root + "not-an-iteration.json", 9),
        ]
    )
    assert [(r.iteration, r.human_objects, r.ended_at) for r in records] == [
        (1, 3, T0 + timedelta(minutes=7)),
        (2, 3, T0 + timedelta(minutes=20)),
    ]
    with pytest.raises(ValueError, match="not a JSON list"):
        labels.count_consolidated(b"{}")


def test_automated_labeling_files_give_machine_labels_per_iteration() -> None:
    body = b'4 {"category": 1}\n9 {"category": 0}\n4 {"category": 1}\n\n'
    assert labels.count_auto_annotations(body) == 2
    root = "labeling/job/activelearning/auto-annotation/"
    rounds = labels.machine_rounds(
        [(root + "2/output/auto_annotator_output.txt", 2), (root + "4/output/auto_annotator_output.txt", 5)]
    )
    assert rounds == {2: 2, 4: 5}


def test_job_root_of_an_output_manifest() -> None:
    assert labels.job_root("s3://b/labeling/j/manifests/output/output.manifest") == "s3://b/labeling/j/"


def test_cost_per_iteration_uses_the_prices() -> None:
    # given 3 iterations of human objects and 2 machine labels in iteration 3, seed prices, 3 workers
    summary = labels.LabelSummary(
        "u", "labeling job output", "images", [ClassLabels()], machine_by_iteration={3: 2}
    )
    cost = labels.cost_summary(
        iterations=ITERATIONS,
        labels=summary,
        prices=LabelingPrices(),
        task_type="image-classification",
        workers_per_object=3,
        estimated_usd=1.0,
        estimate_note="given",
        actual_human_usd=None,
        actual_machine_usd=None,
        actual_note=None,
    )
    # then a human object costs 0.08 + 3 x 0.012 and a machine label 0.08
    assert cost.human_object_usd == pytest.approx(0.116)
    assert [(r.iteration, r.human_usd, r.machine_usd) for r in cost.iterations] == [
        (1, 0.23, 0.0),
        (2, 0.35, 0.0),
        (3, 0.12, 0.16),
    ]
    assert (cost.actual_human_usd, cost.actual_machine_usd, cost.actual_total_usd) == (0.7, 0.16, 0.86)
    assert cost.actual_note == "computed by the report from the labeling output"


def test_cost_without_iteration_files_is_one_iteration_from_the_manifest() -> None:
    summary = labels.LabelSummary("u", "s", "images", [ClassLabels()], human_objects=10, machine_objects=5)
    cost = labels.cost_summary(
        iterations=[],
        labels=summary,
        prices=LabelingPrices(per_object_usd=0.1, per_machine_label_usd=0.05),
        task_type="image-classification",
        workers_per_object=1,
        estimated_usd=None,
        estimate_note=None,
        actual_human_usd=2.0,
        actual_machine_usd=0.5,
        actual_note="ledger",
    )
    assert [(r.iteration, r.human_objects, r.machine_objects) for r in cost.iterations] == [(1, 10, 5)]
    assert cost.attribution_note is not None and "one iteration" in cost.attribution_note
    assert cost.actual_total_usd == 2.5  # the ledger's actual cost wins over the computed one


def test_parse_time_accepts_ground_truth_and_ledger_forms() -> None:
    assert labels.parse_time("2026-11-20T10:00:00.000000") == T0
    assert labels.parse_time("2026-11-20T10:00:00.000000Z") == T0
    assert labels.parse_time("2026-11-20T11:00:00+01:00") == T0
    assert labels.parse_time("yesterday") is None
    assert labels.parse_time(None) is None


# -- examples -------------------------------------------------------------------------------------


def test_examples_show_wrong_predictions_first_but_keep_correct_ones() -> None:
    predictions = [Prediction(f"r{i}", 0, 1, 0.9) for i in range(6)] + [
        Prediction(f"c{i}", 0, 0, 0.9) for i in range(6)
    ]
    chosen = choose_classification(predictions, num_classes=2, per_class=4)
    assert [p.source_ref for p in chosen] == ["r0", "r1", "c0", "c1"]
    only_wrong = choose_classification(predictions[:6], num_classes=1, per_class=4)
    assert len(only_wrong) == 4


def test_box_matching_marks_misses_and_false_positives() -> None:
    truth = [(0, (0.1, 0.1, 0.3, 0.3)), (1, (0.5, 0.5, 0.9, 0.9))]
    detections = [
        (0, 0.9, (0.1, 0.1, 0.31, 0.3)),  # hit
        (1, 0.8, (0.0, 0.6, 0.2, 0.8)),  # wrong place: false positive; the class-1 box is missed
        (1, 0.1, (0.5, 0.5, 0.9, 0.9)),  # below the display threshold: ignored
    ]
    match = match_boxes(truth, detections)
    assert match.matched_truth == {0}
    assert match.matched_detections == {0}
    assert match.drawn_detections == {0, 1}
    assert class_errors(truth, detections, 1) == (1, 1)
    assert class_errors(truth, detections, 0) == (0, 0)
    assert class_errors(truth, None, 0) == (1, 0)


# -- images ---------------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(width: int, height: int) -> bytes:
    """A few hundred bytes of PNG that declare ``width`` x ``height`` pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b""))
        + _chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [10_000, 20_000])
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_thumbnail_refuses_images_that_declare_too_many_pixels(side: int) -> None:
    with pytest.raises(ValueError, match="pixels"):
        thumbnail(_png_header(side, side), 64)


def test_thumbnail_shrinks_to_fit() -> None:
    import io

    buffer = io.BytesIO()
    Image.new("L", (300, 150), 128).save(buffer, format="PNG")
    image = thumbnail(buffer.getvalue(), 64)
    assert image.size == (64, 32)
    assert image.mode == "RGB"


# -- page and figures -----------------------------------------------------------------------------


def test_short_names_fit_one_line() -> None:
    assert figure_kit.short("a\nb\tc") == "a b c"
    assert figure_kit.short("x" * 40, 10) == "x" * 9 + "…"
    assert figure_kit.short("  ") == "(blank)"


def test_step_colors_and_durations() -> None:
    assert timeline.step_color("Failed") == figure_kit.RED
    assert timeline.step_color("Completed") == figure_kit.GREEN
    assert timeline.step_color("InProgress") == figure_kit.ORANGE
    assert timeline.format_duration(3725) == "1 h 02 min"
    assert timeline.format_duration(64) == "1 min 04 s"
    assert timeline.format_duration(None) == "-"


def test_a_run_without_any_data_renders_only_placeholders() -> None:
    # given a run that has nothing (no ledger, no labels, nothing after the input)
    data = RunData(run_id="empty-run", outcome="failed", task_type="image-classification", class_names=[])
    data.missing(EVALUATION, "the run failed at labeling before evaluation")
    # when the figures and the page are rendered
    rendered = figures.render_figures(data)
    html = page.render_page(data, rendered, T0)
    # then no PNG is produced, each figure says why, and the page has no image
    assert all(f.png is None and f.unavailable for f in rendered)
    assert "<img" not in html
    assert "not available: the run failed at labeling before evaluation" in html
    assert html.count('class="unavailable"') >= len(rendered)


def test_a_figure_that_fails_to_render_becomes_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    data = RunData(run_id="r", outcome="succeeded", task_type="image-classification", class_names=["a"])
    data.evaluation = Evaluation("accuracy", 1.0, 0.5, True, 1, 0, {}, ["a"], [[1]])

    def broken(_: RunData) -> bytes:
        raise RuntimeError("boom")

    monkeypatch.setattr(figures, "confusion_matrix", broken)
    rendered = {f.name: f for f in figures.render_figures(data)}
    assert rendered["confusion_matrix.png"].png is None
    assert rendered["confusion_matrix.png"].unavailable == "rendering failed (RuntimeError: boom)"
    assert any("confusion_matrix.png" in w for w in data.warnings)


def test_page_escapes_every_data_string() -> None:
    # given hostile class names, run failure text and warnings
    hostile = '<img src=x onerror="alert(1)">'
    data = RunData(run_id="r-1", outcome="failed", task_type="image-classification", class_names=[hostile])
    data.failure = {"step": "<b>split</b>", "cause": "</div><script>x()</script>"}
    data.warn(f"warning {hostile}")
    shown = figures.RenderedFigure("f.png", "labels", "T", f"alt {hostile}", "c", png=b"x")
    # when the page is rendered
    html = page.render_page(data, [shown], T0)
    # then nothing from the data becomes markup
    assert "<script>" not in html and "<b>split" not in html and 'onerror="alert' not in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in html
    assert 'alt="alt &lt;img src=x onerror=&quot;alert(1)&quot;&gt;"' in html
    assert '<img src="figures/f.png"' in html


# -- handler contract -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("not a dict", "report event must be a JSON object"),
        ({"run_id": "r", "outcome": "done", "state": {}}, "invalid report event: outcome"),
        ({"run_id": "../etc", "outcome": "failed", "state": {}}, "invalid report event: run_id"),
        ({"run_id": "r/x", "outcome": "failed", "state": {}}, "invalid report event: run_id"),
        ({"run_id": "r", "outcome": "failed"}, "invalid report event: state"),
        ({"run_id": "r", "outcome": "failed", "state": []}, "invalid report event: state"),
    ],
)
def test_invalid_events_raise_a_clear_error(event: object, message: str) -> None:
    with pytest.raises(ReportError, match=message.replace("(", r"\(")):
        parse_request(event)


def test_valid_event_and_key() -> None:
    request = parse_request({"run_id": "demo-0123456789abcdef", "outcome": "rejected", "state": {"x": 1}})
    assert report_key(request.run_id) == "reports/demo-0123456789abcdef/index.html"


def test_settings_need_a_bucket_and_valid_prices() -> None:
    with pytest.raises(ReportError, match="DATA_BUCKET"):
        settings_from_env({})
    with pytest.raises(ReportError, match="LABELING_PRICES"):
        settings_from_env({"DATA_BUCKET": "b", "LABELING_PRICES": '{"perObjectUsd": -1}'})
    with pytest.raises(ReportError, match="LABELING_PRICES"):
        settings_from_env({"DATA_BUCKET": "b", "LABELING_PRICES": "not json"})
    settings = settings_from_env({"DATA_BUCKET": "b", "LABELING_PRICES": '{"perObjectUsd": 0.1}'})
    assert settings.prices.per_object_usd == 0.1


def test_degenerate_data_still_renders_figures() -> None:
    # given labels that are all zero, a confusion matrix with fewer names than rows, final-only curves
    from report.model import ClassLabels, LabelSummary, MetricPoint, StepTiming, TrainingCurves

    data = RunData(run_id="r", outcome="succeeded", task_type="image-classification", class_names=["only"])
    data.labels = LabelSummary("u", "labeling job output", "images", [ClassLabels(), ClassLabels()], lines=3)
    data.evaluation = Evaluation("accuracy", 0.5, None, None, 2, 0, {}, ["only"], [[1, 0], [1, 0]])
    data.curves = TrainingCurves(
        "job", "final", {"validation:accuracy": [MetricPoint(0.5)]}, note="final values only"
    )
    data.steps = [StepTiming("publish", "Completed", None, T0)]
    # when the figures are rendered
    rendered = {f.name: f for f in figures.render_figures(data)}
    # then each drawable figure is drawn and nothing failed
    assert rendered["class_histogram.png"].png is not None
    assert rendered["confusion_matrix.png"].png is not None
    assert rendered["training_curves.png"].png is not None
    assert rendered["step_timeline.png"].png is not None
    assert rendered["label_confidence.png"].unavailable == "the labels carry no confidence values"
    assert data.warnings == []


def test_training_log_is_read_with_filter_log_events_without_describe_permission() -> None:
    # given a role that may not DescribeLogStreams but may FilterLogEvents (two pages)
    from botocore.exceptions import ClientError
    from report.gather import Clients, Gatherer, Settings

    class Logs:
        def __init__(self) -> None:
            self.calls: list[dict[str, object]] = []

        def describe_log_streams(self, **_: object) -> dict[str, object]:
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "DescribeLogStreams"
            )

        def filter_log_events(self, **params: object) -> dict[str, object]:
            self.calls.append(params)
            if "nextToken" not in params:
                return {"events": [{"message": "Epoch[0] Validation-accuracy=0.5"}], "nextToken": "t1"}
            return {"events": [{"message": "Epoch[1] Validation-accuracy=0.75"}]}

    logs = Logs()
    gatherer = Gatherer(
        "r", "succeeded", {}, Settings("b", LabelingPrices()), Clients(None, None, logs, None)
    )
    # when the job's log is read
    messages = gatherer._log_messages("r-train-0")
    # then both pages of the job's first host stream are returned in order
    assert messages == ["Epoch[0] Validation-accuracy=0.5", "Epoch[1] Validation-accuracy=0.75"]
    assert logs.calls[0]["logStreamNamePrefix"] == "r-train-0/algo-1"


@pytest.mark.parametrize(
    ("ledger", "state"),
    [
        ({"label_counters": {"human": 7, "machine": 3, "total": 10, "failed": 1}}, {}),
        ({}, {"labeling_record": {"label_counters": {"human": 7, "machine": 3, "total": 10, "failed": 1}}}),
        ({"labeling": {"human_labeled": 7, "machine_labeled": 3, "total": 10, "failed": 1}}, {}),
        (
            {},
            {
                "labeling": {
                    "counters": {
                        "HumanLabeled": 7,
                        "MachineLabeled": 3,
                        "TotalLabeled": 10,
                        "FailedNonRetryableError": 1,
                    }
                }
            },
        ),
    ],
    ids=["ledger-label_counters", "state-labeling_record", "ledger-labeling-map", "state-LabelCounters"],
)
def test_label_counts_are_read_from_any_record_of_them(
    ledger: dict[str, object], state: dict[str, object]
) -> None:
    from report.gather import Clients, Gatherer, Settings

    gatherer = Gatherer(
        "r", "succeeded", state, Settings("b", LabelingPrices()), Clients(None, None, None, None)
    )
    gatherer.ledger = dict(ledger)
    assert gatherer._label_counts() == {"human": 7, "machine": 3, "total": 10, "failed": 1}


def test_run_prices_win_over_the_stack_prices_and_bad_ones_are_reported() -> None:
    from report.gather import Clients, Gatherer, Settings

    state = {"config": {"labeling": {"prices": {"per_object_usd": 0.5}}}}
    gatherer = Gatherer(
        "r", "succeeded", state, Settings("b", LabelingPrices()), Clients(None, None, None, None)
    )
    assert gatherer._prices().per_object_usd == 0.5
    bad = Gatherer(
        "r",
        "succeeded",
        {"config": {"labeling": {"prices": {"per_object_usd": -1}}}},
        Settings("b", LabelingPrices(per_object_usd=0.2)),
        Clients(None, None, None, None),
    )
    assert bad._prices().per_object_usd == 0.2
    assert any("not a valid price table" in w for w in bad.data.warnings)


# -- labeling team (builtin labeling service) -------------------------------------------------------

TEAM_STATS = {
    "workers": [
        {"worker_id": "s1", "username": "alice@example.com", "answers": 4, "mean_seconds": 5, "agreement": 1},
        {"worker_id": "s2", "username": "<b>bob</b>", "answers": 3, "mean_seconds": 3.5, "agreement": 0.667},
        {"worker_id": "s3", "username": "carol@example.com", "answers": 1, "mean_seconds": 2},
    ],
    "classes": [
        {"class_name": "cat", "objects": 2, "agreement": 1.0},
        {"class_name": "<i>dog</i>", "objects": 1},
    ],
    "answers": 8,
    "objects": 3,
    "started_at": "2026-05-01T10:00:00Z",
    "finished_at": "2026-05-01T10:30:00Z",
    "active_seconds": 1800,
    "answers_per_hour": 16,
    "objects_per_hour": 6,
    "mean_seconds_per_task": 3.88,
}


def _team_gatherer(state: dict[str, object], ledger: dict[str, object]):
    from report.gather import Clients, Gatherer, Settings

    gatherer = Gatherer(
        "r", "succeeded", state, Settings("b", LabelingPrices()), Clients(None, None, None, None)
    )
    gatherer.ledger = dict(ledger)
    gatherer._team()
    return gatherer.data


def test_team_statistics_come_from_the_ledger_or_else_the_state() -> None:
    # Given the statistics in the ledger (as DynamoDB returns them: whole floats as ints, None dropped)
    from_ledger = _team_gatherer({"labeling": {"team": {"workers": []}}}, {"labeling_team": TEAM_STATS})
    # Then the ledger's are read, numbers as floats and absent agreements as None
    team = from_ledger.team
    assert team is not None and team.source == "runs ledger (labeling_team)"
    assert [(w.username, w.answers, w.mean_seconds, w.agreement) for w in team.workers] == [
        ("alice@example.com", 4, 5.0, 1.0),
        ("<b>bob</b>", 3, 3.5, 0.667),
        ("carol@example.com", 1, 2.0, None),
    ]
    assert (team.answers_per_hour, team.objects_per_hour, team.mean_seconds_per_task) == (16.0, 6.0, 3.88)
    assert team.started_at == datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    # And without a ledger record the state's labeling.team is used
    from_state = _team_gatherer({"labeling": {"backend": "builtin", "team": TEAM_STATS}}, {})
    assert from_state.team is not None and from_state.team.source.startswith("state machine")


@pytest.mark.parametrize(
    ("state", "ledger", "reason"),
    [
        ({"config": {"labeling": {"backend": "ground-truth"}}}, {"labeling": {}}, "SageMaker Ground Truth"),
        ({"config": {"labeling": {"backend": "builtin"}}}, {"labeling": {}}, "recorded no team statistics"),
        ({"manifest": {"kind": "augmented"}}, {}, "no labeling job ran"),
    ],
    ids=["ground-truth", "builtin-unfinished", "augmented"],
)
def test_missing_team_statistics_say_why(
    state: dict[str, object], ledger: dict[str, object], reason: str
) -> None:
    data = _team_gatherer(state, ledger)
    assert data.team is None and reason in data.unavailable["team"]


def test_malformed_team_statistics_are_refused_with_the_source_named() -> None:
    with pytest.raises(ValueError, match="runs ledger holds no team statistics"):
        parse_team({"workers": "all of them"}, "runs ledger")
    # a stray entry is skipped, an impossible share dropped
    team = parse_team({"workers": [1, {"username": "x", "answers": 2, "agreement": 7}]}, "state")
    assert [(w.username, w.answers, w.agreement) for w in team.workers] == [("x", 2, None)]


def test_labeling_team_section_shows_throughput_workers_classes_and_a_figure() -> None:
    # Given a run labeled by the builtin service's team (hostile user and class names included)
    data = RunData(
        run_id="r", outcome="succeeded", task_type="image-classification", class_names=["cat", "dog"]
    )
    data.team = parse_team(TEAM_STATS, "runs ledger (labeling_team)")
    # When the figures and the page are rendered
    rendered = {f.name: f for f in figures.render_figures(data)}
    html = page.render_page(data, list(rendered.values()), T0)
    # Then the agreement figure is a PNG in the team section
    agreement = rendered["team_agreement.png"]
    assert agreement.section == "team" and agreement.png is not None and agreement.png.startswith(b"\x89PNG")
    team_section = html.split('<section id="team">', 1)[1].split("</section>", 1)[0]
    assert '<img src="figures/team_agreement.png"' in team_section
    # And the throughput, the labelers and the classes are shown, every name escaped
    assert "16.0 / h" in team_section and "6.0 / h" in team_section and "3.9 s" in team_section
    assert "8 answers in 30 min 00 s" in team_section
    assert (
        "<td>&lt;b&gt;bob&lt;/b&gt;</td><td class=n>3</td><td class=n>3.5</td><td class=n>66.7%</td>"
        in team_section
    )
    assert (
        "<td>carol@example.com</td><td class=n>1</td><td class=n>2.0</td><td class=n>-</td>" in team_section
    )
    assert "<td>&lt;i&gt;dog&lt;/i&gt;</td><td class=n>1</td><td class=n>-</td>" in team_section
    assert "<b>bob" not in html and "<i>dog" not in html


def test_labeling_team_without_statistics_says_why_once() -> None:
    data = RunData(run_id="r", outcome="succeeded", task_type="object-detection", class_names=["cat"])
    data.missing("team", "the labels come from SageMaker Ground Truth")
    rendered = figures.render_figures(data)
    html = page.render_page(data, rendered, T0)
    team_section = html.split('<section id="team">', 1)[1].split("</section>", 1)[0]
    assert team_section.count("not available") == 1
    assert "not available: the labels come from SageMaker Ground Truth" in team_section


# -- labeling cost of a builtin run ---------------------------------------------------------------------


def _cost_gatherer(state: dict[str, object], ledger: dict[str, object]):
    from report.gather import Clients, Gatherer, Settings

    gatherer = Gatherer(
        "r", "succeeded", state, Settings("b", LabelingPrices()), Clients(None, None, None, None)
    )
    gatherer.ledger = {"labeling": {"job": "j"}, **ledger}
    gatherer.data.headline.human_labeled = 3
    gatherer._cost()
    return gatherer.data


def test_builtin_actual_cost_is_the_measured_answers_and_seconds() -> None:
    from gtpipe_shared.pricing import BuiltinPricing

    settings = {"backend": "builtin", "workers_per_object": 3, "labeler_hourly_rate_usd": 20.0}
    data = _cost_gatherer({"config": {"labeling": settings}, "labeling": {"team": TEAM_STATS}}, {})
    # Given no cost in the ledger / Then the report prices the 8 measured answers and their 8 x 3.88 seconds
    pricing = BuiltinPricing(labeler_hourly_rate_usd=20.0)
    expected = round(8 * pricing.aws_answer_usd + 8 * 3.88 / 3600 * 20.0, 2)
    assert data.cost is not None
    assert data.cost.actual_human_usd == pytest.approx(expected)
    assert data.cost.actual_machine_usd == 0.0
    assert "8 answers" in (data.cost.actual_note or "")
    # and not at Ground Truth's prices (3 objects x ($0.08 + 3 x $0.012))
    assert data.cost.actual_total_usd != pytest.approx(3 * (0.08 + 3 * 0.012))
    # and a recorded actual (notify's, from the same model) wins
    recorded = {"labeling_cost": {"human_usd": 0.5, "machine_usd": 0.0, "estimated_usd": 1.0}}
    from_ledger = _cost_gatherer({"config": {"labeling": settings}}, recorded)
    assert from_ledger.cost is not None and from_ledger.cost.actual_human_usd == 0.5
    assert from_ledger.cost.human_object_usd == pytest.approx(0.5 / 3)


def test_builtin_estimate_computed_by_the_report_follows_the_builtin_model() -> None:
    from gtpipe_shared.pricing import BuiltinPricing

    settings = {"backend": "builtin", "workers_per_object": 2, "seconds_per_task": 10.0}
    data = _cost_gatherer({"config": {"labeling": settings}, "manifest": {"line_count": 500}}, {})
    assert data.cost is not None
    assert data.cost.estimated_usd == BuiltinPricing(seconds_per_task=10.0).estimate(500, 2)
    assert "builtin labeling service" in (data.cost.estimate_note or "")
