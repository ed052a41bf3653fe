"""CPU per execution of the pipeline definition on moto's interpreter, with and without local.sfn's parse cache.

moto parses the definition text with a pure-Python ANTLR grammar at CreateStateMachine and again for every
execution (local/sfn/parse_cache.py). Side by side in one process: local.sfn installed as the local cloud
installs it, then the same with moto's own parser. Each execution starts with an empty input, so it fails
at its first task (``$.rollback`` absent, then ``$.run_id``): what is measured is the parse and the start,
not the states.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from bench import use_fake_aws_credentials

ROOT = Path(__file__).resolve().parents[1]
EXECUTIONS = 5
ROLE_ARN = "arn:aws:iam::123456789012:role/bench"


def _cpu_per_execution(definition: str, cached: bool) -> float:
    import boto3
    from moto import mock_aws

    from local.sfn import install, parse_cache

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), install():
        if not cached:
            parse_cache.uninstall_parse_cache()  # moto's own parser; everything else stays installed
        client = boto3.client("stepfunctions", region_name="us-east-1")
        arn = client.create_state_machine(name="bench", definition=definition, roleArn=ROLE_ARN)[
            "stateMachineArn"
        ]
        started = time.process_time()
        for number in range(EXECUTIONS):
            execution = client.start_execution(stateMachineArn=arn, name=f"e{number}", input="{}")
            while client.describe_execution(executionArn=execution["executionArn"])["status"] == "RUNNING":
                time.sleep(0.05)
        return (time.process_time() - started) / EXECUTIONS


def main() -> dict[str, object]:
    """Seconds of process CPU per execution, both ways, and their ratio."""
    use_fake_aws_credentials()
    logging.getLogger("moto").setLevel(logging.CRITICAL)  # the failing first task logs its whole state
    definition = (ROOT / "state_machines" / "pipeline.asl.json").read_text()
    cached = _cpu_per_execution(definition, cached=True)
    uncached = _cpu_per_execution(definition, cached=False)
    return {
        "executions each way": EXECUTIONS,
        "cpu s per execution, moto's parser": round(uncached, 3),
        "cpu s per execution, parse cache": round(cached, 3),
        "ratio": round(uncached / cached, 1) if cached > 0 else "-",
    }
