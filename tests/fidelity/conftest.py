"""The fidelity corpus (issue 14): each module reintroduces one finding and asserts that the local cloud, or
the synth-time validation where that is where AWS's refusal belongs, fails the way AWS does.

Deployments run the local deployer against moto in process; the templates are pieces of the real synthesized
app (the data key with its synthesized key policy, the pipeline's log groups, alarms and topic).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from local.cfn import Environment
from local.cfn_assembly import CloudAssembly
from local.deploy import Deployment, LocalDeployer
from local.fidelity import AccountState
from tests.infra.conftest import Synthesized, synthesize
from tests.local_cloud.test_cognito_deployment import clients as clients  # a fixture, re-exported

ENV = Environment()
Clients = Callable[[str], Any]


@pytest.fixture(scope="session")
def synth() -> Synthesized:
    """The app with cdk.json's configuration, synthesized once for the corpus."""
    return synthesize()


def data_key(synth: Synthesized) -> dict[str, Any]:
    """The synthesized data key resource (type, properties and key policy), a deep copy."""
    keys = synth.data.find_resources("AWS::KMS::Key")
    assert len(keys) == 1, keys
    return copy.deepcopy(next(iter(keys.values())))


def without_statement(key: dict[str, Any], service_prefix: str) -> dict[str, Any]:
    """The key with every key policy statement whose service principal starts with ``service_prefix``
    removed: the key policy as it was before the fix."""
    statements = key["Properties"]["KeyPolicy"]["Statement"]

    def service_of(statement: dict[str, Any]) -> str:
        return json.dumps(statement.get("Principal", {}).get("Service", ""))

    key["Properties"]["KeyPolicy"]["Statement"] = [
        s for s in statements if service_prefix not in service_of(s)
    ]
    assert len(key["Properties"]["KeyPolicy"]["Statement"]) < len(statements), "no such statement"
    return key


def deploy(
    tmp_path: Path, clients: Clients, resources: dict[str, Any], *, account: AccountState | None = None
) -> Deployment:
    """Deploy one stack of ``resources`` with the local deployer into moto (``account``: the account's state
    beyond moto's, fresh by default)."""
    manifest = {
        "version": "55.0.0",
        "artifacts": {
            "S": {"type": "aws:cloudformation:stack", "properties": {"templateFile": "S.template.json"}}
        },
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "S.template.json").write_text(json.dumps({"Resources": resources}))
    deployer = LocalDeployer(clients, ENV, None, None, work_dir=tmp_path / "work", account=account)  # type: ignore[arg-type]
    return deployer.deploy(CloudAssembly(tmp_path))
