"""Fixtures: moto with Step Functions execution enabled and local.sfn installed with test doubles."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from local.sagemaker import LocalSageMaker, ScriptedJobRunner
from local.sfn import LambdaRegistry, install

from .harness import Sfn

# Fast polling and retries: a Retry with IntervalSeconds 1 waits 10 ms in these tests.
POLL_INTERVAL = 0.02
RETRY_SCALE = 0.01


@pytest.fixture(scope="session")
def boto_session() -> boto3.Session:
    # One session for all tests: its loader caches the service models (mock_aws resets boto3's default
    # session, and reloading endpoints.json for every client costs ~0.3 s per test).
    return boto3.Session()


@pytest.fixture
def lambdas() -> LambdaRegistry:
    return LambdaRegistry()


@pytest.fixture
def runner() -> ScriptedJobRunner:
    return ScriptedJobRunner()


@pytest.fixture
def sagemaker(runner: ScriptedJobRunner) -> LocalSageMaker:
    return LocalSageMaker(runner=runner)


@pytest.fixture
def sfn(boto_session: boto3.Session, lambdas: LambdaRegistry, sagemaker: LocalSageMaker) -> Iterator[Sfn]:
    with (
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
        install(lambdas, sagemaker, poll_interval=POLL_INTERVAL, retry_interval_scale=RETRY_SCALE),
    ):
        yield Sfn(boto_session.client("stepfunctions", region_name="us-east-1"))
