"""Labeling prices: the cost guard's estimate and a run's actual cost."""

import pytest
from gtpipe_shared.pricing import (
    DEFAULT_SECONDS_PER_TASK,
    BuiltinPricing,
    LabelingPrices,
    check_labeling_budget,
    estimate_labeling_cost,
    labeling_cost,
    measured_work,
)


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


# --- The builtin labeling service: AWS requests per answer plus the labelers' time -----------------------

# AWS's public us-east-1 prices (pricing.AwsUnitPrices cites the pages), written out here per request.
API_GATEWAY_REST = 3.50 / 1e6
LAMBDA_REQUEST = 0.20 / 1e6
LAMBDA_GB_SECOND = 0.0000166667
DYNAMODB_READ_UNIT = 0.125 / 1e6
DYNAMODB_WRITE_UNIT = 0.625 / 1e6
S3_GET = 0.0004 / 1000


def one_answer_usd() -> float:
    """lease + answer (2 API Gateway requests, 2 invocations of the 512 MB labeling API at 0.3 s), 8 read
    and 12 write units (AnswerRequests' docstring counts them), one S3 GET of the image."""
    return (
        2 * API_GATEWAY_REST
        + 2 * LAMBDA_REQUEST
        + 2 * 0.5 * 0.3 * LAMBDA_GB_SECOND
        + 8 * DYNAMODB_READ_UNIT
        + 12 * DYNAMODB_WRITE_UNIT
        + 1 * S3_GET
    )


def test_one_builtin_answer_costs_its_aws_requests() -> None:
    assert BuiltinPricing().aws_answer_usd == pytest.approx(one_answer_usd(), rel=1e-9)
    # a few thousandths of a cent: far below Ground Truth's $0.012 per answer
    assert BuiltinPricing().aws_answer_usd < LabelingPrices().answer_price("image-classification") / 100


def test_builtin_estimate_is_answers_times_requests_plus_assumed_time_at_the_rate() -> None:
    pricing = BuiltinPricing(labeler_hourly_rate_usd=18.0, seconds_per_task=20.0)
    objects, workers = 1000, 3
    expected = objects * workers * (one_answer_usd() + 20.0 / 3600 * 18.0)
    assert pricing.estimate(objects, workers) == pytest.approx(round(expected, 2))
    # without a labeler rate only the requests are priced: 3,000 answers cost cents
    assert BuiltinPricing().estimate(objects, workers) == pytest.approx(round(3000 * one_answer_usd(), 2))
    assert BuiltinPricing().estimate(objects, workers) < 0.1


def test_builtin_actual_uses_the_measured_answers_and_seconds() -> None:
    pricing = BuiltinPricing(labeler_hourly_rate_usd=12.0, seconds_per_task=999.0)
    cost = pricing.cost(answers=250, seconds=4500.0)
    assert cost.machine_usd == 0.0
    assert cost.human_usd == pytest.approx(round(250 * one_answer_usd() + 4500.0 / 3600 * 12.0, 2))
    assert cost.total_usd == cost.human_usd


def test_builtin_pricing_comes_from_a_runs_labeling_settings() -> None:
    assert BuiltinPricing.from_settings({"backend": "ground-truth"}) is None
    assert BuiltinPricing.from_settings({}) is None
    default = BuiltinPricing.from_settings({"backend": "builtin"})
    assert default == BuiltinPricing(labeler_hourly_rate_usd=0.0, seconds_per_task=DEFAULT_SECONDS_PER_TASK)
    chosen = BuiltinPricing.from_settings(
        {"backend": "builtin", "labeler_hourly_rate_usd": 15, "seconds_per_task": 12.5}
    )
    assert chosen == BuiltinPricing(labeler_hourly_rate_usd=15, seconds_per_task=12.5)
    with pytest.raises(ValueError, match="labeler_hourly_rate_usd"):
        BuiltinPricing.from_settings({"backend": "builtin", "labeler_hourly_rate_usd": -1})


def test_measured_work_reads_the_team_statistics() -> None:
    assert measured_work({"answers": 40, "mean_seconds_per_task": 7.5}) == (40, 300.0)
    assert measured_work({"answers": 40, "mean_seconds_per_task": None}) == (40, 0.0)
    assert measured_work({"workers": []}) is None
    assert measured_work(None) is None


def test_budget_check_prices_a_builtin_run_by_its_model() -> None:
    prices = LabelingPrices()
    pricing = BuiltinPricing(labeler_hourly_rate_usd=18.0, seconds_per_task=20.0)
    ground_truth = check_labeling_budget(100, 3, "image-classification", prices, 20.0)
    builtin = check_labeling_budget(100, 3, "image-classification", prices, 20.0, builtin=pricing)
    assert ground_truth.estimated_usd == pytest.approx(100 * (0.08 + 3 * 0.012))
    assert builtin.estimated_usd == pytest.approx(round(300 * (one_answer_usd() + 20.0 / 3600 * 18.0), 2))
    assert builtin.estimated_usd != ground_truth.estimated_usd
    assert builtin.exceeded and not ground_truth.exceeded
    assert "builtin labeling service" in builtin.reason() and "$18/h labeler pay" in builtin.reason()
    assert "per object" in ground_truth.reason()


def test_tuning_estimate_is_every_trial_at_its_maximum_runtime_on_every_instance() -> None:
    from gtpipe_shared.pricing import estimate_tuning_cost

    # 6 trials x 2 instances x 1.5 h x $1.20 per instance-hour
    assert estimate_tuning_cost(6, 2, 5400, 1.2) == 21.6
    with pytest.raises(ValueError):
        estimate_tuning_cost(0, 1, 3600, 1.0)


def test_budget_check_counts_the_tuning_trials_and_names_them() -> None:
    from gtpipe_shared.pricing import estimate_tuning

    # Given 10 objects ($1.16 of labeling) and a run that tunes 6 trials of 1 ml.g4dn.xlarge for 1 h
    tuning = estimate_tuning(6, "ml.g4dn.xlarge", 1, 3600)
    # When the budget is $5
    check = check_labeling_budget(10, 3, "image-classification", LabelingPrices(), 5.0, tuning=tuning)
    # Then the worst case is 6 x $0.7364 and the total (labeling + trials) is over the budget
    assert tuning.estimated_usd == pytest.approx(round(6 * 0.7364, 2))
    assert check.estimated_usd == pytest.approx(1.16)
    assert check.total_usd == pytest.approx(round(1.16 + 4.42, 2))
    assert check.exceeded
    reason = check.reason()
    assert "6 tuning trials x 1 instances x 1 h" in reason and "$0.7364 per ml.g4dn.xlarge" in reason
    assert reason.startswith("estimated cost $5.58: estimated labeling cost $1.16") and "exceeds" in reason
    assert check.as_dict()["tuning"]["trials"] == 6 and check.as_dict()["total_usd"] == pytest.approx(5.58)
    # And without tuning the same labeling is within the budget, and the ledger form has no tuning part
    plain = check_labeling_budget(10, 3, "image-classification", LabelingPrices(), 5.0)
    assert not plain.exceeded and "tuning" not in plain.as_dict() and "total_usd" not in plain.as_dict()


def test_an_unpriced_tuning_instance_records_the_trials_without_counting_them() -> None:
    from gtpipe_shared.pricing import estimate_tuning

    # Given an instance type the price table does not list
    tuning = estimate_tuning(4, "ml.trn1.2xlarge", 2, 7200)
    # When the guard checks it / Then only labeling counts, and the reason says the trials were not counted
    check = check_labeling_budget(10, 3, "image-classification", LabelingPrices(), 2.0, tuning=tuning)
    assert tuning.estimated_usd is None and check.total_usd == pytest.approx(1.16) and not check.exceeded
    assert "tuning not counted (4 tuning trials x 2 instances x 2 h" in check.reason()
