"""S3 browser-based uploads (``POST /<bucket>`` with a signed POST policy) checked on the local cloud as S3
checks them; moto stores any such form without looking at its policy or signature.

A ``multipart/form-data`` POST to a bucket (path style, as the local endpoint is addressed) whose form carries
a ``policy`` is refused, before moto sees it, with S3's XML error when:

- a field S3 needs is missing (``key``, the ``file``, the SigV4 fields): 400 ``InvalidArgument``;
- the credential's access key is unknown: 403 ``InvalidAccessKeyId``; the signature (HMAC-SHA256 of the
  base64 policy with the SigV4 signing key of the credential's date, region and ``s3``) differs: 403
  ``SignatureDoesNotMatch``;
- the policy's ``expiration`` has passed: 403 ``AccessDenied`` ``Invalid according to Policy: Policy
  expired.``;
- a condition fails (``eq``/``{"field": value}``, ``starts-with``): 403 ``AccessDenied`` ``Invalid according
  to Policy: Policy Condition failed: ["eq", "$Content-Type", "image/png"]``; the file is outside
  ``content-length-range``: 400 ``EntityTooLarge`` / ``EntityTooSmall`` with the proposed and allowed sizes;
- a form field no condition covers (besides ``policy``, ``x-amz-signature``, ``file`` and ``x-ignore-*``):
  403 ``AccessDenied`` ``Invalid according to Policy: Extra input fields: <name>``;
- the signer (a role's minted key, :mod:`local.iam_auth`) may not ``s3:PutObject`` the key, or may not use
  the KMS key the object is encrypted with (``kms:GenerateDataKey``): 403 ``AccessDenied`` with IAM's text.
  S3 authorizes a POST upload as the policy's signer
  (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-authentication-HTTPPOST.html).

POST policy and its conditions: https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html;
the form's fields and errors: https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import io
import json
from collections.abc import Callable, Mapping
from typing import Any

from .iam_auth import Principals
from .iam_policy import Request
from .sigv4 import SecretLookup, SignatureError, known_secret, s3_error

_UNSIGNED_FIELDS = frozenset({"policy", "x-amz-signature", "file"})
WsgiApp = Callable[..., Any]


def _signing_key(secret: str, date: str, region: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _denied(message: str) -> SignatureError:
    return SignatureError(403, "AccessDenied", f"Invalid according to Policy: {message}")


def _invalid(message: str) -> SignatureError:
    return SignatureError(400, "InvalidArgument", message)


def _verify_signature(fields: Mapping[str, str], secret_for: SecretLookup) -> str:
    """The signer's access key id, once the form's SigV4 fields and signature check out."""
    for name in ("x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"):
        if name not in fields:
            raise _invalid(f"Bucket POST must contain a field named '{name}'.")
    if fields["x-amz-algorithm"] != "AWS4-HMAC-SHA256":
        raise _invalid("Only the AWS4-HMAC-SHA256 algorithm is supported for POST policy signatures.")
    scope = fields["x-amz-credential"].split("/")
    if len(scope) != 5 or scope[3] != "s3" or scope[4] != "aws4_request":
        raise _invalid("Error parsing the X-Amz-Credential parameter; the Credential is mal-formed.")
    access_key_id, date, region = scope[0], scope[1], scope[2]
    secret = known_secret(secret_for, access_key_id)
    expected = hmac.new(
        _signing_key(secret, date, region), fields["policy"].encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, fields["x-amz-signature"]):
        raise SignatureError(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key "
            "and signing method.",
        )
    return access_key_id


def _policy(encoded: str, now: dt.datetime) -> list[Any]:
    """The policy's conditions; SignatureError when it is malformed or expired."""
    try:
        document = json.loads(base64.b64decode(encoded, validate=True))
        expiration = dt.datetime.fromisoformat(str(document["expiration"]).replace("Z", "+00:00"))
        conditions = document["conditions"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise _invalid("Invalid Policy: Invalid JSON.") from exc
    if not isinstance(conditions, list):
        raise _invalid("Invalid Policy: Invalid JSON.")
    if expiration <= now:
        raise _denied("Policy expired.")
    return conditions


def _check_conditions(conditions: list[Any], fields: Mapping[str, str], size: int) -> None:
    """Every condition holds and every signed form field is covered by one (see module docstring)."""
    covered: set[str] = set()
    for condition in conditions:
        if isinstance(condition, dict) and len(condition) == 1:
            ((name, value),) = condition.items()
            condition = ["eq", f"${name}", value]
        if not isinstance(condition, list) or len(condition) != 3:
            raise _invalid("Invalid Policy: Invalid Condition.")
        operator, subject, value = condition
        if str(operator).lower() == "content-length-range":
            low, high = int(subject), int(value)
            if size > high:
                raise SignatureError(
                    400,
                    "EntityTooLarge",
                    "Your proposed upload exceeds the maximum allowed size",
                    {"ProposedSize": str(size), "MaxSizeAllowed": str(high)},
                )
            if size < low:
                raise SignatureError(
                    400,
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed size",
                    {"ProposedSize": str(size), "MinSizeAllowed": str(low)},
                )
            continue
        name = str(subject).removeprefix("$").lower()
        covered.add(name)
        actual = fields.get(name, "")
        holds = (
            actual == value if operator == "eq" else operator == "starts-with" and actual.startswith(value)
        )
        if not holds:
            raise _denied(f"Policy Condition failed: {json.dumps([operator, subject, value])}")
    extra = [
        name
        for name in fields
        if name not in covered
        and name not in _UNSIGNED_FIELDS
        and name != "bucket"  # the bucket comes from the request's path, not from a field
        and not name.startswith("x-ignore-")
    ]
    if extra:
        raise _denied(f"Extra input fields: {', '.join(extra)}")


class PostPolicyMiddleware:
    """The check, as a WSGI middleware in front of moto's server (see module docstring)."""

    def __init__(
        self,
        app: WsgiApp,
        secret_for: SecretLookup,
        principals: Principals,
        *,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.app = app
        self.secret_for = secret_for
        self.principals = principals
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = str(environ.get("PATH_INFO", ""))
        content_type = str(environ.get("CONTENT_TYPE", ""))
        bucket = path.strip("/")
        if (
            environ.get("REQUEST_METHOD") != "POST"
            or not content_type.startswith("multipart/form-data")
            or not bucket
            or "/" in bucket
            or environ.get("QUERY_STRING")
        ):
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        fields, size = _form(environ, body)
        refusal = self.refusal(bucket, fields, size) if "policy" in fields else None
        if refusal is None:
            return self.app(environ, start_response)
        status, headers, payload = s3_error(refusal)
        reason = {400: "Bad Request", 403: "Forbidden"}.get(status, "Error")
        start_response(f"{status} {reason}", [*headers.items(), ("Content-Length", str(len(payload)))])
        return [payload]

    def refusal(self, bucket: str, fields: dict[str, str], size: int | None) -> SignatureError | None:
        """Why S3 would refuse this upload form, or None."""
        try:
            access_key_id = _verify_signature(fields, self.secret_for)
            conditions = _policy(fields["policy"], self.clock())
            if "key" not in fields:
                raise _invalid("Bucket POST must contain a field named 'key'.")
            if size is None:
                raise _invalid("POST requires exactly one file upload per request.")
            _check_conditions(conditions, {**fields, "bucket": bucket}, size)
            self._authorize(access_key_id, bucket, fields)
        except SignatureError as error:
            return error
        return None

    def _authorize(self, access_key_id: str, bucket: str, fields: Mapping[str, str]) -> None:
        """The signer may put the object and use its KMS key (roles only; other keys are administrators)."""
        principal = self.principals.principal_for(access_key_id)
        if principal is None:
            return
        denial = self.principals.denial(
            principal, [Request("s3:PutObject", f"arn:aws:s3:::{bucket}/{fields['key']}")]
        )
        key_id = fields.get("x-amz-server-side-encryption-aws-kms-key-id") or _default_key(
            principal.account, bucket
        )
        if denial is None and key_id:
            denial = self.principals.key_denial(principal, key_id, ["kms:GenerateDataKey"], "s3")
        if denial is not None:
            raise SignatureError(403, "AccessDenied", denial.message)


def _form(environ: dict[str, Any], body: bytes) -> tuple[dict[str, str], int | None]:
    """``(fields with lower-case names, size of the file or None)`` of a multipart form."""
    from werkzeug.formparser import parse_form_data

    copy = {**environ, "wsgi.input": io.BytesIO(body)}
    _, form, files = parse_form_data(copy)
    fields = {str(name).lower(): str(value) for name, value in form.items()}
    upload = files.get("file")
    return fields, None if upload is None else len(upload.read())


def _default_key(account: str, bucket: str) -> str | None:
    """The bucket's default SSE-KMS key, if any (moto's store)."""
    from moto.s3.models import s3_backends

    try:
        stored = s3_backends[account]["global"].get_bucket(bucket)
    except Exception:
        return None
    rule = ((stored.encryption or {}).get("Rule") or {}).get("ApplyServerSideEncryptionByDefault") or {}
    return rule.get("KMSMasterKeyID")


def install_post_policy_check(server: Any, secret_for: SecretLookup, principals: Principals) -> None:
    """Put :class:`PostPolicyMiddleware` in front of a started ``ThreadedMotoServer``'s WSGI application
    (the seam :func:`local.iam_auth.install_iam_middleware` uses)."""
    from local.moto_compat import MotoInternalsChanged

    wsgi = getattr(server, "_server", None)
    if wsgi is None or not callable(getattr(wsgi, "app", None)):
        raise MotoInternalsChanged("local.s3_post_policy: ThreadedMotoServer._server.app is missing")
    wsgi.app = PostPolicyMiddleware(wsgi.app, secret_for, principals)
