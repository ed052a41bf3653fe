"""The review stage in the synthesized stack: the reviewers' group, their attachments and the review routes
(only with gtpipe:labeling.review enabled; existing users keep their logical ids)."""

from __future__ import annotations

import pytest

from tests.infra.conftest import BUILTIN_TEAM, Synthesized, synthesize
from tests.infra.test_labeling_service import API_METHODS, STATIC_METHODS, methods_by_path, team_logical_ids

REVIEW_METHODS = {("POST", "/api/jobs/{job}/review/lease"), ("POST", "/api/jobs/{job}/review/{index}/decide")}


@pytest.fixture(scope="module")
def synth_review() -> Synthesized:
    """The builtin backend with review on and the usual team plus a reviewer who is also a labeler."""
    team = {**BUILTIN_TEAM, "reviewers": ["rev@example.com", BUILTIN_TEAM["labelers"][0]]}
    return synthesize(labelingBackend="builtin", labelingTeam=team, labeling={"review": {"enabled": True}})


def test_reviewers_get_their_group_and_existing_users_keep_their_ids(
    synth_review: Synthesized, synth_builtin: Synthesized
) -> None:
    # Given the same team with reviewers added and review on
    groups = synth_review.main.find_resources("AWS::Cognito::UserPoolGroup")
    # Then the reviewers' group exists and each reviewer is attached to it, once as a user
    assert sorted(g["Properties"]["GroupName"] for g in groups.values()) == [
        "labelers",
        "labeling-admins",
        "labeling-reviewers",
    ]
    after = team_logical_ids(synth_review)
    reviewer_pairs = {key for key in after if key[1] == "labeling-reviewers"}
    assert reviewer_pairs == {
        ("rev@example.com", "labeling-reviewers"),
        (BUILTIN_TEAM["labelers"][0], "labeling-reviewers"),
    }
    # And every user and attachment that existed before keeps its logical id (nobody is re-invited)
    before = team_logical_ids(synth_builtin)
    assert {key: after[key] for key in before} == before


def test_review_routes_need_a_cognito_token_and_exist_only_with_review(
    synth_review: Synthesized, synth_builtin: Synthesized
) -> None:
    # Given the stacks with and without review
    with_review, without = methods_by_path(synth_review), methods_by_path(synth_builtin)
    # Then only the stack with review has the review routes, behind the Cognito authorizer
    assert set(with_review) == API_METHODS | STATIC_METHODS | REVIEW_METHODS
    assert set(without) == API_METHODS | STATIC_METHODS
    for key in REVIEW_METHODS:
        assert with_review[key]["AuthorizationType"] == "COGNITO_USER_POOLS", key
    groups = synth_builtin.main.find_resources("AWS::Cognito::UserPoolGroup")
    assert "labeling-reviewers" not in {g["Properties"]["GroupName"] for g in groups.values()}
