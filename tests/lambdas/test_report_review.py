"""The report's labeling team section with the review stage's figures (report.team, report.page)."""

from __future__ import annotations

from report.model import RunData
from report.page import team_html
from report.team import parse_team

REVIEW = {
    "items": 12,
    "accepted": 7,
    "fixed": 4,
    "rejected": 1,
    "pending": 0,
    "rounds": 3,
    "extra_answers": 3,
    "selected_because": {"disagreed": 10, "qa-sample": 2},
}


def test_review_figures_are_read_and_shown() -> None:
    # Given team statistics with the review stage's figures
    team = parse_team(
        {"workers": [{"worker_id": "a", "answers": 3}], "answers": 3, "review": REVIEW}, "state"
    )
    assert team.review["fixed"] == 4 and team.review["extra_answers"] == 3
    data = RunData(run_id="r", outcome="SUCCEEDED", task_type="image-classification", class_names=["cat"])
    data.team = team
    # When the team section is rendered; then the review table shows the decisions and the re-queues
    html = team_html(data)
    assert "<h3>Review</h3>" in html and "re-queues" in html and "extra answers" in html


def test_statistics_without_review_show_no_review() -> None:
    # Given statistics of a job without review (and malformed review figures)
    for raw in ({"workers": [], "answers": 0}, {"workers": [], "answers": 0, "review": "yes"}):
        team = parse_team(raw, "state")
        data = RunData(run_id="r", outcome="SUCCEEDED", task_type="image-classification", class_names=["cat"])
        data.team = team
        # Then there is no review table
        assert team.review == {} and "<h3>Review</h3>" not in team_html(data)
