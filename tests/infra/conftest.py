"""Synthesize the app once per configuration and share the templates between tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from app import build_app

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"


def project_context(**overrides: Any) -> dict[str, Any]:
    """The context from cdk.json, with `gtpipe:` keys overridden by keyword (without the prefix)."""
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    context.update({f"gtpipe:{key}": value for key, value in overrides.items()})
    return context


@dataclass
class Synthesized:
    """Both stacks of one synthesized app, as assertion templates and raw JSON."""

    app: cdk.App
    stateful: cdk.Stack
    pipeline: cdk.Stack
    data: Template
    main: Template

    def resources(self, template: Template, resource_type: str) -> dict[str, Any]:
        return template.find_resources(resource_type)


_SYNTHESIZED: dict[str, Synthesized] = {}


def synthesize(**overrides: Any) -> Synthesized:
    """The app synthesized with cdk.json's context plus ``overrides`` (``gtpipe:`` keys, without the prefix).

    One synthesis per configuration in the whole session: fixtures of several packages ask for the same one
    (cdk.json's, ``trainingAlgorithm="pytorch"``, the builtin team), and each synthesis costs 5-10 s on two
    cores. Callers only read the result (templates, annotations, the assembly directory); a test that
    changed the app would have to build its own ``cdk.App``, as tests/reliability/test_security_templates.py
    does.
    """
    # Keyed by the overrides as given (order included): only identical inputs share a synthesis.
    key = json.dumps(overrides)
    found = _SYNTHESIZED.get(key)
    if found is None:
        app = cdk.App(context=project_context(**overrides))
        app, stateful, pipeline = build_app(app)
        found = Synthesized(
            app, stateful, pipeline, Template.from_stack(stateful), Template.from_stack(pipeline)
        )
        _SYNTHESIZED[key] = found
    return found


BUILTIN_TEAM = {
    "labelers": ["ann@example.com", "bo@example.com"],
    "admins": ["ann@example.com", "cy@example.com"],
}


@pytest.fixture(scope="session")
def synth_builtin() -> Synthesized:
    """The builtin labeling backend with a team: one labeler, one admin, one person in both groups."""
    return synthesize(labelingBackend="builtin", labelingTeam=BUILTIN_TEAM)


TUNING = {
    "ranges": {"learning_rate": {"type": "continuous", "min": 0.001, "max": 0.5, "scaling": "Logarithmic"}},
    "maxJobs": 4,
    "maxParallelJobs": 2,
}


@pytest.fixture(scope="session")
def synth_tuning() -> Synthesized:
    """gtpipe:tuning set: the state machine may run hyperparameter tuning jobs."""
    return synthesize(tuning=TUNING)


@pytest.fixture(scope="session")
def synth_pytorch() -> Synthesized:
    """gtpipe:trainingAlgorithm pytorch: training on cdk.json's GPU instance, serving on its CPU instances."""
    return synthesize(trainingAlgorithm="pytorch")
