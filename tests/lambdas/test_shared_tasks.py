"""The task registry (gtpipe_shared.tasks) and the clear errors where a task type used to be assumed."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from evaluate import handler as evaluate_handler
from gtpipe_shared import ledger
from gtpipe_shared.tasks import TASK_TYPES, TASKS, TaskType, UnknownTaskType, task_spec
from notify import handler as notify
from predict import handler as predict_handler
from split import handler as split_handler

from tests.lambdas.conftest import Cloud, FakeContext, load_event, put_running_run

ROOT = Path(__file__).resolve().parents[2]
RUN = "demo-0123456789abcdef"
TASK_TYPE_STRINGS = ("image-classification", "object-detection")


def test_every_task_type_has_one_spec_that_names_it() -> None:
    assert TASK_TYPES == TASK_TYPE_STRINGS
    assert set(TASKS) == set(TaskType)
    for task_type, spec in TASKS.items():
        assert spec.task_type is task_type and spec.value == task_type.value
        assert task_spec(task_type) is spec and task_spec(task_type.value) is spec
        assert spec.label_type == f"groundtruth/{task_type.value}"


def test_specs_hold_what_differs_between_tasks() -> None:
    classification, detection = TASKS[TaskType.IMAGE_CLASSIFICATION], TASKS[TaskType.OBJECT_DETECTION]
    assert (classification.boxes, detection.boxes) == (False, True)
    assert (classification.pre_human_task_lambda, classification.consolidation_lambda) == (
        "PRE-ImageMultiClass",
        "ACS-ImageMultiClass",
    )
    assert (detection.pre_human_task_lambda, detection.consolidation_lambda) == (
        "PRE-BoundingBox",
        "ACS-BoundingBox",
    )
    assert (classification.metric_name, detection.metric_name) == ("accuracy", "map_50")
    assert (classification.min_classes, detection.min_classes) == (2, 1)


@pytest.mark.parametrize("value", [None, "", "segmentation", "Image-Classification", 3])
def test_unknown_or_missing_task_types_are_one_clear_error(value: Any) -> None:
    with pytest.raises(UnknownTaskType) as raised:
        task_spec(value)
    message = str(raised.value)
    assert message.startswith(
        "no task_type given" if value in (None, "") else f"unsupported task_type {value!r}"
    )
    assert "known: image-classification, object-detection" in message
    assert isinstance(raised.value, ValueError)


def test_training_algorithms_carry_the_registry_algorithm_names() -> None:
    # training/ does not import gtpipe_shared (the container ships only training/): its names must agree
    from training.classification.train import CLASSIFICATION
    from training.detection.train import DETECTION

    assert CLASSIFICATION.name == TASKS[TaskType.IMAGE_CLASSIFICATION].algorithm
    assert DETECTION.name == TASKS[TaskType.OBJECT_DETECTION].algorithm


def _string_constants(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_task_type_strings_appear_only_in_the_registry() -> None:
    # Given the Python code of the functions and infra (training names its own algorithms, tested above)
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("lambdas", "infra")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path.name != "tasks.py" and any(value in TASK_TYPE_STRINGS for value in _string_constants(path))
    ]
    # Then no module spells a task type: each reads it from gtpipe_shared.tasks
    assert offenders == []


# -- payloads that used to default to image-classification -----------------------------------------------


def test_split_needs_the_task_type(cloud: Cloud, context: FakeContext) -> None:
    payload = load_event("split_payload.json")
    del payload["task_type"]
    with pytest.raises(split_handler.SplitError, match="task_type: Field required"):
        split_handler.lambda_handler(payload, context)
    with pytest.raises(split_handler.SplitError, match="known: image-classification, object-detection"):
        split_handler.lambda_handler({**payload, "task_type": "segmentation"}, context)


def test_evaluate_needs_the_task_type(cloud: Cloud, context: FakeContext) -> None:
    payload = load_event("evaluate_payload.json")
    del payload["task_type"]
    with pytest.raises(evaluate_handler.EvaluationError, match="task_type: Field required"):
        evaluate_handler.lambda_handler(payload, context)
    with pytest.raises(evaluate_handler.EvaluationError, match="known: image-classification"):
        evaluate_handler.lambda_handler({**payload, "task_type": "segmentation"}, context)


def test_publish_needs_the_task_type(cloud: Cloud, context: FakeContext) -> None:
    put_running_run(cloud, RUN)
    event = {
        "action": "publish",
        "run_id": RUN,
        "endpoint_name": "gtpipe-endpoint",
        "endpoint_config_name": f"{RUN}-epc-0",
        "model_name": f"{RUN}-model-0",
        "class_names": ["cat", "dog"],
    }
    with pytest.raises(notify.InvalidRequest, match="'task_type' must be a non-empty string"):
        notify.lambda_handler(event, context)
    with pytest.raises(notify.InvalidRequest, match="known: image-classification, object-detection"):
        notify.lambda_handler({**event, "task_type": "segmentation"}, context)
    assert cloud.run("@serving") is None


def test_predict_refuses_a_serving_item_without_a_task_type(cloud: Cloud, context: FakeContext) -> None:
    # Given a @serving item without task_type (publish always writes one)
    item = ledger.serving_item(
        endpoint_name="gtpipe-endpoint",
        endpoint_config_name="r-epc-0",
        model_name="r-model-0",
        class_names=["cat", "dog"],
        source_run_id=RUN,
        metrics=None,
        task_type="image-classification",
        now=ledger.now_iso(),
    )
    del item["task_type"]
    cloud.runs().put_item(Item=ledger.to_dynamo(item))
    event = load_event("apigw_predict.json")
    # When a prediction is asked for / Then it is an internal error, not an answer for an assumed task
    response = predict_handler.lambda_handler(event, context)
    assert response["statusCode"] == 500
    assert json.loads(response["body"])["code"] == "InternalError"


@pytest.mark.parametrize(
    ("state", "ledger_item", "expected", "warning"),
    [
        ({"config": {"task_type": "object-detection"}}, {}, "object-detection", None),
        ({}, {"task_type": "object-detection"}, "object-detection", None),
        ({}, {}, "image-classification", "name no task type"),
        ({"config": {"task_type": "video"}}, {}, "image-classification", "the unknown task type 'video'"),
    ],
)
def test_the_report_names_the_task_type_it_falls_back_from(
    state: dict[str, Any], ledger_item: dict[str, Any], expected: str, warning: str | None
) -> None:
    from gtpipe_shared.pricing import LabelingPrices
    from report.gather import Clients, Gatherer, Settings

    gatherer = Gatherer(
        "r", "failed", state, Settings("b", LabelingPrices()), Clients(None, None, None, None)
    )
    gatherer.ledger = ledger_item
    gatherer._task_type()
    assert gatherer.data.task_type == expected
    warnings = gatherer.data.warnings
    if warning is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and warning in warnings[0] and expected in warnings[0]
