"""Report Lambda, without AWS: training-log parsing (report.curves) and label aggregation, labeling
cost and time parsing (report.labels)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from gtpipe_shared.pricing import LabelingPrices
from report import curves, labels
from report.model import ClassLabels

from tests.lambdas.report_fixtures import T0

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
