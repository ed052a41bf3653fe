"""Report Lambda, without AWS: example choice and thumbnails (report.examples), the figures and the
page (report.figures, report.page, report.timeline) and the handler's event validation (report.handler)."""

from __future__ import annotations

import struct
import zlib

import pytest
from PIL import Image
from report import figure_kit, figures, page, timeline
from report.examples import Prediction, choose_classification, class_errors, match_boxes, thumbnail
from report.handler import ReportError, parse_request, report_key, settings_from_env
from report.model import EVALUATION, Evaluation, RunData

from tests.lambdas.report_fixtures import T0

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
