"""IAM enforced in the local cloud: every principal acts with its own role's credentials (issue 14).

:class:`Principals` is the local STS: :meth:`Principals.credentials_for` mints one access key per role and session
(``ASIA...``, like ``AssumeRole``), and :meth:`Principals.authorize` evaluates a principal's requests against the
identity policies the deployment attached to its role (:mod:`local.iam_policy`), and, for requests that make a
service use a customer managed KMS key on the caller's behalf (S3 SSE-KMS objects, encrypted SQS queues and SNS
topics), the key's permission by identity policy *and* key policy
(https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html).

:class:`IamMiddleware` is the one authorization hook in front of moto's server (its WSGI application): a request
signed with a role's access key is derived into IAM requests (:mod:`local.iam_requests`) and refused, before moto
sees it, with AWS's ``AccessDenied`` text in the shape of the service's protocol. Requests signed with any other
key (the local administrator's, the deployer's, tests' and the CLI's) and unsigned requests (Cognito's public
sign-in API) are not evaluated, as an administrator's would all be allowed.

Not evaluated (documented in docs/security.md): permissions boundaries, SCPs, session policies, bucket, queue and
topic policies on the requests signed here (the endpoint is plain HTTP: ``aws:SecureTransport`` would be false
and the TLS-only denies would refuse every request; :mod:`local.iam_resource` evaluates queue and topic policies
for service deliveries), other global condition keys, and the numeric/date/IP condition operators (a statement
using one raises PolicyNotEvaluated).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .fidelity import _action_matches, _as_list, _conditions_match
from .iam_policy import Request, allows
from .iam_requests import Derived, HttpRequest, Scope, derive, s3_location, signing_scope

LOG = logging.getLogger(__name__)

EXEMPT_ACTIONS = frozenset({"sts:getcalleridentity"})
"""Actions no policy is needed for (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html)."""


@dataclass(frozen=True)
class Credentials:
    """Temporary credentials of one role session."""

    access_key_id: str
    secret_access_key: str
    session_token: str

    def environment(self) -> dict[str, str]:
        """The ``AWS_*`` variables a process acting with these credentials gets."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


@dataclass(frozen=True)
class Principal:
    """A role session: ``arn:aws:sts::<account>:assumed-role/<role>/<session>``."""

    role_arn: str
    session: str
    account: str

    @property
    def arn(self) -> str:
        """The assumed-role ARN AWS names in AccessDenied messages."""
        return f"arn:aws:sts::{self.account}:assumed-role/{self.role_arn.rsplit('/', 1)[-1]}/{self.session}"


@dataclass(frozen=True)
class Denial:
    """One refused request, with AWS's message."""

    principal: Principal
    request: Request
    resource_policy: bool = False

    @property
    def message(self) -> str:
        """AWS's AccessDenied text (identity or resource policy that lacks the action)."""
        kind = "resource-based" if self.resource_policy else "identity-based"
        return (
            f"User: {self.principal.arn} is not authorized to perform: {self.request.action} on resource: "
            f"{self.request.resource} because no {kind} policy allows the {self.request.action} action"
        )


class AccessDenied(Exception):
    """An in-process principal (the state machine, a SageMaker job) was refused: ``str()`` is AWS's text."""

    def __init__(self, denial: Denial) -> None:
        super().__init__(denial.message)
        self.denial = denial


@dataclass
class Principals:
    """Roles, their statements and the credentials minted for them (see module docstring).

    ``enforce``: False answers every request as allowed (diagnosis only; ``CloudSettings.enforce_iam``).
    """

    account: str
    region: str
    enforce: bool = True
    roles_source: Callable[[], Mapping[str, list[dict[str, Any]]]] | None = None
    """Where the roles' statements come from (the deployment's IAM, read at each decision)."""
    roles: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _keys: dict[str, tuple[Principal, Credentials]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def register_role(self, role_arn: str, statements: Iterable[Mapping[str, Any]]) -> None:
        """Make ``role_arn``'s identity policies ``statements`` (replacing earlier ones)."""
        with self._lock:
            self.roles[role_arn] = [dict(s) for s in statements]

    def statements_of(self, role_arn: str) -> list[dict[str, Any]]:
        """The identity-policy statements of ``role_arn`` (none for an unknown role: everything is denied)."""
        if role_arn in self.roles:
            return self.roles[role_arn]
        source = self.roles_source() if self.roles_source else {}
        return list(source.get(role_arn, []))

    def credentials_for(self, role_arn: str, session: str) -> Credentials:
        """The credentials of a session of ``role_arn`` (the same for the same session name)."""
        digest = hashlib.sha256(f"{role_arn}/{session}".encode()).hexdigest().upper()
        credentials = Credentials("ASIA" + digest[:16], digest[16:56], "local-session-" + digest[:24])
        with self._lock:
            self._keys[credentials.access_key_id] = (Principal(role_arn, session, self.account), credentials)
        return credentials

    def principal_for(self, access_key_id: str) -> Principal | None:
        """The role session an access key belongs to; None for keys not minted here (not evaluated)."""
        with self._lock:
            found = self._keys.get(access_key_id)
        return found[0] if found else None

    def secret_for(self, access_key_id: str) -> str | None:
        """The secret of a minted key (SigV4 verification of presigned URLs and the API's IAM auth)."""
        with self._lock:
            found = self._keys.get(access_key_id)
        return found[1].secret_access_key if found else None

    def denial(self, principal: Principal, requests: Iterable[Request]) -> Denial | None:
        """The first of ``requests`` the principal's identity policies do not allow, or None."""
        if not self.enforce:
            return None
        statements = self.statements_of(principal.role_arn)
        for request in requests:
            if request.action.lower() in EXEMPT_ACTIONS:
                continue
            if not allows(statements, request):
                return Denial(principal, request)
        return None

    def refusal(self, role_arn: str, session: str, requests: Iterable[Request]) -> str | None:
        """AWS's AccessDenied message for the first request ``role_arn`` may not make, or None."""
        denial = self.denial(Principal(role_arn, session, self.account), requests)
        if denial is not None:
            LOG.warning("IAM: %s", denial.message)
        return denial.message if denial else None

    def check(self, role_arn: str, session: str, requests: Iterable[Request]) -> None:
        """Raise :class:`AccessDenied` unless ``role_arn`` may make every one of ``requests``."""
        denial = self.denial(Principal(role_arn, session, self.account), requests)
        if denial is not None:
            LOG.warning("IAM: %s", denial.message)
            raise AccessDenied(denial)

    def key_denial(
        self, principal: Principal, key_id: str, actions: Iterable[str], via: str
    ) -> Denial | None:
        """Whether ``principal`` may use the KMS key ``key_id`` for ``actions`` through service ``via``:
        the key policy must allow the role itself, or allow the account (``:root``) and then the identity
        policies decide; an explicit Deny in either wins."""
        if not self.enforce:
            return None
        key = _kms_key(self.account, self.region, key_id)
        if key is None:
            return None  # an AWS managed or unknown key: nothing the deployment controls
        arn, policy = key
        context = {"kms:ViaService": f"{via}.{self.region}.amazonaws.com", "kms:CallerAccount": self.account}
        for action in actions:
            request = Request(action, arn, context)
            decision = key_policy_decision(policy, principal, action, context)
            if decision == "deny" or decision is None:
                return Denial(principal, request, resource_policy=True)
            if decision == "account" and not allows(self.statements_of(principal.role_arn), request):
                return Denial(principal, request)
        return None


def key_policy_decision(
    policy: Mapping[str, Any], principal: Principal, action: str, context: Mapping[str, str]
) -> str | None:
    """``"deny"``, ``"role"`` (the key policy allows the role itself), ``"account"`` (it allows the account,
    delegating to IAM) or None (it allows neither)."""
    root = f"arn:aws:iam::{principal.account}:root"
    decision: str | None = None
    for statement in _as_list(policy.get("Statement")):
        aws = (
            _as_list((statement.get("Principal") or {}).get("AWS"))
            if statement.get("Principal") != "*"
            else ["*"]
        )
        if not aws or not _action_matches(statement, action):
            continue
        if not _conditions_match(statement.get("Condition") or {}, context):
            continue
        names_role = principal.role_arn in aws or "*" in aws
        names_account = root in aws or principal.account in aws
        if not (names_role or names_account):
            continue
        if statement.get("Effect") == "Deny":
            return "deny"
        decision = "role" if names_role else decision or "account"
    return decision


def _kms_key(account: str, region: str, key_id: str) -> tuple[str, dict[str, Any]] | None:
    from moto.kms.models import kms_backends

    try:
        key = kms_backends[account][region].describe_key(key_id)
    except Exception:
        return None
    return str(key.arn), dict(json.loads(key.policy))


# --- KMS on the caller's behalf -----------------------------------------------------------------------


def _s3_key_use(account: str, request: HttpRequest, derived: Derived) -> tuple[str, list[str]] | None:
    """The key S3 uses for this request and the KMS actions it needs of the caller, if any
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#require-sse-kms)."""
    from moto.s3.models import s3_backends

    actions = {r.action for r in derived.requests}
    bucket, key = s3_location(request)
    try:
        stored = s3_backends[account]["global"].get_bucket(bucket)
    except Exception:
        return None
    default = ((stored.encryption or {}).get("Rule") or {}).get("ApplyServerSideEncryptionByDefault") or {}
    if "s3:PutObject" in actions and request.method.upper() in ("PUT", "POST"):
        key_id = request.header("x-amz-server-side-encryption-aws-kms-key-id") or default.get(
            "KMSMasterKeyID"
        )
        return (str(key_id), ["kms:GenerateDataKey"]) if key_id else None
    if actions & {"s3:GetObject", "s3:GetObjectVersion"} and request.method.upper() == "GET":
        found = stored.keys.get(key)
        key_id = getattr(found, "kms_key_id", None) or default.get("KMSMasterKeyID")
        return (str(key_id), ["kms:Decrypt"]) if key_id else None
    return None


def _message_key_use(
    account: str, region: str, service: str, derived: Derived
) -> tuple[str, list[str]] | None:
    """Encrypted SQS queues and SNS topics: the sender needs GenerateDataKey and Decrypt, the receiver Decrypt
    (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html)."""
    actions = {r.action for r in derived.requests}
    resource = derived.requests[0].resource if derived.requests else "*"
    try:
        if service == "sqs" and actions & {"sqs:SendMessage", "sqs:ReceiveMessage"}:
            from moto.sqs.models import sqs_backends

            queue = sqs_backends[account][region].get_queue(resource.rsplit(":", 1)[-1])
            key_id = getattr(queue, "kms_master_key_id", None)
            needed = (
                ["kms:GenerateDataKey", "kms:Decrypt"] if "sqs:SendMessage" in actions else ["kms:Decrypt"]
            )
            return (str(key_id), needed) if key_id else None
        if service == "sns" and "sns:Publish" in actions:
            from moto.sns.models import sns_backends

            topic = sns_backends[account][region].get_topic(resource)
            key_id = getattr(topic, "kms_master_key_id", "")
            return (str(key_id), ["kms:GenerateDataKey", "kms:Decrypt"]) if key_id else None
    except Exception:
        return None
    return None


def _task_token_requests(account: str, region: str, request: HttpRequest, derived: Derived) -> Derived:
    """SendTask* are evaluated against the state machine whose execution issued the token (what CDK's
    ``grantTaskResponse`` grants); unresolvable tokens stay on ``*`` (AWS answers InvalidToken to those)."""
    # The executing backend (moto's ASL interpreter) is the parser backend, not moto's plain one.
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    token = str(json.loads(request.body or b"{}").get("taskToken", ""))
    try:
        machines = list(stepfunctions_parser_backends[account][region].state_machines)
        for machine in machines:
            for execution in list(machine.executions):
                worker = getattr(execution, "exec_worker", None)
                pool = getattr(getattr(worker, "env", None), "callback_pool_manager", None)
                if pool is not None and pool.get(token) is not None:
                    action = derived.requests[0].action
                    return Derived(derived.operation, [Request(action, str(machine.arn))])
    except Exception:
        LOG.debug("IAM: task token not resolved", exc_info=True)
    return derived


# --- the WSGI hook ------------------------------------------------------------------------------------

_QUERY_CODES = {
    "sns": "AuthorizationError",
    "monitoring": "AccessDenied",
    "sts": "AccessDenied",
    "sqs": "AccessDenied",
}


def refusal(service: str, request: HttpRequest, denial: Denial) -> tuple[str, list[tuple[str, str]], bytes]:
    """AWS's AccessDenied answer in the protocol of ``service``: ``(status, headers, body)``."""
    message = denial.message
    if service == "s3":
        # S3 quotes the resource (https://docs.aws.amazon.com/AmazonS3/latest/userguide/troubleshoot-403-errors.html).
        message = message.replace(
            f"on resource: {denial.request.resource} ", f'on resource: "{denial.request.resource}" '
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
            f"<Message>{_xml(message)}</Message><RequestId>local</RequestId></Error>"
        )
        return "403 Forbidden", [("Content-Type", "application/xml")], body.encode()
    if request.header("X-Amz-Target") or service in ("lambda", "sagemaker"):
        code = "AccessDenied" if service == "sqs" else "AccessDeniedException"
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
        if service == "sqs":
            headers.append(("x-amzn-query-error", "AccessDenied;Sender"))
        status = "403 Forbidden" if service in ("lambda", "sqs") else "400 Bad Request"
        return status, headers, json.dumps({"__type": code, "message": message, "Message": message}).encode()
    code = _QUERY_CODES.get(service, "AccessDenied")
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{_xml(message)}</Message></Error>"
        "<RequestId>local</RequestId></ErrorResponse>"
    )
    return "403 Forbidden", [("Content-Type", "text/xml")], body.encode()


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


class IamMiddleware:
    """WSGI middleware in front of moto's application (see module docstring)."""

    def __init__(self, app: Callable[..., Any], principals: Principals) -> None:
        self.app = app
        self.principals = principals

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self.principals.enforce and not str(environ.get("PATH_INFO", "")).startswith("/moto-api"):
            answer = self._refusal(environ)
            if answer is not None:
                status, headers, body = answer
                start_response(status, [*headers, ("Content-Length", str(len(body)))])
                return [body]
        return self.app(environ, start_response)

    def _refusal(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes] | None:
        headers = {
            key[5:].replace("_", "-").title(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = str(environ["CONTENT_TYPE"])
        probe = HttpRequest(
            str(environ.get("REQUEST_METHOD", "GET")), "", str(environ.get("QUERY_STRING", "")), headers
        )
        scope = signing_scope(probe)
        if scope is None:
            return None
        principal = self.principals.principal_for(scope[0])
        if principal is None:
            return None
        _, region, service = scope
        request = HttpRequest(
            probe.method,
            str(environ.get("RAW_URI") or environ.get("PATH_INFO", "")).split("?")[0],
            probe.query,
            headers,
            self._body(environ, service),
        )
        derived = derive(service, request, Scope(region, principal.account))
        if service == "states" and derived.operation.startswith("SendTask"):
            derived = _task_token_requests(principal.account, region, request, derived)
        if not derived.resource_known:
            LOG.warning("IAM: %s %s: resource not derived, evaluated against '*'", service, derived.operation)
        denial = self.principals.denial(principal, derived.requests)
        if denial is None:
            denial = self._key_denial(principal, service, region, request, derived)
        if denial is None:
            return None
        LOG.warning("IAM: %s", denial.message)
        return refusal(service, request, denial)

    def _key_denial(
        self, principal: Principal, service: str, region: str, request: HttpRequest, derived: Derived
    ) -> Denial | None:
        if service == "s3":
            use = _s3_key_use(principal.account, request, derived)
        else:
            use = _message_key_use(principal.account, region, service, derived)
        if use is None:
            return None
        key_id, actions = use
        return self.principals.key_denial(principal, key_id, actions, "s3" if service == "s3" else service)

    @staticmethod
    def _body(environ: dict[str, Any], service: str) -> bytes:
        # S3 bodies are object data (only DeleteObjects' key list matters); others are small API requests.
        if service == "s3" and "delete" not in str(environ.get("QUERY_STRING", "")):
            return b""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length <= 0:
            return b""
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        return bytes(body)


def install_iam_middleware(server: Any, principals: Principals) -> None:
    """Put :class:`IamMiddleware` in front of a started ``ThreadedMotoServer``'s WSGI application.

    **Patch point**: the werkzeug server (``ThreadedMotoServer._server``) serves ``.app``; replacing it is the
    one seam every request to the local endpoint passes, whatever service it is for."""
    from local.moto_compat import MotoInternalsChanged

    wsgi = getattr(server, "_server", None)
    if wsgi is None or not callable(getattr(wsgi, "app", None)):
        raise MotoInternalsChanged("local.iam_auth: ThreadedMotoServer._server.app is missing")
    wsgi.app = IamMiddleware(wsgi.app, principals)
