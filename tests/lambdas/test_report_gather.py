"""Report Lambda, without AWS: what the gatherer reads (report.gather), the labeling team's statistics
(report.team) and the labeling cost of a builtin run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from gtpipe_shared.pricing import LabelingPrices
from report import figures, page
from report.model import RunData
from report.team import parse_team

from tests.lambdas.report_fixtures import T0


def test_training_log_is_read_with_filter_log_events_without_describe_permission() -> None:
    # given a role that may not DescribeLogStreams but may FilterLogEvents (two pages)
    from botocore.exceptions import ClientError
    from report.gather import Clients, Gatherer, Settings

    class Logs:
        def __init__(self) -> None:
            self.calls: list[dict[str, object]] = []

        def describe_log_streams(self, **_: object) -> dict[str, object]:
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "DescribeLogStreams"
            )

        def filter_log_events(self, **params: object) -> dict[str, object]:
            self.calls.append(params)
            if "nextToken" not in params:
                return {"events": [{"message": "Epoch[0] Validation-accuracy=0.5"}], "nextToken": "t1"}
            return {"events": [{"message": "Epoch[1] Validation-accuracy=0.75"}]}

    logs = Logs()
    gatherer = Gatherer(
        "r", "succeeded", {}, Settings("b", LabelingPrices()), Clients(None, None, logs, None)
    )
    # when the job's log is read
    messages = gatherer._log_messages("r-train-0")
    # then both pages of the job's first host stream are returned in order
    assert messages == ["Epoch[0] Validation-accuracy=0.5", "Epoch[1] Validation-accuracy=0.75"]
    assert logs.calls[0]["logStreamNamePrefix"] == "r-train-0/algo-1"


@pytest.mark.parametrize(
    ("ledger", "state"),
    [
        ({"label_counters": {"human": 7, "machine": 3, "total": 10, "failed": 1}}, {}),
        ({}, {"labeling_record": {"label_counters": {"human": 7, "machine": 3, "total": 10, "failed": 1}}}),
        ({"labeling": {"human_labeled": 7, "machine_labeled": 3, "total": 10, "failed": 1}}, {}),
        (
            {},
            {
                "labeling": {
                    "counters": {
                        "HumanLabeled": 7,
                        "MachineLabeled": 3,
                        "TotalLabeled": 10,
                        "FailedNonRetryableError": 1,
                    }
                }
            },
        ),
    ],
    ids=["ledger-label_counters", "state-labeling_record", "ledger-labeling-map", "state-LabelCounters"],
)
def test_label_counts_are_read_from_any_record_of_them(
    ledger: dict[str, object], state: dict[str, object]
) -> None:
    from report.gather import Clients, Gatherer, Settings

    gatherer = Gatherer(
        "r", "succeeded", state, Settings("b", LabelingPrices()), Clients(None, None, None, None)
    )
    gatherer.ledger = dict(ledger)
    assert gatherer._label_counts() == {"human": 7, "machine": 3, "total": 10, "failed": 1}


def test_run_prices_win_over_the_stack_prices_and_bad_ones_are_reported() -> None:
    from report.gather import Clients, Gatherer, Settings

    state = {"config": {"labeling": {"prices": {"per_object_usd": 0.5}}}}
    gatherer = Gatherer(
        "r", "succeeded", state, Settings("b", LabelingPrices()), Clients(None, None, None, None)
    )
    assert gatherer._prices().per_object_usd == 0.5
    bad = Gatherer(
        "r",
        "succeeded",
        {"config": {"labeling": {"prices": {"per_object_usd": -1}}}},
        Settings("b", LabelingPrices(per_object_usd=0.2)),
        Clients(None, None, None, None),
    )
    assert bad._prices().per_object_usd == 0.2
    assert any("not a valid price table" in w for w in bad.data.warnings)


# -- labeling team (builtin labeling service) -------------------------------------------------------

TEAM_STATS = {
    "workers": [
        {"worker_id": "s1", "username": "alice@example.com", "answers": 4, "mean_seconds": 5, "agreement": 1},
        {"worker_id": "s2", "username": "<b>bob</b>", "answers": 3, "mean_seconds": 3.5, "agreement": 0.667},
        {"worker_id": "s3", "username": "carol@example.com", "answers": 1, "mean_seconds": 2},
    ],
    "classes": [
        {"class_name": "cat", "objects": 2, "agreement": 1.0},
        {"class_name": "<i>dog</i>", "objects": 1},
    ],
    "answers": 8,
    "objects": 3,
    "started_at": "2026-05-01T10:00:00Z",
    "finished_at": "2026-05-01T10:30:00Z",
    "active_seconds": 1800,
    "answers_per_hour": 16,
    "objects_per_hour": 6,
    "mean_seconds_per_task": 3.88,
}


def _team_gatherer(state: dict[str, object], ledger: dict[str, object]):
    from report.gather import Clients, Gatherer, Settings

    gatherer = Gatherer(
        "r", "succeeded", state, Settings("b", LabelingPrices()), Clients(None, None, None, None)
    )
    gatherer.ledger = dict(ledger)
    gatherer._team()
    return gatherer.data


def test_team_statistics_come_from_the_ledger_or_else_the_state() -> None:
    # Given the statistics in the ledger (as DynamoDB returns them: whole floats as ints, None dropped)
    from_ledger = _team_gatherer({"labeling": {"team": {"workers": []}}}, {"labeling_team": TEAM_STATS})
    # Then the ledger's are read, numbers as floats and absent agreements as None
    team = from_ledger.team
    assert team is not None and team.source == "runs ledger (labeling_team)"
    assert [(w.username, w.answers, w.mean_seconds, w.agreement) for w in team.workers] == [
        ("alice@example.com", 4, 5.0, 1.0),
        ("<b>bob</b>", 3, 3.5, 0.667),
        ("carol@example.com", 1, 2.0, None),
    ]
    assert (team.answers_per_hour, team.objects_per_hour, team.mean_seconds_per_task) == (16.0, 6.0, 3.88)
    assert team.started_at == datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    # And without a ledger record the state's labeling.team is used
    from_state = _team_gatherer({"labeling": {"backend": "builtin", "team": TEAM_STATS}}, {})
    assert from_state.team is not None and from_state.team.source.startswith("state machine")


@pytest.mark.parametrize(
    ("state", "ledger", "reason"),
    [
        ({"config": {"labeling": {"backend": "ground-truth"}}}, {"labeling": {}}, "SageMaker Ground Truth"),
        ({"config": {"labeling": {"backend": "builtin"}}}, {"labeling": {}}, "recorded no team statistics"),
        ({"manifest": {"kind": "augmented"}}, {}, "no labeling job ran"),
    ],
    ids=["ground-truth", "builtin-unfinished", "augmented"],
)
def test_missing_team_statistics_say_why(
    state: dict[str, object], ledger: dict[str, object], reason: str
) -> None:
    data = _team_gatherer(state, ledger)
    assert data.team is None and reason in data.unavailable["team"]


def test_malformed_team_statistics_are_refused_with_the_source_named() -> None:
    with pytest.raises(ValueError, match="runs ledger holds no team statistics"):
        parse_team({"workers": "all of them"}, "runs ledger")
    # a stray entry is skipped, an impossible share dropped
    team = parse_team({"workers": [1, {"username": "x", "answers": 2, "agreement": 7}]}, "state")
    assert [(w.username, w.answers, w.agreement) for w in team.workers] == [("x", 2, None)]


def test_labeling_team_section_shows_throughput_workers_classes_and_a_figure() -> None:
    # Given a run labeled by the builtin service's team (hostile user and class names included)
    data = RunData(
        run_id="r", outcome="succeeded", task_type="image-classification", class_names=["cat", "dog"]
    )
    data.team = parse_team(TEAM_STATS, "runs ledger (labeling_team)")
    # When the figures and the page are rendered
    rendered = {f.name: f for f in figures.render_figures(data)}
    html = page.render_page(data, list(rendered.values()), T0)
    # Then the agreement figure is a PNG in the team section
    agreement = rendered["team_agreement.png"]
    assert agreement.section == "team" and agreement.png is not None and agreement.png.startswith(b"\x89PNG")
    team_section = html.split('<section id="team">', 1)[1].split("</section>", 1)[0]
    assert '<img src="figures/team_agreement.png"' in team_section
    # And the throughput, the labelers and the classes are shown, every name escaped
    assert "16.0 / h" in team_section and "6.0 / h" in team_section and "3.9 s" in team_section
    assert "8 answers in 30 min 00 s" in team_section
    assert (
        "<td>&lt;b&gt;bob&lt;/b&gt;</td><td class=n>3</td><td class=n>3.5</td><td class=n>66.7%</td>"
        in team_section
    )
    assert (
        "<td>carol@example.com</td><td class=n>1</td><td class=n>2.0</td><td class=n>-</td>" in team_section
    )
    assert "<td>&lt;i&gt;dog&lt;/i&gt;</td><td class=n>1</td><td class=n>-</td>" in team_section
    assert "<b>bob" not in html and "<i>dog" not in html


def test_labeling_team_without_statistics_says_why_once() -> None:
    data = RunData(run_id="r", outcome="succeeded", task_type="object-detection", class_names=["cat"])
    data.missing("team", "the labels come from SageMaker Ground Truth")
    rendered = figures.render_figures(data)
    html = page.render_page(data, rendered, T0)
    team_section = html.split('<section id="team">', 1)[1].split("</section>", 1)[0]
    assert team_section.count("not available") == 1
    assert "not available: the labels come from SageMaker Ground Truth" in team_section


# -- labeling cost of a builtin run ---------------------------------------------------------------------


def _cost_gatherer(state: dict[str, object], ledger: dict[str, object]):
    from report.gather import Clients, Gatherer, Settings

    gatherer = Gatherer(
        "r", "succeeded", state, Settings("b", LabelingPrices()), Clients(None, None, None, None)
    )
    gatherer.ledger = {"labeling": {"job": "j"}, **ledger}
    gatherer.data.headline.human_labeled = 3
    gatherer._cost()
    return gatherer.data


def test_builtin_actual_cost_is_the_measured_answers_and_seconds() -> None:
    from gtpipe_shared.pricing import BuiltinPricing

    settings = {"backend": "builtin", "workers_per_object": 3, "labeler_hourly_rate_usd": 20.0}
    data = _cost_gatherer({"config": {"labeling": settings}, "labeling": {"team": TEAM_STATS}}, {})
    # Given no cost in the ledger / Then the report prices the 8 measured answers and their 8 x 3.88 seconds
    pricing = BuiltinPricing(labeler_hourly_rate_usd=20.0)
    expected = round(8 * pricing.aws_answer_usd + 8 * 3.88 / 3600 * 20.0, 2)
    assert data.cost is not None
    assert data.cost.actual_human_usd == pytest.approx(expected)
    assert data.cost.actual_machine_usd == 0.0
    assert "8 answers" in (data.cost.actual_note or "")
    # and not at Ground Truth's prices (3 objects x ($0.08 + 3 x $0.012))
    assert data.cost.actual_total_usd != pytest.approx(3 * (0.08 + 3 * 0.012))
    # and a recorded actual (notify's, from the same model) wins
    recorded = {"labeling_cost": {"human_usd": 0.5, "machine_usd": 0.0, "estimated_usd": 1.0}}
    from_ledger = _cost_gatherer({"config": {"labeling": settings}}, recorded)
    assert from_ledger.cost is not None and from_ledger.cost.actual_human_usd == 0.5
    assert from_ledger.cost.human_object_usd == pytest.approx(0.5 / 3)


def test_builtin_estimate_computed_by_the_report_follows_the_builtin_model() -> None:
    from gtpipe_shared.pricing import BuiltinPricing

    settings = {"backend": "builtin", "workers_per_object": 2, "seconds_per_task": 10.0}
    data = _cost_gatherer({"config": {"labeling": settings}, "manifest": {"line_count": 500}}, {})
    assert data.cost is not None
    assert data.cost.estimated_usd == BuiltinPricing(seconds_per_task=10.0).estimate(500, 2)
    assert "builtin labeling service" in (data.cost.estimate_note or "")


def test_labeling_team_section_shows_answers_per_object_and_extra_answer_agreement() -> None:
    # Given statistics of an adaptive job: 3 objects with 1 answer, 1 with 2 and 1 with 3 (as the ledger
    # returns them: string keys), 3 extra answers of which 2 agreed with their object's first
    data = RunData(
        run_id="r", outcome="succeeded", task_type="image-classification", class_names=["cat", "dog"]
    )
    stats = {
        **TEAM_STATS,
        "answers_per_object": 1.6,
        "answer_counts": {"1": 3, "2": 1, "3": 1, "x": 4},
        "extra_answers": 3,
        "extra_agreement": 0.667,
    }
    data.team = parse_team(stats, "runs ledger (labeling_team)")
    # When the page is rendered
    html = page.render_page(data, [], T0)
    team_section = html.split('<section id="team">', 1)[1].split("</section>", 1)[0]
    # Then the team section shows answers per object, its spread and how often extra answers agreed
    assert data.team is not None and data.team.answer_counts == {1: 3, 2: 1, 3: 1}
    assert "answers per object" in team_section and "1.60" in team_section
    assert "objects: 3 with 1, 1 with 2, 1 with 3; extra answers agreed with the first: 66.7% of 3" in (
        team_section
    )
    # and statistics written before these figures existed show no such card
    older = RunData(run_id="r", outcome="succeeded", task_type="image-classification", class_names=["cat"])
    older.team = parse_team(TEAM_STATS, "runs ledger (labeling_team)")
    assert "answers per object" not in page.render_page(older, [], T0)
