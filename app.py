#!/usr/bin/env python3
"""CDK app: typed configuration from context, the stateful and pipeline stacks, cdk-nag checks."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import StackConfig
from infra.nag import apply_suppressions
from infra.pipeline_stack import PipelineStack
from infra.stateful_stack import StatefulStack


def build_app(app: cdk.App | None = None) -> tuple[cdk.App, StatefulStack, PipelineStack]:
    """Create the app and its stacks; tests call this with an App carrying their own context."""
    app = app or cdk.App()
    config = StackConfig.from_context(app.node.try_get_context)
    stateful = StatefulStack(
        app,
        f"{config.stack_prefix}Data",
        capture_retention_days=config.capture.retention_days,
        drift_records=config.monitoring.enabled,
        description="gtpipe: data bucket, key, ledger",
    )
    pipeline = PipelineStack(
        app,
        f"{config.stack_prefix}Pipeline",
        config=config,
        storage=stateful.storage,
        ledger=stateful.ledger,
        description="gtpipe: label -> train -> deploy pipeline, prediction API, monitoring",
    )
    pipeline.add_stack_dependency(stateful)
    apply_suppressions(stateful, pipeline)
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app, stateful, pipeline


if __name__ == "__main__":
    build_app()[0].synth()
