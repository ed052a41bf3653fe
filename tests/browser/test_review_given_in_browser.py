"""A review-only job (label-error finding) in Chromium: the reviewer sees the given label beside the model's
class, is offered accept and fix only (the service refuses a reject of a given label), and fixes the label
to the model's class with its key; the output carries the fix with the line's label-error entry. Against
the real labeling API on moto, as tests/browser/test_review_in_browser.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from gtpipe_shared import labeling_store as store
from gtpipe_shared.labeling_output import OUTPUT_MANIFEST_KEY
from moto import mock_aws

from tests.browser.chromium import require_browser
from tests.browser.test_review_in_browser import BUCKET, FakeLambda, api_on_moto, open_app
from tests.lambdas.test_shared_labeling_store import JOB, NOW, spec

FLAGGED = {
    "source-ref": f"s3://{BUCKET}/images/000.jpg",
    "category": 0,
    "category-metadata": {"class-name": "cat", "label-error": {"index": 7, "given": 0, "suggested": 1}},
    "gtpipe-suggestion": {"label": 1, "confidence": 0.93},
}


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, FakeLambda]]:
    """The tasks table on moto with a review-only job of one object given "cat", the model saying "dog"."""
    with mock_aws():
        tasks, fake = api_on_moto(monkeypatch)
        objects = store.objects_from_manifest((json.dumps(FLAGGED) + "\n").encode())
        store.open_review_job(tasks, replace(spec(workers=2), review={}), objects, NOW)
        yield tasks, fake


def test_a_reviewer_fixes_a_given_label_to_the_model_s_class(service: tuple[Any, FakeLambda]) -> None:
    tasks, fake = service
    with require_browser()() as playwright:
        browser, page, problems = open_app(playwright, ["labeling-reviewers"])
        try:
            # When the reviewer opens the job's review
            page.click(f'[data-review-job="{JOB}"]')
            page.wait_for_function("() => document.querySelector('#review-image').dataset.ready === 'true'")
            # Then the given label is shown with the model's class, and only accept and fix are offered
            label = page.text_content("#review-label") or ""
            assert label.startswith("cat (the given label)") and "the model suggests dog" in label
            assert "doubts its label" in (page.text_content("#review-why") or "")
            assert not page.is_visible("#review-reject") and page.is_visible("#review-accept")
            # When they press the key of "dog" and send the fix
            page.keyboard.press("d")
            page.click("#review-fix")
            page.wait_for_function("() => !document.querySelector('#jobs-view').hidden")
        finally:
            browser.close()
        assert problems == []
    # Then the job completed, and its output holds the fixed label and the label-error entry
    assert store.get_job(tasks, JOB)["status"] == store.CONSOLIDATING and len(fake.invokes) == 1
    output = store.job_output(tasks, store.get_job(tasks, JOB), NOW)
    key = next(k for k in output.files if k.endswith(OUTPUT_MANIFEST_KEY))
    (line,) = [json.loads(raw) for raw in output.files[key].splitlines()]
    assert line["category"] == 1 and line["category-metadata"]["adjustment-status"] == "adjusted"
    assert line["category-metadata"]["label-error"]["index"] == 7
