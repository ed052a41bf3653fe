"""The ``gtpipe doctor`` command: build the clients, run every check in order, print one line per result."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import boto3
from gtpipe_shared import aws_limits

from gtpipe_cli.doctor.account import (
    check_apigateway_role,
    check_powertools_layer,
    check_region,
    check_workforce,
    powertools_layer_arn,
)
from gtpipe_cli.doctor.capacity import check_instance_storage, check_quotas, volume_keys_sent
from gtpipe_cli.doctor.configuration import (
    instance_uses,
    load_config,
    raw_instance_uses,
    raw_layer_version,
    read_context,
)
from gtpipe_cli.doctor.results import CLIENT_CONFIG, CheckResult
from gtpipe_cli.errors import Exit
from gtpipe_cli.target import TargetOptions, aws_session, local_session


@dataclass(frozen=True)
class Clients:
    """The clients the checks use."""

    apigateway: Any
    sagemaker: Any
    service_quotas: Any
    lambda_: Any


def run_checks(
    clients: Clients,
    context: Mapping[str, Any],
    *,
    region: str,
    partition: str = "aws",
    supported_regions: Mapping[str, Mapping[str, str]] | None = None,
    layer_template: str | None = None,
) -> list[CheckResult]:
    """Every check, in order; the region table and layer ARN template default to the stack's own."""
    config, configured = load_config(context)
    if supported_regions is None:
        from infra.constructs.regional import SUPPORTED_REGIONS

        supported_regions = SUPPORTED_REGIONS
    if layer_template is None:
        from infra.constructs.lambda_function import POWERTOOLS_LAYER

        layer_template = POWERTOOLS_LAYER
    uses = instance_uses(config) if config is not None else raw_instance_uses(context)
    version = config.powertools_layer_version if config is not None else raw_layer_version(context)
    return [
        configured,
        check_region(region, supported_regions),
        check_apigateway_role(clients.apigateway, config),
        check_workforce(clients.sagemaker, config),
        *check_quotas(clients.service_quotas, uses),
        check_instance_storage(
            uses,
            aws_limits.instance_has_local_storage,
            volume_keys_sent(config) if config is not None else None,
        ),
        check_powertools_layer(
            clients.lambda_, powertools_layer_arn(layer_template, partition, region, version)
        ),
    ]


def doctor_session(options: TargetOptions) -> tuple[boto3.session.Session, str | None, str]:
    """The session, endpoint URL and description of where the doctor looks: the local cloud's
    ``outputs.json`` (deployed or not) with ``--local``, else the standard chain (``AWS_ENDPOINT_URL`` is
    honoured by boto3 itself)."""
    if not options.local:
        session = aws_session(options.region, options.profile)
        return session, None, f"region {session.region_name}"
    _, outputs, session = local_session(Path(options.state_dir))
    endpoint = str(outputs["AwsEndpointUrl"])
    return session, endpoint, f"the local cloud at {endpoint} (region {session.region_name})"


def doctor(
    options: TargetOptions, out: TextIO, *, cdk_json: Path = Path("cdk.json"), context: Sequence[str] = ()
) -> int:
    """``gtpipe doctor``: print every check; PREFLIGHT_FAILED when one FAILs."""
    values = read_context(cdk_json, context)
    session, endpoint, where = doctor_session(options)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint, config=CLIENT_CONFIG)

    identity = client("sts").get_caller_identity()  # no credentials: one error line, exit 77
    region = str(session.region_name)
    out.write(f"gtpipe doctor: account {identity.get('Account')}, {where}, context from {cdk_json}\n")
    clients = Clients(client("apigateway"), client("sagemaker"), client("service-quotas"), client("lambda"))
    partition = str(session.get_partition_for_region(region))
    results = run_checks(clients, values, region=region, partition=partition)
    for result in results:
        out.write("\n".join(result.lines()) + "\n")
    failed = [result for result in results if result.status == "FAIL"]
    warned = sum(result.status == "WARN" for result in results)
    if failed:
        out.write(
            f"{len(failed)} blocker(s): {', '.join(r.check for r in failed)}; fix them before "
            "`cdk deploy` or a run\n"
        )
        return Exit.PREFLIGHT_FAILED
    out.write(f"no blockers ({warned} warning(s))\n")
    return Exit.OK
