"""``gtpipe doctor``: what a first ``cdk deploy`` and a first run need from the account, checked beforehand.

Each check is a pure function of injected boto3 clients and the configuration (``cdk.json``'s context read
by ``infra/config.py``, as ``cdk synth`` reads it) and returns :class:`CheckResult` records; the command
builds the clients (``--local``: the local cloud's ``outputs.json``; AWS: the standard chain, which also
honours ``AWS_ENDPOINT_URL``) and prints one line per result:

    OK    region: ...
    FAIL  apigateway-cloudwatch-role: ...
          fix: ...

A FAIL is a blocker (the deploy or the first run would fail); a WARN could not be checked or may bite
later. The exit code is :attr:`~gtpipe_cli.errors.Exit.PREFLIGHT_FAILED` when anything FAILs.

The package: :mod:`.results` (a result, uncheckable calls), :mod:`.configuration` (the context and the
instance types it uses), one module per family of checks (:mod:`.account`: region, API Gateway role,
workforce, Powertools layer; :mod:`.capacity`: quotas, instance storage) and :mod:`.command` (the command).

Facts come from their one home in the project: the region table from ``infra/constructs/regional.py``,
the Powertools layer ARN from ``infra/constructs/lambda_function.py``, the instance-storage rule from
``gtpipe_shared.aws_limits``.
"""

from gtpipe_cli.doctor.account import (
    check_apigateway_role,
    check_powertools_layer,
    check_region,
    check_workforce,
    powertools_layer_arn,
)
from gtpipe_cli.doctor.capacity import (
    check_instance_storage,
    check_quotas,
    sagemaker_quotas,
    volume_keys_sent,
)
from gtpipe_cli.doctor.command import Clients, doctor, doctor_session, run_checks
from gtpipe_cli.doctor.configuration import (
    InstanceUse,
    instance_uses,
    load_config,
    raw_instance_uses,
    read_context,
)
from gtpipe_cli.doctor.results import CheckResult, Status, error_code

__all__ = [
    "CheckResult",
    "Clients",
    "InstanceUse",
    "Status",
    "check_apigateway_role",
    "check_instance_storage",
    "check_powertools_layer",
    "check_quotas",
    "check_region",
    "check_workforce",
    "doctor",
    "doctor_session",
    "error_code",
    "instance_uses",
    "load_config",
    "powertools_layer_arn",
    "raw_instance_uses",
    "read_context",
    "run_checks",
    "sagemaker_quotas",
    "volume_keys_sent",
]
