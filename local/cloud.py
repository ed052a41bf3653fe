"""The embedded local cloud: moto in server mode plus gtpipe's extensions, in one Python process.

:class:`LocalCloud` starts, in this order:

1. a ``moto.server.ThreadedMotoServer`` on 127.0.0.1 (one process, so the in-process patches below apply
   to what it serves), with Step Functions *execution* switched on through moto's server-mode config
   endpoint (``POST /moto-api/config`` with ``{"stepfunctions": {"execute_state_machine": true}}``, which
   sets ``moto.core.config.default_user_config``; without it moto only records executions);
2. the Lambda runtime (:mod:`local.lambda_runtime`) behind a :class:`local.sfn.LambdaRegistry`;
3. the local SageMaker (:class:`local.sagemaker.LocalSageMaker`) whose state-change events are published
   to the default event bus (``PutEvents``, source ``aws.sagemaker``), routed from moto's ``sagemaker``
   and ``sagemaker-runtime`` APIs (:func:`local.sagemaker.install_sagemaker_api`);
4. moto's Step Functions interpreter extended by :func:`local.sfn.install` (Lambda and SageMaker tasks);
5. EventBridge -> Lambda delivery (:mod:`local.eventbridge`), Lambda's ``Invoke`` API answered by the
   deployed functions (:mod:`local.lambda_api`), the timer of scheduled rules (:mod:`local.schedules`), the
   evaluator of the deployed CloudWatch alarms (:mod:`local.alarms`),
   and one DynamoDB request at a time in moto (:mod:`local.moto_locks`: moto's transactions are not
   thread-safe), whose failed transactions roll back from the items they touched
   (:mod:`local.moto_transactions`, instead of moto's copy of each table) and whose queries and responses
   cost what they touch (:mod:`local.moto_dynamodb_speed`).

:meth:`LocalCloud.deploy` then deploys a synthesized cloud assembly (:mod:`local.deploy`) and serves each
REST API over HTTPS (:mod:`local.apigateway`, certificate from :mod:`local.tls`; Cognito authorizers
verified by :mod:`local.cognito`). Everything is in memory and gone when the cloud stops.

When the deployment has a labeling API (a REST API with a ``COGNITO_USER_POOLS`` authorizer: the builtin
labeling service), the cloud creates, in that API's user pool, a user for a person (``LabelingUsername``,
``LabelingPassword`` and ``LabelingUrl`` in :attr:`LocalCloud.outputs`; local only) and
``simulated_labelers`` users for :class:`local.labeling_crowd.SimulatedCrowd`, which labels every job
through the API until the cloud stops (0: only people label).

The browser reaches Cognito and presigned S3 URLs at the plain-HTTP loopback endpoint from the HTTPS app
page: ``http://127.0.0.1`` is a potentially trustworthy origin, so Chromium neither blocks nor upgrades
those requests (it logs a mixed-content *warning* for images), and moto answers CORS. The web function's
``COGNITO_ENDPOINT`` (``https://cognito-idp.<region>.<suffix>/`` on AWS) is rewritten to that endpoint.

Standard tools reach it at :attr:`LocalCloud.endpoint_url`: ``aws --endpoint-url``, boto3 with
``AWS_ENDPOINT_URL``, curl with :data:`ACCESS_KEY_ID` (the administrator: not evaluated). Every principal of
the deployment acts with its own role's keys and IAM is enforced on them (:mod:`local.iam_auth`,
``CloudSettings.enforce_iam``).
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from botocore.config import Config
from moto.core.config import default_user_config
from moto.server import ThreadedMotoServer

from local.sfn import LambdaRegistry, function_name_of
from local.sfn import install as install_sfn

from .alarms import AlarmEvaluator
from .apigateway import ApiGatewayServer, gateway_response_resource
from .boto_sessions import new_session
from .cfn_assembly import CloudAssembly
from .cloud_labeling import LabelingService, find_labeling_service, pool_clients, start_crowd
from .cloud_settings import CloudSettings
from .cognito import CognitoTokenVerifier, install_pool_signing_keys
from .deploy import Deployment, LocalDeployer
from .eventbridge import AsyncLambdaInvoker, EventBridgeLambdaTargets
from .fidelity import AccountState, PrivateWorkforce, set_api_gateway_logging_role
from .iam_auth import Principals, install_iam_middleware
from .iam_resource import Deliveries
from .iam_roles import DeployedIam
from .labeling_crowd import CrowdSettings, SimulatedCrowd
from .labeling_reviewers import ReviewerSettings
from .lambda_api import install as install_lambda_api
from .lambda_runtime import AsyncInvokeConfig, LambdaRuntime
from .moto_dynamodb_speed import install as install_dynamodb_speedups
from .moto_locks import serialize_dynamodb, serialize_s3_url_reload
from .moto_transactions import install as install_transaction_snapshots
from .s3_post_policy import install_post_policy_check
from .s3_versions import seed_version_ids
from .schedules import ScheduledRules
from .sigv4 import install_presigned_url_check
from .tls import LocalCertificateAuthority

LOG = logging.getLogger(__name__)

ACCESS_KEY_ID: Final = "AKIAGTPIPELOCAL00000"
SECRET_ACCESS_KEY: Final = "gtpipe-local-secret-access-key"  # noqa: S105 - a fixed local-only value
"""The local credentials (moto accepts any; the local API's ``AWS_IAM`` check expects this key id)."""


class LocalCloud:
    """Starts and stops the local cloud; deploys assemblies into it (see module docstring).

    Usage::

        with LocalCloud(CloudSettings(state_dir=Path(".local"))) as cloud:
            cloud.deploy(synthesize(".local/cdk.out"))
            print(cloud.outputs["ApiUrl"])
    """

    def __init__(self, settings: CloudSettings | None = None) -> None:
        self.settings = settings or CloudSettings()
        self.state_dir = Path(self.settings.state_dir).resolve()
        self.environment = self.settings.environment
        self._server: ThreadedMotoServer | None = None
        self._stack: list[Any] = []
        self.registry = LambdaRegistry(account_id=self.environment.account_id, region=self.environment.region)
        self.runtime: LambdaRuntime | None = None
        self.sagemaker: Any = None
        self.invoker: AsyncLambdaInvoker | None = None
        self.events: EventBridgeLambdaTargets | None = None
        self.ca: LocalCertificateAuthority | None = None
        self.deployment: Deployment | None = None
        self.api_servers: dict[str, ApiGatewayServer] = {}
        self.outputs: dict[str, Any] = {}
        self.schedules: ScheduledRules | None = None
        self.alarms: AlarmEvaluator | None = None
        self.labeling: LabelingService | None = None
        self.crowd: SimulatedCrowd | None = None
        self.account = AccountState()
        """The account's state moto does not keep (the private workforce; see :class:`CloudSettings`)."""
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self.iam = DeployedIam()
        """The deployed roles and Lambda permissions (filled by :meth:`deploy`)."""
        self.principals = Principals(
            self.environment.account_id,
            self.environment.region,
            enforce=self.settings.enforce_iam,
            roles_source=self.iam.statements,
        )
        """The local STS and IAM: role credentials and the authorization decisions (local/iam_auth.py)."""
        self.deliveries = Deliveries(self.principals, self.iam)
        """Resource and key policies of service deliveries (dead letters; local/iam_resource.py)."""

    # -- lifecycle -----------------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``: the AWS endpoint of every emulated service."""
        if self._server is None:
            raise RuntimeError("the local cloud is not started")
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def start(self) -> LocalCloud:
        """Start moto and install every extension (see module docstring)."""
        # moto's server logs every request through werkzeug at INFO.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for stale in ("logs", "sagemaker", "deploy"):
            shutil.rmtree(self.state_dir / stale, ignore_errors=True)
        try:
            self._start_moto()
            self._start_lambda_runtime()
            self._start_sagemaker_and_sfn()
            invoker = self._start_invocations()
            self._install_request_checks()
            self.schedules = ScheduledRules(
                lambda: self.client("events"),
                invoker,
                account_id=self.environment.account_id,
                region=self.environment.region,
                seconds_per_minute=self.settings.schedule_seconds_per_minute,
            )
            self._stack.append(self.schedules.stop)
            self.alarms = AlarmEvaluator(
                lambda: self.client("cloudwatch"),
                lambda: self.client("sns"),
                account_id=self.environment.account_id,
                region=self.environment.region,
                tick_seconds=self.settings.alarm_tick_seconds,
            )
            self._stack.append(self.alarms.stop)
            self._prepare_account()
            self.ca = LocalCertificateAuthority(self.state_dir / "ca.pem")
        except BaseException:
            self.stop()
            raise
        return self

    # Each _start_* step pushes its teardown onto self._stack (stop() unwinds it in reverse order).

    def _start_moto(self) -> None:
        self._server = ThreadedMotoServer(
            ip_address=self.settings.host, port=self.settings.port, verbose=False
        )
        self._server.start()
        self._stack.append(self._server.stop)
        install_iam_middleware(self._server, self.principals)
        # POST uploads (presigned POST policies): moto checks neither the policy nor the signature.
        install_post_policy_check(self._server, self.secret_for, self.principals)
        # Runs just before the server stops: moto's backends are process-global, so drop what this
        # cloud created (nothing survives a stop, and later mock_aws() users start clean).
        self._stack.append(self._reset_moto)
        self._enable_step_functions_execution()

    def _start_lambda_runtime(self) -> None:
        self.runtime = LambdaRuntime(
            {
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
                "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
                "AWS_REGION": self.environment.region,
            },
            log_dir=self.state_dir / "logs",
            max_concurrency=self.settings.lambda_concurrency,
        )
        self.runtime.credentials = self._role_environment
        self._stack.append(self.runtime.shutdown)

    def _start_sagemaker_and_sfn(self) -> None:
        from local.sagemaker import LocalSageMaker, WorkforceSettings, install_sagemaker_api

        workforce = WorkforceSettings(
            reference_labels=self.settings.reference_labels_path,
            error_rate=self.settings.labeling_error_rate,
            seed=self.settings.labeling_seed,
            seconds_per_task=self.settings.labeling_seconds_per_task,
            auto_labeling_min_objects=self.settings.labeling_auto_min_objects,
        )
        self.sagemaker = LocalSageMaker(
            lambda: self.client("s3", cached=False),
            self.state_dir / "sagemaker",
            emit_event=self.publish_sagemaker_event,
            region=self.environment.region,
            account_id=self.environment.account_id,
            workforce=workforce,
            logs_client=lambda: self.client("logs", cached=False),
            algorithm_threads=self.settings.algorithm_threads,
            s3_for_role=lambda role_arn: self.role_client("s3", role_arn, "SageMaker"),
            client_for_role=lambda service, role_arn: self.role_client(service, role_arn, "SageMaker"),
        )
        self._stack.append(self.sagemaker.shutdown)
        api = install_sagemaker_api(self.sagemaker)
        self._stack.append(api.uninstall)
        sfn = install_sfn(
            self.registry,
            self.sagemaker,
            poll_interval=self.settings.sagemaker_poll_interval,
            retry_interval_scale=self.settings.retry_interval_scale,
            principals=self.principals,
        )
        self._stack.append(sfn.uninstall)

    def _start_invocations(self) -> AsyncLambdaInvoker:
        """Asynchronous Lambda invocations (returned), EventBridge targets and Lambda's ``Invoke`` API."""
        self.invoker = invoker = AsyncLambdaInvoker(
            self.registry,
            self._async_config,
            self.send_sqs_message,
            retry_delays=self.settings.async_retry_delays,
            may_dead_letter=self._lambda_may_dead_letter,
        )
        self._stack.append(invoker.shutdown)
        self.events = EventBridgeLambdaTargets(
            invoker,
            self.send_sqs_message,
            may_invoke=self._events_may_invoke,
            may_dead_letter=self._events_may_dead_letter,
        ).install()
        self._stack.append(self.events.uninstall)
        lambda_api = install_lambda_api(self.registry, invoker)
        self._stack.append(lambda_api.uninstall)
        return invoker

    def _install_request_checks(self) -> None:
        """Where moto is laxer than AWS: token signing keys, presigned URLs, DynamoDB concurrency, version ids."""
        # Each user pool signs its tokens with a key of its own, not moto's published one (local/cognito.py).
        self._stack.append(install_pool_signing_keys().uninstall)
        # Presigned S3 URLs must carry a valid, unexpired signature by the local key (local/sigv4.py).
        presigned = install_presigned_url_check(self.secret_for, self.environment.region)
        self._stack.append(presigned.uninstall)
        self._stack.append(serialize_dynamodb())
        # Failed transactions roll back from their items, not from table copies (local/moto_transactions.py):
        # safe only under the lock above.
        self._stack.append(install_transaction_snapshots())
        if self.settings.dynamodb_speedups:  # same answers as moto's, from the queried partition only
            self._stack.append(install_dynamodb_speedups())
        serialize_s3_url_reload()
        if self.settings.s3_version_seed is not None:
            self._stack.append(seed_version_ids(self.settings.s3_version_seed))

    def _prepare_account(self) -> None:
        """The account state :class:`CloudSettings` asks for (a fresh account otherwise)."""
        self.account = AccountState()
        env = self.environment
        if self.settings.api_gateway_logging_role:
            role = f"arn:{env.partition}:iam::{env.account_id}:role/ApiGatewayCloudWatchLogs"
            set_api_gateway_logging_role(self.client, role)
        if self.settings.existing_private_workforce:
            cognito = self.client("cognito-idp")
            pool = cognito.create_user_pool(PoolName="existing-private-workforce")["UserPool"]["Id"]
            client = cognito.create_user_pool_client(
                UserPoolId=pool, ClientName="workforce", GenerateSecret=True
            )
            self.account.private_workforce = PrivateWorkforce(
                user_pool=pool, client_id=client["UserPoolClient"]["ClientId"]
            )

    def _enable_step_functions_execution(self) -> None:
        request = urllib.request.Request(  # noqa: S310 - our loopback server
            f"{self.endpoint_url}/moto-api/config",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our loopback server
            response.read()
        if not default_user_config.get("stepfunctions", {}).get("execute_state_machine"):
            raise RuntimeError("moto did not switch on Step Functions execution")

    def _reset_moto(self) -> None:
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", data=b"", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our loopback server
            response.read()

    def stop(self) -> None:
        """Stop everything started (in reverse order); in-memory state is gone."""
        if self.crowd is not None:
            self.crowd.stop()
            self.crowd = None
        for server in self.api_servers.values():
            try:
                server.stop()
            except Exception:
                LOG.exception("stopping the API server failed")
        self.api_servers.clear()
        while self._stack:
            step = self._stack.pop()
            try:
                step()
            except Exception:
                LOG.exception("stopping %s failed", getattr(step, "__qualname__", step))
        self._server = None
        default_user_config["stepfunctions"] = {"execute_state_machine": False}

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- clients and glue ----------------------------------------------------------------------------

    def client(self, service: str, *, cached: bool = True) -> Any:
        """A boto3 client for the local endpoint (thread-safe; cached per service unless ``cached=False``)."""
        if cached:
            with self._clients_lock:
                if service not in self._clients:
                    self._clients[service] = self._new_client(service)
                return self._clients[service]
        return self._new_client(service)

    def _new_client(self, service: str) -> Any:
        return new_session().client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.environment.region,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            config=Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=32),
        )

    def secret_for(self, access_key_id: str) -> str | None:
        """The secret of the local administrator's key or of a role session's key (SigV4 verification)."""
        if access_key_id == ACCESS_KEY_ID:
            return SECRET_ACCESS_KEY
        return self.principals.secret_for(access_key_id)

    def _role_environment(self, role_arn: str, session: str) -> dict[str, str]:
        return self.principals.credentials_for(role_arn, session).environment()

    def role_client(self, service: str, role_arn: str, session: str) -> Any:
        """A boto3 client acting with a session of ``role_arn`` (what a service does on a role's behalf)."""
        credentials = self.principals.credentials_for(role_arn, session)
        return new_session().client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.environment.region,
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token,
            config=Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=32),
        )

    def _events_may_invoke(self, rule_arn: str, function_arn: str) -> bool:
        """EventBridge invokes a function only if its resource policy allows ``events.amazonaws.com`` for
        the rule (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-lambda-permissions)."""
        if not self.settings.enforce_iam:
            return True
        return self.iam.lambda_invoke_allowed(function_arn, "events.amazonaws.com", rule_arn)

    def _events_may_dead_letter(self, rule_arn: str, queue_arn: str) -> str | None:
        return self.deliveries.service_sends("events.amazonaws.com", queue_arn, rule_arn)

    def _lambda_may_dead_letter(self, function_name: str, target_arn: str) -> str | None:
        spec = (self.deployment.functions if self.deployment else {}).get(function_name_of(function_name))
        if spec is None or not spec.role_arn:
            return None
        return self.deliveries.role_sends(spec.role_arn, spec.name, target_arn)

    def publish_sagemaker_event(self, detail_type: str, detail: dict[str, Any], resources: list[str]) -> None:
        """The local SageMaker's ``emit_event``: PutEvents on the default bus, source ``aws.sagemaker``."""
        response = self.client("events").put_events(
            Entries=[
                {
                    "Source": "aws.sagemaker",
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail, default=str),
                    "Resources": resources,
                    "EventBusName": "default",
                }
            ]
        )
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"PutEvents rejected a SageMaker event: {response['Entries']}")

    def send_sqs_message(self, queue_arn: str, body: str, attributes: Mapping[str, str]) -> None:
        """Send a message to the queue with ARN ``queue_arn`` (dead letters)."""
        parts = queue_arn.split(":")
        sqs = self.client("sqs")
        url = sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
        sqs.send_message(
            QueueUrl=url,
            MessageBody=body,
            MessageAttributes={
                k: {"DataType": "String", "StringValue": v} for k, v in attributes.items() if v
            },
        )

    def _async_config(self, function_name: str) -> AsyncInvokeConfig | None:
        spec = (self.deployment.functions if self.deployment else {}).get(function_name_of(function_name))
        return spec.async_config if spec else None

    # -- deployment ----------------------------------------------------------------------------------

    def deploy(self, assembly_dir: str | Path) -> Deployment:
        """Deploy a cloud assembly and serve its REST APIs; fills :attr:`outputs`."""
        if self.runtime is None or self.ca is None:
            raise RuntimeError("start the local cloud before deploying")
        assembly = CloudAssembly(assembly_dir)
        env = self.environment
        deployer = LocalDeployer(
            self.client,
            env,
            self.runtime,
            self.registry,
            work_dir=self.state_dir / "deploy",
            iam=self.iam,
            endpoint_rewrites={
                f"https://cognito-idp.{env.region}.{env.url_suffix}/": f"{self.endpoint_url}/"
            },
            account=self.account,
        )
        # Gateway responses (predict's JSON 413) live with the gateway they customise (local/apigateway.py).
        deployer.handlers["AWS::ApiGateway::GatewayResponse"] = gateway_response_resource
        self.deployment = deployer.deploy(assembly)
        verifier = CognitoTokenVerifier(self._pool_clients, region=env.region)
        for api_id, api in self.deployment.apis.items():
            server = ApiGatewayServer(
                api,
                self.registry.invoke,
                ssl_context=self.ca.server_context(),
                account_id=self.environment.account_id,
                region=self.environment.region,
                access_key_id=ACCESS_KEY_ID,
                secret_access_key=SECRET_ACCESS_KEY,
                secret_for=self.secret_for,
                principals=self.principals,
                host=self.settings.host,
                port=self.settings.api_port if len(self.deployment.apis) == 1 else 0,
                access_log=self.state_dir / "logs" / f"api-{api_id}-access.log",
                token_verifier=verifier,
            ).start()
            self.api_servers[api_id] = server
        if self.schedules is not None:
            self.schedules.refresh()
            self.schedules.start()
        if self.alarms is not None:
            for alarm_name in self.deployment.alarms:
                self.alarms.register(alarm_name)
            self.alarms.start()
        self.outputs = self._outputs(self.deployment)
        self.labeling = self._labeling_service(self.deployment)
        if self.labeling is not None:
            self.outputs.update(self.labeling.outputs())
            self._start_crowd(self.labeling)
        return self.deployment

    def evaluate_alarms(self, *, at: float | None = None) -> dict[str, str]:
        """Evaluate the deployed CloudWatch alarms now (or as at ``at``, epoch seconds), whatever the timer
        (local/alarms.py): their states."""
        if self.alarms is None:
            raise RuntimeError("the local cloud is not started")
        return self.alarms.evaluate_now(at)

    def fire_schedules(self, rule_name: str | None = None, *, at: float | None = None) -> int:
        """Fire a scheduled rule (by name) or all of them now, whatever the timer; returns how many. ``at``:
        the events' ``time`` (epoch seconds) instead of now (:meth:`ScheduledRules.fire_now`)."""
        if self.schedules is None:
            raise RuntimeError("the local cloud is not started")
        return self.schedules.fire_now(rule_name, at=at)

    def _pool_clients(self, pool_id: str) -> set[str] | None:
        return pool_clients(self.client("cognito-idp"), pool_id)

    def _labeling_service(self, deployment: Deployment) -> LabelingService | None:
        return find_labeling_service(
            self.client("cognito-idp"),
            deployment,
            {api_id: server.stage_url for api_id, server in self.api_servers.items()},
            self.settings.labeling_username,
        )

    def _start_crowd(self, labeling: LabelingService) -> None:
        if self.settings.simulated_labelers <= 0 or self.ca is None:
            return
        self.crowd = start_crowd(
            labeling,
            lambda: self.client("cognito-idp"),
            ca_path=self.ca.ca_path,
            labelers=self.settings.simulated_labelers,
            reviewers=self.settings.simulated_reviewers,
            review_settings=ReviewerSettings(
                error_rate=self.settings.reviewer_error_rate, seed=self.settings.labeling_seed
            ),
            settings=CrowdSettings(
                reference_labels=self.settings.reference_labels_path,
                error_rate=self.settings.labeling_error_rate,
                seed=self.settings.labeling_seed,
                seconds_per_task=self.settings.labeling_seconds_per_task,
            ),
        )

    def localize(self, value: Any) -> Any:
        """Replace AWS invoke URLs of deployed APIs (``https://<id>.execute-api.<region>.<suffix>/``) in
        ``value`` with the local HTTPS server's URL."""
        if not isinstance(value, str):
            return value
        env = self.environment
        for api_id, server in self.api_servers.items():
            value = value.replace(
                f"https://{api_id}.execute-api.{env.region}.{env.url_suffix}", server.base_url
            )
        return value

    def _outputs(self, deployment: Deployment) -> dict[str, Any]:
        outputs: dict[str, Any] = {
            "AwsEndpointUrl": self.endpoint_url,
            "Region": self.environment.region,
            "AccountId": self.environment.account_id,
            "AccessKeyId": ACCESS_KEY_ID,
            "SecretAccessKey": SECRET_ACCESS_KEY,
            "CaCertPath": str(self.ca.ca_path) if self.ca else None,
            "WorkforceReferenceLabels": str(self.settings.reference_labels_path),
            "LogDir": str(self.state_dir / "logs"),
        }
        for stack in deployment.stacks.values():
            for name, value in stack.outputs.items():
                # CDK's generated cross-stack exports stay under "Stacks" only.
                if not name.startswith("ExportsOutput"):
                    outputs[name] = self.localize(value)
        for api in deployment.apis.values():
            keys = [key.value for key in api.api_keys.values() if key.enabled]
            if keys:
                outputs["ApiKey"] = keys[0]
            outputs.setdefault("ApiId", api.id)
        outputs["Stacks"] = {
            name: {key: self.localize(value) for key, value in stack.outputs.items()}
            for name, stack in deployment.stacks.items()
        }
        return outputs

    def write_outputs(self, path: Path | None = None) -> Path:
        """Write :attr:`outputs` as JSON (default ``<state dir>/outputs.json``)."""
        target = path or self.state_dir / "outputs.json"
        target.write_text(json.dumps(self.outputs, indent=2, default=str) + "\n")
        return target

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until EventBridge deliveries and the Lambda invocations they started are done."""
        deadline = time.monotonic() + timeout
        if self.sagemaker is not None:
            self.sagemaker.flush_events(timeout)
        return self.events.wait_idle(max(0.0, deadline - time.monotonic())) if self.events else True
