"""The labeling function's ``open`` with the review stage (settings.review): recorded on the job, or the
run fails at LabelingInputInvalid naming the bad setting."""

from __future__ import annotations

from typing import Any

import pytest
from gtpipe_shared import labeling_store as store

from tests.lambdas.test_handler_labeling import Labeling, labeling, open_event  # noqa: F401 - the fixture

REVIEW = {"confidence_threshold": 0.9, "qa_sample_percent": 10.0, "max_rounds": 1}


def test_open_records_the_review_settings_on_the_job(labeling: Labeling) -> None:  # noqa: F811
    # Given a run whose labeling settings turn review on; when the job opens
    version = labeling.put_manifest(2)
    labeling.invoke(open_event(version_id=version, review=REVIEW))
    # Then the job item carries them and counts no open review yet
    job = labeling.job()
    assert job["review"] == REVIEW and job["reviews_open"] == 0


@pytest.mark.parametrize(
    ("review", "problem"),
    [
        ({"max_rounds": 9}, "settings.review: review max_rounds must be in [0, 5]"),
        ("yes", "settings.review: must be an object"),
    ],
)
def test_a_bad_review_setting_fails_the_task(labeling: Labeling, review: Any, problem: str) -> None:  # noqa: F811
    # Given review settings the config schema would have refused; when the job opens
    labeling.invoke(open_event(version_id=labeling.put_manifest(2), review=review))
    # Then the run fails at LabelingInputInvalid naming the setting, and no job exists
    [failure] = labeling.sfn.named("failure")
    assert failure["error"] == "LabelingInputInvalid" and problem in failure["cause"]
    with pytest.raises(store.UnknownJob):
        labeling.job()
