"""Classification metrics and the transform-output join."""

from __future__ import annotations

import json

import pytest
from gtpipe_shared.metrics import (
    PredictionError,
    argmax,
    average_precision,
    classification_metrics,
    detection_metrics,
    ground_truth_boxes,
    iou,
    join_transform_outputs,
    output_uri_for,
    parse_detections,
    parse_prediction,
)


def test_metrics_match_hand_computed_values() -> None:
    # given 3 cats (2 right, 1 called dog), 2 dogs (both right), 1 bird called cat
    pairs = [(0, 0), (0, 0), (0, 1), (1, 1), (1, 1), (2, 0)]
    report = classification_metrics(pairs, ["cat", "dog", "bird"])
    assert report["accuracy"] == pytest.approx(4 / 6, abs=1e-6)
    assert report["confusion_matrix"]["matrix"] == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    cat = report["per_class"]["cat"]
    assert cat["precision"] == pytest.approx(2 / 3, abs=1e-6)
    assert cat["recall"] == pytest.approx(2 / 3, abs=1e-6)
    assert cat["support"] == 3
    dog = report["per_class"]["dog"]
    assert dog["precision"] == pytest.approx(2 / 3, abs=1e-6) and dog["recall"] == 1.0
    assert dog["f1"] == pytest.approx(0.8, abs=1e-6)
    assert report["per_class"]["bird"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_missing_predictions_count_as_wrong() -> None:
    report = classification_metrics([(0, 0), (1, None)], ["a", "b"])
    assert report["accuracy"] == 0.5
    assert report["missing"] == 1
    assert report["per_class"]["b"]["support"] == 1 and report["per_class"]["b"]["recall"] == 0.0


def test_unknown_true_label_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a class id"):
        classification_metrics([(3, 0)], ["a", "b"])


def test_parse_prediction_formats() -> None:
    assert parse_prediction(b'{"prediction": [0.1, 0.9]}') == [0.1, 0.9]
    assert parse_prediction("[1, 0]") == [1.0, 0.0]
    for bad in (b"{}", b"[]", b'{"prediction": ["x"]}', b"[true]"):
        with pytest.raises(PredictionError):
            parse_prediction(bad)
    with pytest.raises(ValueError):
        parse_prediction(b"not json")


def test_argmax_first_on_ties() -> None:
    assert argmax([0.2, 0.5, 0.5]) == 1


def test_join_by_source_ref() -> None:
    labels = [("s3://b/i/1.jpg", 0), ("s3://b/i/2.jpg", 1), ("s3://b/i/3.jpg", 1)]
    outputs = {
        "s3://b/i/1.jpg": json.dumps({"prediction": [0.8, 0.2]}).encode(),
        "s3://b/i/2.jpg": b"garbage",
    }
    joined = join_transform_outputs(labels, outputs)
    assert joined.pairs == [(0, 0), (1, None), (1, None)]
    assert joined.invalid == ["s3://b/i/2.jpg"] and joined.missing == ["s3://b/i/3.jpg"]


def test_output_uri_for() -> None:
    assert output_uri_for("s3://b/images/a/1.jpg", "s3://b/images/", "s3://d/runs/r/transform") == (
        "s3://d/runs/r/transform/a/1.jpg.out"
    )
    with pytest.raises(ValueError):
        output_uri_for("s3://other/1.jpg", "s3://b/images/", "s3://d/t/")


def test_iou() -> None:
    assert iou((0, 0, 1, 1), (0, 0, 1, 1)) == 1.0
    assert iou((0, 0, 1, 1), (1, 1, 2, 2)) == 0.0
    assert iou((0, 0, 2, 1), (1, 0, 3, 1)) == pytest.approx(1 / 3)


def test_ground_truth_boxes_are_normalized() -> None:
    label = {
        "image_size": [{"width": 200, "height": 100}],
        "annotations": [{"class_id": 1, "left": 50, "top": 25, "width": 100, "height": 50}],
    }
    assert ground_truth_boxes(label) == [(1, (0.25, 0.25, 0.75, 0.75))]
    with pytest.raises(ValueError):
        ground_truth_boxes({"annotations": []})


def test_parse_detections_skips_padding() -> None:
    assert parse_detections(b'{"prediction": [[0, 0.9, 0, 0, 1, 1], [-1, 0, 0, 0, 0, 0]]}') == [
        (0, 0.9, (0.0, 0.0, 1.0, 1.0))
    ]
    with pytest.raises(PredictionError):
        parse_detections(b"[0.1, 0.9]")


def test_average_precision() -> None:
    assert average_precision([(0.9, True), (0.8, True)], 2) == 1.0
    # one hit ranked below a false positive, one box never found: AP = 0.5 * 0.5
    assert average_precision([(0.9, False), (0.8, True)], 2) == pytest.approx(0.25)
    assert average_precision([], 0) == 0.0


def test_detection_metrics_matches_each_box_once() -> None:
    truth = [(0, (0.0, 0.0, 0.5, 0.5)), (1, (0.5, 0.5, 1.0, 1.0))]
    detections = [
        (0, 0.9, (0.0, 0.0, 0.5, 0.5)),
        (0, 0.8, (0.0, 0.0, 0.5, 0.5)),
        (1, 0.7, (0.5, 0.5, 1.0, 1.0)),
    ]
    report = detection_metrics([(truth, detections), (truth, None)], ["a", "b"])
    assert report["count"] == 2 and report["missing"] == 1
    assert report["per_class"]["a"]["support"] == 2
    # class a: hit (0.9), duplicate (0.8) is a false positive, second image missed -> AP 0.5
    assert report["per_class"]["a"]["ap"] == pytest.approx(0.5)
    assert report["map"] == pytest.approx(0.5)
