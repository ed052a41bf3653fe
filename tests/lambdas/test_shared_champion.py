"""gtpipe_shared.champion (which serving model is the champion, and the gate's decision) and the notify
actions built on it: the ``champion`` look-up and the rejection reason."""

from __future__ import annotations

from typing import Any

import pytest
from gtpipe_shared import ledger
from gtpipe_shared.champion import champion_for, decide
from notify import handler as notify
from report.model import Headline, RunData
from report.page import champion_html

from tests.lambdas.conftest import Cloud, FakeContext, put_running_run

RUN = "demo-0123456789abcdef"
SERVING = {
    "run_id": ledger.SERVING_RUN_ID,
    "model_name": "earlier-00000000000000aa-model-0",
    "source_run_id": "earlier-00000000000000aa",
    "class_names": ["cat", "dog"],
    "task_type": "image-classification",
    "metrics": {"metric_value": 0.9},
}


def test_the_serving_model_is_the_champion_only_for_the_same_label_set() -> None:
    # given the serving model of cat/dog classification
    # when / then the same label set finds it; another order, class list or task type does not
    assert champion_for(SERVING, "image-classification", ["cat", "dog"]) == {
        "model_name": "earlier-00000000000000aa-model-0",
        "source_run_id": "earlier-00000000000000aa",
        "metric_value": 0.9,
    }
    assert champion_for(SERVING, "image-classification", ["dog", "cat"]) is None
    assert champion_for(SERVING, "image-classification", ["cat", "dog", "bird"]) is None
    assert champion_for(SERVING, "object-detection", ["cat", "dog"]) is None
    assert champion_for(None, "image-classification", ["cat", "dog"]) is None
    assert champion_for({**SERVING, "model_name": ""}, "image-classification", ["cat", "dog"]) is None


@pytest.mark.parametrize(
    ("challenger", "champion", "margin", "passed"),
    [
        (0.81, 0.90, 2.0, False),  # 9 points worse
        (0.88, 0.90, 2.0, True),  # exactly at the margin
        (0.879, 0.90, 2.0, False),  # just beyond it
        (0.95, 0.90, 0.0, True),  # better
        (0.89, 0.90, 0.0, False),  # no margin: any loss refuses
    ],
)
def test_the_gate_refuses_only_beyond_the_margin(
    challenger: float, champion: float, margin: float, passed: bool
) -> None:
    decision = decide(
        metric_name="accuracy",
        challenger=challenger,
        champion=champion,
        images=50,
        margin_points=margin,
        min_images=20,
    )
    assert decision.passed is passed and decision.compared is True
    prefix = "not worse than the serving model" if passed else "worse than the serving model: accuracy"
    assert decision.reason.startswith(prefix)


def test_too_few_images_make_no_comparison() -> None:
    decision = decide(
        metric_name="accuracy", challenger=0.1, champion=0.9, images=19, margin_points=2.0, min_images=20
    )
    assert decision.passed is True and decision.compared is False
    assert "19 validation images" in decision.reason and "at least 20" in decision.reason


@pytest.fixture
def run(cloud: Cloud) -> Cloud:
    put_running_run(cloud, RUN)
    return cloud


def lookup(context: FakeContext, **overrides: Any) -> dict[str, Any]:
    event = {
        "action": "champion",
        "run_id": RUN,
        "task_type": "image-classification",
        "class_names": ["cat", "dog"],
        "enabled": True,
        **overrides,
    }
    return notify.lambda_handler(event, context)


def test_notify_finds_the_serving_model_of_the_same_label_set(run: Cloud, context: FakeContext) -> None:
    # given nothing serves / then nothing is found
    assert lookup(context) == {"run_id": RUN, "found": False, "why": "no model serves"}
    # given the serving model of cat/dog
    run.runs().put_item(Item=ledger.to_dynamo(SERVING))
    # then it is found; another label set or the gate disabled finds nothing
    found = lookup(context)
    assert found["found"] is True and found["model_name"] == SERVING["model_name"]
    assert found["source_run_id"] == SERVING["source_run_id"]
    assert lookup(context, class_names=["cat", "dog", "bird"])["found"] is False
    assert lookup(context, enabled=False)["found"] is False
    # and a retry of the serving run itself is not its own challenger
    assert lookup(context, run_id=SERVING["source_run_id"])["found"] is False


def test_a_run_refused_by_the_champion_records_and_notifies_that_reason(
    run: Cloud, context: FakeContext
) -> None:
    # given an evaluation the champion/challenger gate refused
    reason = "worse than the serving model: accuracy 0.81 < 0.9 - 0.02 margin (on 40 validation images ...)"
    metrics = {
        "metric_name": "accuracy",
        "metric_value": 0.85,
        "passed": False,
        "champion": {"passed": False, "compared": True, "reason": reason, "champion_value": 0.9},
    }
    # when the run is recorded as rejected
    notify.lambda_handler({"action": "rejected", "run_id": RUN, "metrics": metrics}, context)
    # then the ledger and the notification carry that reason, not the fixed threshold's
    item = run.run(RUN)
    assert item["status"] == "REJECTED" and item["rejection_reason"] == reason
    assert item["metrics"]["champion"]["reason"] == reason
    notice = run.notifications()[0]
    assert notice["message"]["reason"] == reason
    assert "worse than the serving model" in notice["subject"]


def test_the_report_shows_both_scores_side_by_side() -> None:
    # given a refused challenger's comparison
    headline = Headline(
        metric_name="accuracy",
        champion={
            "source_run_id": "earlier-00000000000000aa",
            "passed": False,
            "images": 30,
            "on": "golden manifest",
            "metric_name": "accuracy",
            "challenger_value": 0.0667,
            "champion_value": 0.9,
            "margin_points": 2,
            "reason": "worse than the serving model: <b>",
        },
    )
    data = RunData(run_id=RUN, outcome="rejected", task_type="image-classification", class_names=["a"])
    data.headline = headline
    # when rendered / then one table row per model with its score, the verdict and the escaped reason
    html = champion_html(data)
    assert "Champion / challenger: refused" in html
    assert f"<td>{RUN}</td>" in html and "0.067" in html
    assert "<td>earlier-00000000000000aa</td>" in html and "0.900" in html
    assert "30 golden manifest" in html and "&lt;b&gt;" in html
    # and a run without a comparison shows no card
    data.headline = Headline()
    assert champion_html(data) == ""
