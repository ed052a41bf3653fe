"""The local cloud the CLI and browser tests use: the end-to-end tests' ``running_cloud`` with a tiny
configuration, and ``outputs.json`` written to its state folder as ``make local-up`` writes it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ASSEMBLY_CACHE = "cdk.out-cli"
"""``.local/<cache>``: the synthesized assembly, reused while sources and context are unchanged."""
CAPTURE_THRESHOLD = 0.99


def tiny_context() -> dict[str, Any]:
    """The demo's digits configuration with one epoch, small batches and a quality gate every run passes."""
    from training.contracts import DEMO_HYPERPARAMETERS
    from training.datasets import CLASS_NAMES

    return {
        "gtpipe:taskType": "image-classification",
        "gtpipe:labelCategories": list(CLASS_NAMES),
        "gtpipe:hyperparameters": {**DEMO_HYPERPARAMETERS, "epochs": "1", "mini_batch_size": "16"},
        "gtpipe:qualityThreshold": 0.0,
        # A one-epoch model answers below this for every digit; no random sample, so what is captured is
        # deterministic (tests/cli/test_cli_local_cloud.py, feedback capture).
        "gtpipe:capture": {"confidenceThreshold": CAPTURE_THRESHOLD, "samplePercent": 0},
    }


@contextmanager
def cli_cloud(state_dir: Path) -> Iterator[Any]:
    """A started local cloud with the stacks deployed and ``<state_dir>/outputs.json`` written."""
    from tests.local_cloud.conftest import running_cloud

    with running_cloud(state_dir, tiny_context(), ASSEMBLY_CACHE) as cloud:
        cloud.write_outputs(state_dir / "outputs.json")
        yield cloud
