"""The report's labeling team section with pre-annotation's figures (report.team, report.page)."""

from __future__ import annotations

from report.model import RunData
from report.page import team_html
from report.team import parse_team


def render(raw: dict[str, object]) -> str:
    data = RunData(run_id="r", outcome="SUCCEEDED", task_type="image-classification", class_names=["cat"])
    data.team = parse_team(raw, "state")
    return team_html(data)


def test_the_share_of_answers_taking_the_models_suggestion_is_shown() -> None:
    # Given team statistics where 7 of 10 answers on 10 suggested objects took the suggestion unchanged
    suggestions = {"objects": 10, "answers": 10, "accepted": 7, "accepted_share": 0.7}
    html = render({"workers": [{"worker_id": "a", "answers": 10}], "answers": 10, "suggestions": suggestions})
    # When rendered, then a card shows the share and the counts
    assert "model suggestions accepted" in html and "70.0%" in html
    assert "7 of 10 answers on 10 suggested objects" in html


def test_statistics_without_suggestions_show_no_suggestion_card() -> None:
    # Given statistics of a job without suggestions (and malformed figures), then no card
    for raw in ({"workers": [], "answers": 0}, {"workers": [], "answers": 0, "suggestions": "yes"}):
        assert "model suggestions accepted" not in render(raw)
