"""The review view in Chromium: a reviewer fixes a label, against the real labeling API on moto.

Given a job with the review stage whose only object got two disagreeing answers (one with a comment), the
page is served by the labeling_web function's routing and ``api/...`` by the labeling_api function itself
(``labeling_api.handler.handle``, with the caller's claims as the Cognito authorizer passes them) over
the service's tasks table on moto. When a member of ``labeling-reviewers`` opens the job's "Review"
button, then the page shows the image, the consolidated label and the anonymised answers with the comment;
when they pick the right class with its key and send the fix, then the service records the fix, the job
completes (its finish starts) and the output manifest carries the fixed label in Ground Truth's
verification shape. A labeler (not a reviewer) sees no "Review" button. Chromium comes from ``make
install``; without it this test fails, it never skips.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import pytest
from gtpipe_shared import labeling_store as store
from gtpipe_shared.labeling_output import OUTPUT_MANIFEST_KEY
from labeling_api import handler
from labeling_web.pages import Request, load_files, route
from moto import mock_aws

from tests.browser.chromium import launch, require_browser
from tests.browser.fake_labeling import APP, SESSION, SETTINGS, VIEWPORT, png
from tests.lambdas.labeling_fixtures import LABELING_TABLE, create_labeling_table
from tests.lambdas.test_shared_labeling_store import JOB, NOW, manifest, spec

REVIEWER = "9c1e0d3b-2222-4c6e-9a0b-bbbbbbbbbbbb"
BUCKET = "gtpipe-data-bucket"


class FakeLambda:
    """Records the finish the last decision starts."""

    def __init__(self) -> None:
        self.invokes: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.invokes.append(kwargs)
        return {"StatusCode": 202}


def api_on_moto(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, FakeLambda]:
    """Inside ``mock_aws``: the tasks table, and the labeling API's environment, clock (``NOW``) and Lambda
    client (the fake that records the finish) set for the test."""
    import boto3

    tasks = create_labeling_table(boto3.resource("dynamodb", region_name="us-east-1"))
    for name, value in {
        "LABELING_TABLE": LABELING_TABLE,
        "DATA_BUCKET": BUCKET,
        "RUNS_TABLE": "gtpipe-runs",
        "LABELING_FUNCTION_NAME": "gtpipe-labeling",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("USER_POOL_ID", raising=False)
    fake = FakeLambda()
    monkeypatch.setattr(handler, "lambda_client", lambda: fake)
    monkeypatch.setattr(handler, "clock", lambda: NOW)
    return tasks, fake


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, FakeLambda]]:
    """The tasks table on moto with one reviewed job: object 0 answered "cat" (with a comment) and "dog"."""
    with mock_aws():
        tasks, fake = api_on_moto(monkeypatch)
        review = {"confidence_threshold": 0.5, "qa_sample_percent": 0.0, "max_rounds": 1}
        store.open_job(
            tasks, replace(spec(workers=2), review=review), store.objects_from_manifest(manifest(1)), NOW
        )
        for worker, label, comment in (("w1", 0, "could be a fox"), ("w2", 1, "")):
            lease = store.lease(tasks, JOB, worker, NOW)
            assert lease is not None
            given = store.Answering(
                JOB, 0, worker, lease.lease_id, {"label": label}, 3.0, worker, None, comment
            )
            store.submit(tasks, given, NOW)
        yield tasks, fake


def _fulfil(route_: Any, files: dict[str, Any], groups: list[str], image: bytes) -> None:
    request = route_.request
    url = urlsplit(request.url)
    if url.hostname and url.hostname.endswith("amazonaws.com"):
        route_.fulfill(status=200, body=image, headers={"Content-Type": "image/png"})
        return
    path = url.path[len("/prod") :]
    if path.startswith("/api/"):
        claims = {"sub": REVIEWER, "email": "rev@example.com", "cognito:username": REVIEWER}
        event = {
            "httpMethod": request.method,
            "path": path,
            "body": request.post_data,
            "requestContext": {
                "path": url.path,
                "authorizer": {"claims": {**claims, "cognito:groups": groups}},
            },
        }
        answer = handler.handle(event)
        route_.fulfill(status=answer["statusCode"], body=answer["body"], headers=answer["headers"])
        return
    event = {"httpMethod": request.method, "path": path or "/", "requestContext": {"path": url.path}}
    answer = route(Request.from_event(event), files, SETTINGS)
    route_.fulfill(status=answer["statusCode"], body=answer["body"], headers=answer["headers"])


def open_app(
    playwright: Any, groups: list[str], image_size: tuple[int, int] = (320, 240)
) -> tuple[Any, Any, list[str]]:
    """Chromium at 1280x900 on the app, signed in with ``groups``, its job list shown; every image the
    presigned URLs name is a ``image_size`` PNG. Returns the browser, the page and the page's errors."""
    browser = launch(playwright)
    page = browser.new_context(viewport=VIEWPORT).new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    files = load_files()
    image = png(*image_size)
    page.route("**/*", lambda route_: _fulfil(route_, files, groups, image))
    session = {**SESSION, "username": "rev@example.com", "email": "rev@example.com", "groups": groups}
    page.add_init_script(
        f"if (location.href.startsWith({json.dumps(APP)})) "
        f"sessionStorage.setItem('gtpipe.labeling.session', {json.dumps(json.dumps(session))});"
    )
    page.goto(APP)
    page.wait_for_selector('[data-job="' + JOB + '"]')
    return browser, page, problems


def test_a_reviewer_fixes_a_label_in_the_review_view(service: tuple[Any, FakeLambda]) -> None:
    tasks, fake = service
    with require_browser()() as playwright:
        browser, page, problems = open_app(playwright, ["labeling-reviewers"])
        try:
            # When the reviewer opens the job's review
            page.click(f'[data-review-job="{JOB}"]')
            page.wait_for_function("() => document.querySelector('#review-image').dataset.ready === 'true'")
            # Then the consolidated label and the anonymised answers, with the comment, are shown
            assert page.text_content("#review-label").startswith("cat")
            answers = page.text_content("#review-answers")
            assert "Labeler 1: cat" in answers and "could be a fox" in answers and "Labeler 2: dog" in answers
            assert "w1" not in answers and "w2" not in answers
            assert page.get_attribute('#review-classes [data-class-index="0"]', "aria-pressed") == "true"
            # When they press the class key of "dog" ("d": the labeling view's rule, distinct first letters)
            page.keyboard.press("d")
            assert page.get_attribute('#review-classes [data-class-index="1"]', "aria-pressed") == "true"
            page.click("#review-fix")
            page.wait_for_function("() => !document.querySelector('#jobs-view').hidden")
        finally:
            browser.close()
        assert problems == []
    # Then the service recorded the fix, the job completed and its finish started
    assert store.get_job(tasks, JOB)["status"] == store.CONSOLIDATING and len(fake.invokes) == 1
    output = store.job_output(tasks, store.get_job(tasks, JOB), NOW)
    key = next(k for k in output.files if k.endswith(OUTPUT_MANIFEST_KEY))
    (line,) = [json.loads(raw) for raw in output.files[key].splitlines()]
    assert line["category"] == 1 and line["category-metadata"]["adjustment-status"] == "adjusted"
    assert line["category-verification"] == "0"
    assert line["category-metadata"]["worker-feedback"] == [{"comment": "could be a fox"}]


def test_a_labeler_sees_no_review_button(service: tuple[Any, FakeLambda]) -> None:
    with require_browser()() as playwright:
        browser, page, problems = open_app(playwright, ["labelers"])
        try:
            # Given a labeler (not a reviewer); then the job has no review button
            assert page.query_selector(f'[data-review-job="{JOB}"]') is None
        finally:
            browser.close()
        assert problems == []
