"""Labeling prices: the cost guard's estimate and a run's actual cost."""

import pytest
from gtpipe_shared.pricing import LabelingPrices, estimate_labeling_cost, labeling_cost


def test_estimate_uses_the_seed_prices_for_three_classification_workers() -> None:
    # Given the default prices / When 1,000 objects are estimated with 3 workers each
    estimate = estimate_labeling_cost(1000, 3, "image-classification", LabelingPrices())
    # Then each object costs $0.08 + 3 x $0.012 = $0.116
    assert estimate == pytest.approx(116.0)


def test_bounding_boxes_cost_more_per_answer() -> None:
    assert estimate_labeling_cost(10, 1, "object-detection", LabelingPrices()) == pytest.approx(1.16)


def test_actual_cost_splits_human_and_machine_labels() -> None:
    # Given 600 human and 400 machine labels
    cost = labeling_cost(600, 400, 3, "image-classification", LabelingPrices())
    # Then machine labels cost the per-object fee only
    assert cost.human_usd == pytest.approx(69.6)
    assert cost.machine_usd == pytest.approx(32.0)
    assert cost.total_usd == pytest.approx(101.6)


def test_prices_from_context_override_the_defaults() -> None:
    prices = LabelingPrices.from_mapping({"perObjectUsd": 0.1, "perAnswerUsd": {"object-detection": 0.05}})
    assert prices.per_object_usd == 0.1
    assert prices.answer_price("object-detection") == 0.05
    assert prices.answer_price("image-classification") == 0.012


@pytest.mark.parametrize(
    "mapping, problem",
    [
        ({"perObjectUsd": -1}, "per_object_usd"),
        ({"perAnswerUsd": {"object-detection": "x"}}, "object-detection"),
    ],
)
def test_bad_prices_name_the_price(mapping: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        LabelingPrices.from_mapping(mapping)


def test_unknown_task_type_is_named() -> None:
    with pytest.raises(ValueError, match="semantic-segmentation"):
        estimate_labeling_cost(1, 1, "semantic-segmentation", LabelingPrices())
