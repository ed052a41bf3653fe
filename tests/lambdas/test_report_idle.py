"""The run report shows the endpoint's idle parking so far (gtpipe_shared.idle.usage_summary)."""

from __future__ import annotations

from report.model import RunData
from report.page import headline_cards


def test_the_report_shows_hours_served_and_parked_and_the_cost_avoided() -> None:
    # Given a serving endpoint parked for 30.5 hours so far ($7.02 avoided) after serving 12.26
    data = RunData(run_id="r", outcome="succeeded", task_type="image-classification", class_names=["a", "b"])
    data.endpoint_usage = {
        "served_hours": 12.26,
        "parked_hours": 30.5,
        "cost_avoided_usd": 7.02,
        "parks": 3,
        "wakes": 2,
    }
    # When the headline is rendered / Then one card says so
    html = headline_cards(data)
    assert "endpoint parked" in html and "30.5 h" in html
    assert "12.3 h served" in html and "$7.02 avoided" in html and "3 parks, 2 wakes" in html


def test_no_card_before_the_endpoint_was_ever_parked() -> None:
    data = RunData(run_id="r", outcome="succeeded", task_type="image-classification", class_names=["a", "b"])
    assert "endpoint parked" not in headline_cards(data)
