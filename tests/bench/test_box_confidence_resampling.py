"""The box-confidence benchmark's resampling (bench.box_confidence_bench.resampled_certification): the
loop's cut-off and threshold rules applied to many validation samples of one model's answers."""

from __future__ import annotations

import pytest
from gtpipe_shared.model_labels import BOX_CUTOFF_CANDIDATES

from bench.box_confidence_bench import resampled_certification


def pool(pairs: list[tuple[float, bool]]) -> dict[float, list[tuple[float, bool]]]:
    """The same (confidence, agrees) at every cut-off."""
    return {cutoff: list(pairs) for cutoff in BOX_CUTOFF_CANDIDATES}


def test_a_model_right_and_sure_everywhere_machine_labels_every_rest_in_every_sample() -> None:
    # Given 300 images the model gets right, all at confidence 0.99
    figures = resampled_certification(pool([(0.99, True)] * 300), credibility=0.9, trials=20)
    # Then every sample machine-labels the whole rest, all right
    assert figures["resampled: samples (of 20) machine-labeling"] == 20
    assert figures["resampled: mean share of the rest machine-labeled"] == 1.0
    assert figures["resampled: machine labels right (pooled)"] == 1.0
    assert figures["resampled: samples whose machine labels are < 95% right"] == 0


def test_a_model_wrong_on_a_fifth_of_its_surest_images_certifies_none() -> None:
    # Given 300 images at one confidence, one in five wrong
    pairs = [(0.9, index % 5 != 0) for index in range(300)]
    figures = resampled_certification(pool(pairs), credibility=0.9, trials=20)
    # Then no sample machine-labels (not even widened to 120), and the accuracy is not made up
    assert figures["resampled: samples (of 20) machine-labeling"] == 0
    assert figures["resampled: mean share of the rest machine-labeled"] == 0.0
    assert figures["resampled: machine labels right (pooled)"] is None


def test_the_wrong_ones_below_the_threshold_leave_the_sure_ones_labeled() -> None:
    # Given 200 right images at 0.95 and 100 wrong ones at 0.5
    pairs = [(0.95, True)] * 200 + [(0.5, False)] * 100
    figures = resampled_certification(pool(pairs), credibility=0.9, trials=20, seed=3)
    # Then every sample machine-labels the sure images only: about two thirds of the rest, all right
    assert figures["resampled: samples (of 20) machine-labeling"] == 20
    assert 0.55 < figures["resampled: mean share of the rest machine-labeled"] < 0.78  # type: ignore[operator]
    assert figures["resampled: machine labels right (pooled)"] == 1.0


def test_a_pool_no_larger_than_the_widest_sample_is_refused() -> None:
    # Given 120 images: the widest sample (40 widened twice) would leave none to machine-label
    # Then the resampling says so instead of dividing by nothing
    with pytest.raises(ValueError, match="more than 120 images, got 120"):
        resampled_certification(pool([(0.99, True)] * 120), credibility=0.9, trials=1)


def test_wrong_people_labels_in_the_sample_keep_a_right_model_from_certifying_some_samples() -> None:
    # Given 300 images a model gets right at confidence 0.99, and people whose labels are wrong on 2%
    pairs = [(0.99, True)] * 300
    truth_only = resampled_certification(pool(pairs), credibility=0.9, trials=200, seed=1)
    with_errors = resampled_certification(pool(pairs), credibility=0.9, trials=200, seed=1, human_error=0.02)
    # Then with the truth as people's labels every sample certifies; with wrong people labels some samples
    # (a wrong label among 40 to 120) reach no threshold, about as many as miss at 40 (1 - 0.98^40 = 55%) less
    # those widening rescues, and the machine labels stay graded by the truth
    assert truth_only["resampled: samples (of 200) machine-labeling"] == 200
    labeling = with_errors["resampled: samples (of 200) machine-labeling"]
    assert 80 < labeling < 180  # type: ignore[operator]
    assert with_errors["resampled: machine labels right (pooled)"] == 1.0


def test_the_loops_verification_gives_back_what_wrong_people_labels_took() -> None:
    # Given 200 images a model gets right at 0.95 and 100 it gets wrong at 0.5, people wrong on 2% of the
    # validation labels
    pairs = [(0.95, True)] * 200 + [(0.5, False)] * 100
    unverified = resampled_certification(pool(pairs), credibility=0.9, trials=200, seed=1, human_error=0.02)
    verified = resampled_certification(
        pool(pairs), credibility=0.9, trials=200, seed=1, human_error=0.02, verify=True
    )
    # Then unverified, about half the samples reach no threshold; verified (the disputed sure images asked
    # again), every sample machine-labels the sure images, still all right
    assert unverified["resampled: samples (of 200) machine-labeling"] < 150  # type: ignore[operator]
    assert verified["resampled: samples (of 200) machine-labeling"] == 200
    assert verified["resampled: machine labels right (pooled)"] == 1.0
