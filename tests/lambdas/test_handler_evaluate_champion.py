"""evaluate's champion/challenger mode against moto S3: both models scored on the same held-out images."""

from __future__ import annotations

import json
from typing import Any

import pytest
from evaluate import handler as evaluate_handler
from split import handler as split_handler

from tests.lambdas.conftest import DATA_BUCKET, Cloud, FakeContext, classification_line, load_event

RUN = "demo-0123456789abcdef"
CHAMPION_RUN = "earlier-00000000000000aa"
MANIFEST_KEY = "labeling/demo-0123456789abcdef-label-0/manifests/output/output.manifest"
CHAMPION_OUTPUT = f"s3://{DATA_BUCKET}/transform/{RUN}-champion/"
CHALLENGER = {
    "metrics_uri": f"s3://{DATA_BUCKET}/runs/{RUN}/metrics.json",
    "metric_name": "accuracy",
    "metric_value": 0.9,
    "passed": True,
}


def validation_refs(cloud: Cloud, context: FakeContext) -> list[tuple[str, int]]:
    """Split 40 labeled images of 3 classes; the validation images and their labels."""
    labels = [0] * 20 + [1] * 10 + [2] * 10
    cloud.put(MANIFEST_KEY, "\n".join(classification_line(i, label) for i, label in enumerate(labels)) + "\n")
    split_handler.lambda_handler(load_event("split_payload.json"), context)
    lines = cloud.read(f"splits/{RUN}/validation.manifest").splitlines()
    return [(obj["source-ref"], obj["category"]) for obj in map(json.loads, lines)]


def predict(cloud: Cloud, prefix: str, validation: list[tuple[str, int]], correct: set[str]) -> None:
    """Transform outputs under ``prefix``: right for the refs in ``correct``, wrong for the others."""
    for ref, label in validation:
        guess = label if ref in correct else (label + 1) % 3
        relative = ref.split("/images/", 1)[1]
        cloud.put(
            f"{prefix}{relative}.out",
            json.dumps({"prediction": [0.9 if k == guess else 0.05 for k in range(3)]}),
        )


def champion_trained_on(cloud: Cloud, refs: list[str]) -> None:
    cloud.put(
        f"splits/{CHAMPION_RUN}/train.manifest",
        "\n".join(json.dumps({"source-ref": ref}) for ref in refs) + "\n",
    )


def compare(cloud: Cloud, context: FakeContext, **overrides: Any) -> dict[str, Any]:
    payload = {
        **load_event("evaluate_payload.json"),
        "champion": {
            "model_name": f"{CHAMPION_RUN}-model-0",
            "source_run_id": CHAMPION_RUN,
            "transform_output_uri": CHAMPION_OUTPUT,
        },
        "challenger": CHALLENGER,
        "margin_points": 2.0,
        "min_images": 4,
        **overrides,
    }
    return evaluate_handler.lambda_handler(payload, context)


def test_a_challenger_worse_by_more_than_the_margin_is_refused(cloud: Cloud, context: FakeContext) -> None:
    # given 8 validation images, none of which the champion trained on
    validation = validation_refs(cloud, context)
    refs = [ref for ref, _ in validation]
    champion_trained_on(cloud, ["s3://elsewhere/other.jpg"])
    # and the challenger gets 6 of 8 right, the champion all 8
    predict(cloud, f"transform/{RUN}/", validation, set(refs[:6]))
    predict(cloud, f"transform/{RUN}-champion/", validation, set(refs))
    # when the two are compared with a 2-point margin
    answer = compare(cloud, context)
    # then the challenger is refused and the answer says why, with both scores side by side
    champion = answer["champion"]
    assert answer["passed"] is False and champion["passed"] is False and champion["compared"] is True
    assert champion["images"] == 8
    assert champion["challenger_value"] == pytest.approx(0.75) and champion["champion_value"] == 1.0
    assert champion["reason"].startswith("worse than the serving model: accuracy 0.75 < 1 - 0.02 margin")
    # and the challenger's own evaluation is kept
    assert answer["metrics_uri"] == CHALLENGER["metrics_uri"] and answer["metric_value"] == 0.9


def test_only_images_the_champion_did_not_train_on_are_compared(cloud: Cloud, context: FakeContext) -> None:
    # given the champion trained on 4 of the 8 validation images and predicts only those right
    validation = validation_refs(cloud, context)
    refs = [ref for ref, _ in validation]
    champion_trained_on(cloud, refs[:4])
    predict(cloud, f"transform/{RUN}-champion/", validation, set(refs[:4]))
    # and the challenger gets the other 4 right
    predict(cloud, f"transform/{RUN}/", validation, set(refs[4:]))
    # when compared
    answer = compare(cloud, context)
    # then only the 4 held-out images count: the challenger scores 1.0, the champion 0, and it passes
    champion = answer["champion"]
    assert champion["images"] == 4
    assert champion["challenger_value"] == 1.0 and champion["champion_value"] == 0.0
    assert answer["passed"] is True and champion["reason"].startswith("not worse than the serving model")


def test_within_the_margin_passes(cloud: Cloud, context: FakeContext) -> None:
    # given the challenger 7 of 8, the champion 8 of 8 (12.5 points better)
    validation = validation_refs(cloud, context)
    refs = [ref for ref, _ in validation]
    champion_trained_on(cloud, [])
    predict(cloud, f"transform/{RUN}/", validation, set(refs[:7]))
    predict(cloud, f"transform/{RUN}-champion/", validation, set(refs))
    # when the margin is 12.5 points / 12 points
    at_margin = compare(cloud, context, margin_points=12.5)
    beyond = compare(cloud, context, margin_points=12.0)
    # then exactly at the margin passes, beyond it does not
    assert at_margin["passed"] is True and beyond["passed"] is False


def test_too_few_held_out_images_or_a_gone_training_manifest_make_no_comparison(
    cloud: Cloud, context: FakeContext
) -> None:
    # given the champion trained on 6 of the 8 validation images (2 held out, 4 needed)
    validation = validation_refs(cloud, context)
    refs = [ref for ref, _ in validation]
    predict(cloud, f"transform/{RUN}/", validation, set())
    predict(cloud, f"transform/{RUN}-champion/", validation, set(refs))
    champion_trained_on(cloud, refs[:6])
    # when compared / then no comparison: the challenger goes on with its fixed-threshold result
    few = compare(cloud, context)
    assert few["passed"] is True and few["champion"]["compared"] is False and few["champion"]["images"] == 2
    assert "2 validation images neither model trained on" in few["champion"]["reason"]
    # given the champion's training manifest expired / then no comparison, naming the missing manifest
    cloud.s3.delete_object(Bucket=DATA_BUCKET, Key=f"splits/{CHAMPION_RUN}/train.manifest")
    gone = compare(cloud, context)
    assert gone["passed"] is True and gone["champion"]["compared"] is False
    assert f"splits/{CHAMPION_RUN}/train.manifest" in gone["champion"]["reason"]


def test_a_champion_without_predictions_fails_naming_the_serving_model(
    cloud: Cloud, context: FakeContext
) -> None:
    # given held-out images but no champion transform output
    validation = validation_refs(cloud, context)
    champion_trained_on(cloud, [])
    predict(cloud, f"transform/{RUN}/", validation, set())
    # when compared / then the evaluation fails naming the serving model and the missing output
    with pytest.raises(
        evaluate_handler.EvaluationError, match=f"serving model {CHAMPION_RUN}-model-0: no usable"
    ):
        compare(cloud, context)


def test_compare_payload_errors_are_named(cloud: Cloud, context: FakeContext) -> None:
    with pytest.raises(evaluate_handler.EvaluationError, match="champion/challenger payload: margin_points"):
        compare(cloud, context, margin_points=-1)
    with pytest.raises(evaluate_handler.EvaluationError, match=r"champion\.transform_output_uri"):
        compare(cloud, context, champion={"model_name": "m", "source_run_id": CHAMPION_RUN})
