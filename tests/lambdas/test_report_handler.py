"""Report Lambda handler contract on moto's empty cloud: the sample events in tests/events/ with nothing
stored still give a report; an invalid event writes nothing."""

from __future__ import annotations

import pytest
from report import handler

from tests.lambdas.conftest import DATA_BUCKET, Cloud, FakeContext, load_event
from tests.lambdas.recorded_run import images_of


@pytest.mark.parametrize("event_name", ["report_payload.json", "report_failed_payload.json"])
def test_sample_event_with_nothing_stored_still_writes_a_report(
    cloud: Cloud, context: FakeContext, event_name: str
) -> None:
    # given the sample event but no object, ledger item or log of the run
    event = load_event(event_name)
    # when the report is written
    answer = handler.lambda_handler(event, context)
    # then the page exists, explains every missing part and links only what was drawn
    html = cloud.read(f"reports/{event['run_id']}/index.html").decode()
    assert answer["report_uri"].endswith(f"reports/{event['run_id']}/index.html")
    assert set(images_of(html).sources) == {f"figures/{name}" for name in answer["figures"]}
    assert "class_histogram.png" not in answer["figures"]
    assert "not available: the labeled manifest" in html
    assert f"run {event['run_id']} has no item in the runs ledger" in answer["warnings"]


def test_invalid_event_is_refused_before_anything_is_written(cloud: Cloud, context: FakeContext) -> None:
    with pytest.raises(handler.ReportError, match="invalid report event: outcome"):
        handler.lambda_handler({"run_id": "demo-0123456789abcdef", "outcome": "maybe", "state": {}}, context)
    assert "Contents" not in cloud.s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix="reports/")
