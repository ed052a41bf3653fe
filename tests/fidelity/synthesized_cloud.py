"""The real synthesized app, edited by one statement and deployed to a local cloud (issue 14, IAM enforcement).

:func:`edited_assembly` copies the test assembly (``.local/cdk.out-tests``, shared with tests/local_cloud) with
the pipeline stack's template changed by one edit, and :func:`deployed` starts a local cloud with that assembly
deployed, so a test acts as a principal of the real template the way the local cloud makes it act.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from local.cloud import CloudSettings, LocalCloud
from local.synth import synthesize
from tests.local_cloud.conftest import ROOT, small_context

PIPELINE = "GtpipePipeline.template.json"
Edit = Callable[[dict[str, Any]], None]


def pipeline_assembly() -> Path:
    """The app synthesized with the end-to-end tests' configuration (cached while the sources are unchanged)."""
    return synthesize(ROOT / ".local" / "cdk.out-tests", small_context())


def edited_assembly(assembly: Path, into: Path, *edits: Edit) -> Path:
    """A copy of ``assembly`` in ``into`` whose pipeline template has ``edits`` applied (assets are linked)."""
    into.mkdir(parents=True)
    for entry in assembly.iterdir():
        if entry.name != PIPELINE:
            (into / entry.name).symlink_to(entry)
    template = json.loads((assembly / PIPELINE).read_text())
    for edit in edits:
        edit(template["Resources"])
    (into / PIPELINE).write_text(json.dumps(template))
    return into


def _ids(resources: dict[str, Any], resource_type: str, prefix: str) -> list[str]:
    return [k for k, r in resources.items() if r["Type"] == resource_type and k.startswith(prefix)]


def without_role_statement(role_prefix: str, matches: Callable[[dict[str, Any]], bool]) -> Edit:
    """Remove the one statement ``matches`` selects from the policies attached to the role ``role_prefix``."""

    def edit(resources: dict[str, Any]) -> None:
        (role,) = _ids(resources, "AWS::IAM::Role", role_prefix)
        removed = 0
        for resource in resources.values():
            if resource["Type"] != "AWS::IAM::Policy" or {"Ref": role} not in resource["Properties"]["Roles"]:
                continue
            document = resource["Properties"]["PolicyDocument"]
            kept = [s for s in document["Statement"] if not matches(s)]
            removed += len(document["Statement"]) - len(kept)
            document["Statement"] = kept
        assert removed == 1, f"{removed} statements of {role} matched"

    return edit


def without_queue_statement(queue_prefix: str, matches: Callable[[dict[str, Any]], bool]) -> Edit:
    """Remove the one statement ``matches`` selects from the queue policy of ``queue_prefix``."""

    def edit(resources: dict[str, Any]) -> None:
        (policy,) = _ids(resources, "AWS::SQS::QueuePolicy", queue_prefix)
        document = resources[policy]["Properties"]["PolicyDocument"]
        kept = [s for s in document["Statement"] if not matches(s)]
        assert len(kept) == len(document["Statement"]) - 1, "not exactly one statement matched"
        document["Statement"] = kept

    return edit


def without_resource(prefix: str, resource_type: str) -> Edit:
    """Remove the one resource of ``resource_type`` whose logical id starts with ``prefix``."""

    def edit(resources: dict[str, Any]) -> None:
        (found,) = _ids(resources, resource_type, prefix)
        del resources[found]

    return edit


def actions(statement: dict[str, Any]) -> list[str]:
    """A statement's actions as a list."""
    found = statement.get("Action", [])
    return list(found) if isinstance(found, list) else [found]


@contextmanager
def deployed(assembly: Path, state_dir: Path) -> Iterator[LocalCloud]:
    """A started local cloud with ``assembly`` deployed (no simulated labelers, quick async retries)."""
    settings = CloudSettings(state_dir=state_dir, simulated_labelers=0, async_retry_delays=(0.0,))
    with LocalCloud(settings) as cloud:
        cloud.deploy(assembly)
        yield cloud


def function_named(cloud: LocalCloud, logical_prefix: str) -> Any:
    """The deployed function (its :class:`local.lambda_runtime.FunctionSpec`) of that logical id prefix."""
    assert cloud.deployment is not None
    (spec,) = [s for n, s in cloud.deployment.functions.items() if f"-{logical_prefix}" in n]
    return spec


def role_name(cloud: LocalCloud, logical_prefix: str) -> str:
    """The physical name of the deployed role of that logical id prefix."""
    (arn,) = [a for n, a in cloud.iam.role_arns.items() if logical_prefix in n]
    return arn.rsplit("/", 1)[-1]
