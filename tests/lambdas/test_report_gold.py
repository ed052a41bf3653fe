"""The report's labeling team section with gold figures (report.team, report.page)."""

from __future__ import annotations

from report.model import RunData
from report.page import team_html
from report.team import parse_team

STATS = {
    "workers": [
        {
            "worker_id": "a",
            "username": "ann@example.com",
            "answers": 30,
            "agreement": 0.9,
            "gold_accuracy": 0.95,
            "gold_answers": 20,
        },
        {
            "worker_id": "b",
            "username": "bo@example.com",
            "answers": 30,
            "agreement": 0.6,
            "gold_accuracy": 0.55,
            "gold_answers": 20,
        },
    ],
    "answers": 60,
    "objects": 20,
    "gold": {
        "objects": 12,
        "answers": 40,
        "label_accuracy": [
            {"class_name": "cat", "items": 8, "correct": 7, "accuracy": 0.875, "low": 0.529, "high": 0.978},
            {"class_name": None, "items": 12, "correct": 10, "accuracy": 0.833, "low": 0.552, "high": 0.953},
            {"class_name": "dog", "items": "many"},  # malformed: dropped
        ],
    },
}


def test_gold_figures_are_read_and_shown_with_their_interval() -> None:
    # Given team statistics with gold figures
    team = parse_team(STATS, "runs ledger (labeling_team)")
    # Then each labeler's gold accuracy and the label accuracy rows are read (malformed rows dropped)
    assert [(w.gold_accuracy, w.gold_answers) for w in team.workers] == [(0.95, 20), (0.55, 20)]
    assert [(row.class_name, row.correct, row.items) for row in team.label_accuracy] == [
        ("cat", 7, 8),
        (None, 10, 12),
    ]
    assert team.gold_answers == 40
    # When the team section is rendered
    data = RunData(
        run_id="r", outcome="SUCCEEDED", task_type="image-classification", class_names=["cat", "dog"]
    )
    data.team = team
    html = team_html(data)
    # Then it shows the gold accuracy column and the per-class accuracy with its interval
    assert "gold accuracy" in html and "55.0% of 20" in html
    assert "Label accuracy (gold objects)" in html
    assert "87.5%" in html and "52.9% to 97.8%" in html and "all classes" in html


def test_statistics_without_gold_show_no_gold_parts() -> None:
    # Given statistics written without gold objects
    team = parse_team({"workers": [{"worker_id": "a", "answers": 3}], "answers": 3}, "state")
    data = RunData(run_id="r", outcome="SUCCEEDED", task_type="image-classification", class_names=["cat"])
    data.team = team
    # Then there is neither a gold column nor a label accuracy table
    html = team_html(data)
    assert team.label_accuracy == [] and "gold" not in html.lower()
