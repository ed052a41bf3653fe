"""The HTML run report in a real browser: headless Chromium (Debian's ``chromium`` package, driven by
Playwright) opens a report fetched from the local cloud with ``gtpipe report``.

Given a recorded run (``tests/lambdas/recorded_run/``: ten digit classes, one with a single image and
one empty) installed into the local cloud's data bucket, runs ledger and logs, and its report rendered
there by the report Lambda's own modules (``report.handler.write_report``), when ``gtpipe report RUN
--local --out DIR`` downloads it and Chromium opens ``DIR/index.html``, then every image has loaded
(``naturalWidth > 0``), the title and the headline name the run, and the console shows no errors.

``GTPIPE_SAVE_SCREENSHOT=1`` also saves the top of the page to ``docs/report-screenshot.png``.
Chromium comes from ``make install`` (target ``browser``); without it this test fails, it never skips.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gtpipe_cli.errors import Exit
from tests.browser.chromium import launch, require_browser
from tests.cli.cloud import cli_cloud
from tests.cli.conftest import gtpipe

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "report-screenshot.png"
VIEWPORT = {"width": 1280, "height": 1600}
LOAD_ALL_IMAGES = """Promise.all(Array.from(document.images).map(image => {
    image.loading = "eager";
    return image.complete ? null : new Promise(done => { image.onload = image.onerror = done; });
}))"""


@dataclass
class Rendered:
    """A recorded run installed in the local cloud with its report written to the data bucket."""

    run_id: str
    bucket: str
    figures: list[str]
    state_dir: Path


def localized(value: Any, old: str, new: str) -> Any:
    """``value`` (JSON-like) with the recorded run's bucket name replaced by the local cloud's."""
    return json.loads(json.dumps(value).replace(old, new))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rendered]:
    import boto3
    from gtpipe_shared.ledger import to_dynamo
    from gtpipe_shared.pricing import LabelingPrices
    from report.gather import Clients, Settings
    from report.handler import parse_request, write_report

    from local.sagemaker.training_logs import put_log_events
    from tests.lambdas import recorded_run

    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "gtpipe")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
    state_dir = tmp_path_factory.mktemp("browser-cloud")
    with cli_cloud(state_dir) as cloud:
        bucket, table = str(cloud.outputs["DataBucketName"]), str(cloud.outputs["RunsTableName"])
        per_class = [6] * 10
        per_class[1], per_class[9] = 1, 0  # a tiny and an empty class
        run = recorded_run.build_run(classes=10, per_class=per_class)
        s3, logs = cloud.client("s3"), cloud.client("logs")
        for key, body in run.objects.items():
            if not key.endswith((".png", ".jpg", ".jpeg")):
                body = body.replace(recorded_run.BUCKET.encode(), bucket.encode())
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        runs_table = boto3.resource(
            "dynamodb",
            endpoint_url=cloud.endpoint_url,
            region_name=cloud.outputs["Region"],
            aws_access_key_id=cloud.outputs["AccessKeyId"],
            aws_secret_access_key=cloud.outputs["SecretAccessKey"],
        ).Table(table)
        runs_table.put_item(Item=to_dynamo(localized(run.ledger_item, recorded_run.BUCKET, bucket)))
        if run.training_job and run.log_lines:
            logs.create_log_group(logGroupName=recorded_run.LOG_GROUP)
            stream = f"{run.training_job}/algo-1-{int(run.started.timestamp())}"
            logs.create_log_stream(logGroupName=recorded_run.LOG_GROUP, logStreamName=stream)
            put_log_events(logs, recorded_run.LOG_GROUP, stream, recorded_run.log_events(run))
        request = parse_request(localized(run.event(), recorded_run.BUCKET, bucket))
        clients = Clients(s3=s3, sagemaker=cloud.client("sagemaker"), logs=logs, runs_table=runs_table)
        answer = write_report(
            request, Settings(data_bucket=bucket, prices=LabelingPrices.from_mapping(None)), clients
        )
        yield Rendered(run.run_id, bucket, list(answer["figures"]), state_dir)


def test_report_fetched_with_gtpipe_renders_in_chromium_without_broken_images(
    rendered: Rendered, tmp_path: Path
) -> None:
    sync_playwright = require_browser()
    out = tmp_path / "report"
    fetched = gtpipe(
        "report", rendered.run_id, "--local", "--state-dir", str(rendered.state_dir), "--out", str(out)
    )
    assert fetched.code == Exit.OK, fetched.err
    index = out / "index.html"
    assert str(index.resolve()) in fetched.out.splitlines()
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(rendered.figures)
    assert len(rendered.figures) >= 6
    # The training log reached CloudWatch Logs, so the report drew its curves from it.
    assert "training_curves.png" in rendered.figures

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.on(
                "console",
                lambda message: (
                    problems.append(f"console {message.type}: {message.text}")
                    if message.type == "error"
                    else None
                ),
            )
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
            page.goto(index.resolve().as_uri(), wait_until="load")
            # Figures below the fold may be lazy: load every image now, then look at each.
            page.evaluate(LOAD_ALL_IMAGES)
            title = page.title()
            headline = page.locator("h1").first.inner_text()
            images = page.evaluate(
                "Array.from(document.images).map(i => ({src: i.getAttribute('src'), complete: i.complete,"
                " width: i.naturalWidth, height: i.naturalHeight}))"
            )
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=False)
        finally:
            browser.close()

    assert rendered.run_id in title and rendered.run_id in headline
    assert {Path(image["src"]).name for image in images} == set(rendered.figures)
    broken = [image["src"] for image in images if not image["complete"] or image["width"] <= 0]
    assert not broken, f"images that did not load: {broken}"
    assert all(image["height"] > 0 for image in images)
    assert not problems, problems

    from PIL import Image, ImageStat

    with Image.open(shot) as screenshot:
        assert screenshot.format == "PNG"
        assert screenshot.size == (VIEWPORT["width"], VIEWPORT["height"])
        assert ImageStat.Stat(screenshot.convert("L")).stddev[0] > 10  # not a blank page
    if os.environ.get("GTPIPE_SAVE_SCREENSHOT") == "1":
        shutil.copyfile(shot, SCREENSHOT)
