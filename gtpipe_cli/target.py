"""Where the pipeline runs: a deployed stack pair on AWS, or the embedded local cloud.

Both targets are described by the same output names (``DataBucketName``, ``IncomingPrefix``,
``StateMachineArn``, ``ApiUrl``, ``RunsTableName``, ``NotificationTopicArn``, ``EndpointName``, and
``ApiKeyId`` with API-key auth):

- AWS: CloudFormation ``DescribeStacks`` of ``<prefix>Data`` and ``<prefix>Pipeline`` (credentials and
  region from the standard chain, ``--profile`` and ``--region`` override);
- local (``--local``): ``<state dir>/outputs.json``, written by ``python -m local.cli up`` (``make
  local-up``), with the local endpoint URL, its credentials and the API's TLS CA. Without ``--state-dir``,
  ``.local/outputs.json`` is looked for in the current folder and then in each folder above it, up to the
  checkout's root (the folder holding ``.git``), so ``gtpipe --local`` works from any folder of the checkout.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import boto3
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError, ProfileNotFound

from gtpipe_cli.errors import CliError, Exit

DEFAULT_STACK_PREFIX: Final = "Gtpipe"
DEFAULT_STATE_DIR: Final = Path(".local")
OUTPUTS_FILE: Final = "outputs.json"
API_KEY_ENV: Final = "GTPIPE_API_KEY"
REQUIRED_OUTPUTS: Final = ("DataBucketName", "IncomingPrefix", "StateMachineArn", "ApiUrl", "RunsTableName")
_CLIENT_CONFIG: Final = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=16)


@dataclass(frozen=True)
class TargetOptions:
    """The command-line options that pick the target."""

    local: bool = False
    state_dir: Path = DEFAULT_STATE_DIR
    stack_prefix: str = DEFAULT_STACK_PREFIX
    region: str | None = None
    profile: str | None = None
    api_key: str | None = None


class Target:
    """One deployed pipeline: its outputs and boto3 clients that reach it (cached per service)."""

    def __init__(
        self,
        kind: Literal["aws", "local"],
        description: str,
        outputs: dict[str, Any],
        session: boto3.session.Session,
        *,
        endpoint_url: str | None = None,
        ca_path: str | None = None,
        api_key: str | None = None,
        hint_flags: str = "",
    ) -> None:
        self.kind = kind
        self.hint_flags = hint_flags
        """The target options to repeat in printed commands (``--local``, ``--region ...``)."""
        self.description = description
        self.outputs = outputs
        self.session = session
        self.endpoint_url = endpoint_url
        self.ca_path = ca_path
        self._api_key = api_key
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        missing = [name for name in REQUIRED_OUTPUTS if not outputs.get(name)]
        if missing:
            raise CliError(f"{description} has no output {', '.join(missing)}", Exit.UNAVAILABLE)

    @property
    def region(self) -> str:
        """The target's region."""
        return str(self.session.region_name)

    @property
    def bucket(self) -> str:
        """The data bucket."""
        return str(self.outputs["DataBucketName"])

    @property
    def incoming_prefix(self) -> str:
        """Where dropped manifests start runs (``incoming/``)."""
        return str(self.outputs["IncomingPrefix"])

    @property
    def runs_table(self) -> str:
        """The runs ledger table."""
        return str(self.outputs["RunsTableName"])

    @property
    def state_machine_arn(self) -> str:
        """The pipeline state machine."""
        return str(self.outputs["StateMachineArn"])

    @property
    def reference_labels(self) -> Path | None:
        """Local cloud: the simulated labelers' reference-answer file (None on AWS)."""
        path = self.outputs.get("WorkforceReferenceLabels")
        return Path(str(path)) if self.kind == "local" and path else None

    @property
    def api_url(self) -> str:
        """The prediction API's base URL (``<ApiUrl>/predict`` answers)."""
        return str(self.outputs["ApiUrl"]).rstrip("/")

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` at the target (thread-safe, cached)."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self.session.client(
                    service, endpoint_url=self.endpoint_url, config=_CLIENT_CONFIG
                )
            return self._clients[service]

    def credentials(self) -> Credentials:
        """Frozen credentials for SigV4 signing; CliError when the chain finds none."""
        found = self.session.get_credentials()
        if found is None:
            raise no_credentials()
        frozen = found.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    def api_key(self) -> str | None:
        """The API key to send, or None for SigV4 (IAM) auth.

        Local: the key in ``outputs.json``. AWS: ``--api-key`` or ``$GTPIPE_API_KEY``; otherwise, when the
        stack publishes ``ApiKeyId`` (``gtpipe:apiAuth=api-key``), its value read with API Gateway's
        ``GetApiKey``.
        """
        if self._api_key:
            return self._api_key
        key_id = self.outputs.get("ApiKeyId")
        if self.kind == "aws" and key_id:
            response = self.client("apigateway").get_api_key(apiKey=str(key_id), includeValue=True)
            self._api_key = str(response["value"])
        return self._api_key


def no_credentials() -> CliError:
    """The error for an empty credential chain."""
    return CliError(
        "no AWS credentials found (environment, ~/.aws/credentials or config, SSO, instance role): "
        "configure them, pass --profile, or use --local for the local cloud",
        Exit.NO_CREDENTIALS,
    )


def find_state_dir(state_dir: Path, start: Path | None = None) -> Path:
    """``state_dir``; for the default (relative ``.local``), the first ``<folder>/.local`` holding
    ``outputs.json`` from ``start`` (the current folder) up to the checkout's root, if there is one."""
    if state_dir != DEFAULT_STATE_DIR:
        return state_dir
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / state_dir / OUTPUTS_FILE).is_file():
            return folder / state_dir
        if (folder / ".git").exists():
            break  # the checkout's root: above it is another project
    return state_dir


def resolve_target(options: TargetOptions) -> Target:
    """The target ``options`` name (see module docstring)."""
    if options.local:
        target = local_target(find_state_dir(Path(options.state_dir)))
        if Path(options.state_dir) != DEFAULT_STATE_DIR:
            target.hint_flags += f" --state-dir {options.state_dir}"
        return target
    target = aws_target(options.stack_prefix, region=options.region, profile=options.profile)
    target._api_key = options.api_key or os.environ.get(API_KEY_ENV) or None
    flags = [f"--stack-prefix {options.stack_prefix}"] if options.stack_prefix != DEFAULT_STACK_PREFIX else []
    flags += [f"--region {options.region}"] if options.region else []
    flags += [f"--profile {options.profile}"] if options.profile else []
    target.hint_flags = " ".join(flags)
    return target


def local_target(state_dir: Path) -> Target:
    """The local cloud described by ``<state_dir>/outputs.json``."""
    path, outputs, session = local_session(state_dir)
    return Target(
        "local",
        f"the local cloud at {outputs['AwsEndpointUrl']} ({path})",
        outputs,
        session,
        endpoint_url=str(outputs["AwsEndpointUrl"]),
        ca_path=str(outputs["CaCertPath"]) if outputs.get("CaCertPath") else None,
        api_key=str(outputs["ApiKey"]) if outputs.get("ApiKey") else None,
        hint_flags="--local",
    )


def local_session(state_dir: Path) -> tuple[Path, dict[str, Any], boto3.session.Session]:
    """``<state_dir>/outputs.json``, its outputs (the stack's, once deployed) and a session with the local
    cloud's credentials and region; one error line when the local cloud is not running."""
    path = state_dir / OUTPUTS_FILE
    try:
        outputs = dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise CliError(
            f"the local cloud is not running ({path} is missing): run `make local-up` first",
            Exit.INPUT_MISSING,
        ) from None
    except (OSError, ValueError) as error:
        raise CliError(f"cannot read {path}: {error}", Exit.INPUT_MISSING) from None
    missing = [
        n for n in ("AwsEndpointUrl", "Region", "AccessKeyId", "SecretAccessKey") if not outputs.get(n)
    ]
    if missing:
        raise CliError(
            f"{path} has no {', '.join(missing)}: restart the local cloud (make local-up)", Exit.UNAVAILABLE
        )
    session = boto3.session.Session(
        aws_access_key_id=str(outputs["AccessKeyId"]),
        aws_secret_access_key=str(outputs["SecretAccessKey"]),
        region_name=str(outputs["Region"]),
    )
    return path, outputs, session


def stack_names(prefix: str) -> tuple[str, str]:
    """``(<prefix>Data, <prefix>Pipeline)``, the names ``app.py`` gives the two stacks."""
    return f"{prefix}Data", f"{prefix}Pipeline"


def aws_session(region: str | None, profile: str | None) -> boto3.session.Session:
    """A boto3 session from the standard chain; CliError for an unknown profile or no region."""
    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as error:
        raise CliError(f"{error}: check --profile or AWS_PROFILE", Exit.NO_CREDENTIALS) from None
    if not session.region_name:
        raise CliError(
            "no AWS region: pass --region or set AWS_REGION / AWS_DEFAULT_REGION (or the profile's region)",
            Exit.USAGE,
        )
    return session


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str] | None:
    """``{OutputKey: OutputValue}`` of a stack, or None when it does not exist."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        message = str(error.response.get("Error", {}).get("Message", ""))
        if error.response.get("Error", {}).get("Code") == "ValidationError" and "does not exist" in message:
            return None
        raise
    if not stacks:
        return None
    return {str(o["OutputKey"]): str(o["OutputValue"]) for o in stacks[0].get("Outputs", [])}


def aws_target(
    stack_prefix: str = DEFAULT_STACK_PREFIX,
    *,
    region: str | None = None,
    profile: str | None = None,
    session: boto3.session.Session | None = None,
) -> Target:
    """The deployed stacks ``<stack_prefix>Data`` and ``<stack_prefix>Pipeline`` (Pipeline's outputs win)."""
    session = session or aws_session(region, profile)
    data_stack, pipeline_stack = stack_names(stack_prefix)
    try:
        cloudformation = session.client("cloudformation", config=_CLIENT_CONFIG)
        pipeline = stack_outputs(cloudformation, pipeline_stack)
        if pipeline is None:
            raise CliError(
                f"stack {pipeline_stack} not found in {session.region_name}: deploy it (npx cdk deploy --all) "
                "or pass the right --stack-prefix / --region / --profile",
                Exit.UNAVAILABLE,
            )
        data = stack_outputs(cloudformation, data_stack) or {}
    except NoCredentialsError:
        raise no_credentials() from None
    except NoRegionError:
        raise CliError("no AWS region: pass --region or set AWS_REGION", Exit.USAGE) from None
    return Target(
        "aws",
        f"stacks {data_stack}/{pipeline_stack} in {session.region_name}",
        {**data, **pipeline},
        session,
    )
