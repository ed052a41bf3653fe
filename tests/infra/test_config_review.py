"""gtpipe:labeling.review and the reviewers of gtpipe:labelingTeam: validated at synth."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config_reader import ConfigError
from infra.config_workforce import read_labeling_team
from tests.infra.test_config import BUILTIN, build


def test_review_is_off_unless_enabled_and_has_defaults() -> None:
    # Given the builtin backend without review, with review present but not enabled, and enabled
    unset = build(**BUILTIN).labeling.model_dump()
    disabled = build(**BUILTIN, labeling={"review": {"enabled": False, "maxRounds": 3}}).labeling
    enabled = build(**BUILTIN, labeling={"review": {"enabled": True}}).labeling
    # Then the functions' config has no review until it is enabled, and then the defaults
    assert "review" not in unset and disabled.review is None
    assert enabled.model_dump()["review"] == {
        "confidence_threshold": 0.8,
        "qa_sample_percent": 5.0,
        "max_rounds": 2,
    }


def test_chosen_review_settings_travel() -> None:
    # Given every review setting chosen
    raw = {"enabled": True, "confidenceThreshold": 0.9, "qaSamplePercent": "10", "maxRounds": 0}
    # When read; then they are in the run's labeling settings
    chosen = build(**BUILTIN, labeling={"review": raw}).labeling.model_dump()["review"]
    assert chosen == {"confidence_threshold": 0.9, "qa_sample_percent": 10.0, "max_rounds": 0}


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            {"labeling": {"review": {"enabled": True}}},
            "gtpipe:labeling.review is the builtin labeling service's",
        ),
        ({**BUILTIN, "labeling": {"review": True}}, "gtpipe:labeling.review must be an object"),
        ({**BUILTIN, "labeling": {"review": {"enabled": "yes"}}}, "enabled must be true or false"),
        ({**BUILTIN, "labeling": {"review": {"enabled": True, "rounds": 1}}}, "unknown keys rounds"),
        (
            {**BUILTIN, "labeling": {"review": {"enabled": True, "maxRounds": 6}}},
            "maxRounds must be a whole number between 0 and 5",
        ),
        (
            {**BUILTIN, "labeling": {"review": {"enabled": True, "qaSamplePercent": 101}}},
            "qaSamplePercent must be between 0.0 and 100.0",
        ),
        (
            {**BUILTIN, "labeling": {"review": {"enabled": True, "confidenceThreshold": 0}}},
            "confidenceThreshold must be between 0.01 and 1.0",
        ),
    ],
)
def test_invalid_review_settings_name_the_key(context: dict[str, Any], message: str) -> None:
    # Given a review setting the service cannot use; when the config is read; then it names the key
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        build(**context)


def test_reviewers_are_team_members_once_whatever_their_other_groups() -> None:
    # Given a reviewer who is also a labeler, and one who is only a reviewer
    team = read_labeling_team(
        {"labelers": ["ana@example.com"], "reviewers": ["Ana@example.com", "rev@example.com"]}
    )
    # Then each address is one member, labelers first, and both are reviewers
    assert team.members == ("ana@example.com", "rev@example.com")
    assert team.reviewers == ("ana@example.com", "rev@example.com")
