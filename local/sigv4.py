"""SigV4 verification on the local cloud, as AWS verifies it: API Gateway ``AWS_IAM`` requests and S3
presigned URLs.

Signatures are recomputed with botocore's signers (:class:`botocore.auth.SigV4Auth` for ``execute-api``,
:class:`botocore.auth.S3SigV4QueryAuth` for presigned S3 URLs) from the secret of the access key the
request names, looked up with ``secret_for(access_key_id)`` (the local cloud's credentials: ``AccessKeyId``
/ ``SecretAccessKey`` of its outputs; any other key is unknown).

API Gateway (``AWS_IAM`` methods), :func:`verify_request`; every failure is 403 with AWS's JSON message:

- no ``Authorization`` header: ``Missing Authentication Token`` (checked by the gateway);
- a header without ``Credential``/``SignedHeaders``/``Signature``, or without ``X-Amz-Date``/``Date``:
  ``IncompleteSignatureException``;
- an unknown access key: ``The security token included in the request is invalid.``
  (``UnrecognizedClientException``);
- a credential scope for another region or service: ``Credential should be scoped to a valid region, not
  '<region>'. `` / ``Credential should be scoped to correct service: 'execute-api'. ``
  (``InvalidSignatureException``);
- a request date more than 5 minutes from the gateway's clock: ``Signature expired: <date> is now earlier
  than <now - 5 min> (<now> - 5 min.)`` or ``Signature not yet current: <date> is still later than
  <now + 5 min> (<now> + 5 min.)``; a scope date that is not the request's date;
- any other difference: ``The request signature we calculated does not match the signature you
  provided...`` followed by the canonical string and string-to-sign the gateway computed, as API Gateway
  answers (https://repost.aws/knowledge-center/api-gateway-iam-sigv4-mismatch).

S3 presigned URLs (``X-Amz-Signature`` in the query), :func:`verify_presigned_url`, answer S3's XML
errors: an unknown key 403 ``InvalidAccessKeyId``; ``X-Amz-Expires`` over a week 400
``AuthorizationQueryParametersError``; past ``X-Amz-Date + X-Amz-Expires`` 403 ``AccessDenied`` ``Request
has expired``; a wrong signature 403 ``SignatureDoesNotMatch``
(https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html).
:func:`install_presigned_url_check` puts that check in front of moto's S3 (which accepts any presigned
URL): requests signed in the ``Authorization`` header are left to moto, as before.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SecretLookup = Callable[[str], "str | None"]
"""``secret_for(access_key_id)``: the secret access key of a known key, None for an unknown one."""

CLOCK_SKEW: Final = dt.timedelta(minutes=5)
"""API Gateway refuses requests dated more than 5 minutes from its clock ("... - 5 min.")."""
MAX_PRESIGNED_EXPIRES: Final = 604800
"""S3's longest presigned URL lifetime: one week, in seconds."""
AMZ_DATE: Final = "%Y%m%dT%H%M%SZ"


def secrets_of(credentials: Mapping[str, str]) -> SecretLookup:
    """A :data:`SecretLookup` over ``{access key id: secret access key}``."""
    known = dict(credentials)
    return known.get


class SignatureError(Exception):
    """A request AWS would refuse: the HTTP status, the error code and AWS's message."""

    def __init__(self, status: int, code: str, message: str, extra: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = dict(extra or {})


def known_secret(secret_for: SecretLookup, access_key_id: str) -> str:
    """The secret of ``access_key_id``; S3's 403 ``InvalidAccessKeyId`` for a key it does not know (presigned
    URLs and POST policies alike)."""
    secret = secret_for(access_key_id)
    if secret is None:
        raise SignatureError(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            {"AWSAccessKeyId": access_key_id},
        )
    return secret


@dataclass(frozen=True)
class Caller:
    """Who signed a request."""

    access_key_id: str


def _parse_authorization(value: str) -> dict[str, str]:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        return {}
    parts: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, part = item.strip().partition("=")
        if sep:
            parts[name.strip()] = part.strip()
    return parts


def _amz_time(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(value, AMZ_DATE).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _http_time(value: str) -> dt.datetime | None:
    try:
        from email.utils import parsedate_to_datetime

        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def verify_request(
    *,
    method: str,
    raw_path: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    secret_for: SecretLookup,
    region: str,
    service: str = "execute-api",
    now: dt.datetime | None = None,
) -> Caller:
    """Verify a request signed in its ``Authorization`` header (``raw_path``: path and query as sent);
    the caller, or :class:`SignatureError` with API Gateway's answer."""
    pairs = list(headers)
    lower: dict[str, str] = {}
    for name, value in pairs:
        lower.setdefault(name.lower(), value)
    authorization = lower.get("authorization", "")
    parts = _header_parts(authorization)
    access_key_id, scope_date, secret = _header_scope(parts["Credential"], secret_for, region, service)
    timestamp = _header_timestamp(lower, authorization, scope_date, now)
    signed = [name for name in parts["SignedHeaders"].lower().split(";") if name]
    signed_values: dict[str, list[str]] = {}
    for name, value in pairs:
        if name.lower() in signed:
            signed_values.setdefault(name.lower(), []).append(value.strip())
    request = AWSRequest(
        method=method.upper(),
        url=f"https://{lower.get('host', '')}{raw_path}",
        # Repeated headers are signed as one comma-separated value.
        headers={name: ",".join(values) for name, values in signed_values.items()},
        data=body,
    )
    request.context["timestamp"] = timestamp
    auth = SigV4Auth(Credentials(access_key_id, secret), service, region)
    canonical, string_to_sign, matches = _check_signature(auth, request, parts["Signature"])
    if not matches or "host" not in signed:
        raise SignatureError(
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details.\n\n"
            f"The Canonical String for this request should have been\n'{canonical}'\n\n"
            f"The String-to-Sign should have been\n'{string_to_sign}'\n",
        )
    return Caller(access_key_id)


def _header_parts(authorization: str) -> dict[str, str]:
    """The ``Authorization`` header's parts; API Gateway's answer when one it needs is missing."""
    parts = _parse_authorization(authorization)
    missing = [name for name in ("Credential", "Signature", "SignedHeaders") if not parts.get(name)]
    if missing:
        raise SignatureError(
            403,
            "IncompleteSignatureException",
            " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
            + f" Authorization={authorization}",
        )
    return parts


def _header_scope(
    credential: str, secret_for: SecretLookup, region: str, service: str
) -> tuple[str, str, str]:
    """``(access key id, scope date, secret)`` of a header's ``Credential``, as API Gateway checks it."""
    scope = credential.split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise SignatureError(
            403,
            "IncompleteSignatureException",
            f"Credential should be scoped to a valid region, not '{scope[2] if len(scope) > 2 else ''}'. ",
        )
    access_key_id, scope_date, scope_region, scope_service, _ = scope
    secret = secret_for(access_key_id)
    if secret is None:
        raise SignatureError(
            403, "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    wrong = ""
    if scope_region != region:
        wrong += f"Credential should be scoped to a valid region, not '{scope_region}'. "
    if scope_service != service:
        wrong += f"Credential should be scoped to correct service: '{service}'. "
    if wrong:
        raise SignatureError(403, "InvalidSignatureException", wrong)
    return access_key_id, scope_date, secret


def _header_timestamp(
    lower: Mapping[str, str], authorization: str, scope_date: str, now: dt.datetime | None
) -> str:
    """The request's ``X-Amz-Date`` (or ``Date``) as SigV4 signs it, within :data:`CLOCK_SKEW` of ``now``
    and on the credential scope's day; API Gateway's answer otherwise."""
    amz_date = lower.get("x-amz-date", "")
    date = _amz_time(amz_date) if amz_date else _http_time(lower.get("date", ""))
    if date is None:
        raise SignatureError(
            403,
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
            f"Authorization={authorization}",
        )
    timestamp = date.strftime(AMZ_DATE)
    current = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    if date < current - CLOCK_SKEW:
        raise SignatureError(
            403,
            "InvalidSignatureException",
            f"Signature expired: {timestamp} is now earlier than {(current - CLOCK_SKEW).strftime(AMZ_DATE)} "
            f"({current.strftime(AMZ_DATE)} - 5 min.)",
        )
    if date > current + CLOCK_SKEW:
        raise SignatureError(
            403,
            "InvalidSignatureException",
            f"Signature not yet current: {timestamp} is still later than "
            f"{(current + CLOCK_SKEW).strftime(AMZ_DATE)} ({current.strftime(AMZ_DATE)} + 5 min.)",
        )
    if scope_date != timestamp[:8]:
        raise SignatureError(
            403,
            "InvalidSignatureException",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope_date}' != '{timestamp[:8]}', from '{timestamp}'.",
        )
    return timestamp


def _check_signature(auth: SigV4Auth, request: AWSRequest, provided: str) -> tuple[str, str, bool]:
    """The core both checks share: ``(canonical request, string to sign, whether the signature ``auth``
    computes for ``request`` is ``provided``)`` (compared in constant time)."""
    canonical = auth.canonical_request(request)
    string_to_sign = auth.string_to_sign(request, canonical)
    return canonical, string_to_sign, _same(auth.signature(string_to_sign, request), provided)


def _same(left: str, right: str) -> bool:
    import hmac

    return hmac.compare_digest(left.encode(), right.encode())


def _query_pairs(query: str) -> list[tuple[str, str]]:
    # Decode each pair without turning "+" into a space (SigV4 encodes spaces as %20).
    pairs = []
    for item in query.split("&"):
        if item:
            name, _, value = item.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return pairs


def _encode(value: str) -> str:
    return quote(value, safe="-_.~")


def is_presigned(url: str) -> bool:
    """Whether a URL carries a SigV4 query-string signature."""
    return any(name == "X-Amz-Signature" for name, _ in _query_pairs(urlsplit(url).query))


def verify_presigned_url(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    secret_for: SecretLookup,
    region: str,
    service: str = "s3",
    now: dt.datetime | None = None,
) -> Caller:
    """Verify a SigV4 presigned URL (``X-Amz-*`` query parameters) as S3 does; the signer, or
    :class:`SignatureError` with S3's answer."""
    split = urlsplit(url)
    pairs = _query_pairs(split.query)
    params = dict(pairs)
    access_key_id, secret = _query_scope(params, secret_for, region, service)
    expires = _query_expires(params, now)
    signed = [name for name in params["X-Amz-SignedHeaders"].lower().split(";") if name]
    query = "&".join(
        f"{_encode(name)}={_encode(value)}" for name, value in sorted(pairs) if name != "X-Amz-Signature"
    )
    path = quote(unquote(split.path or "/"), safe="/~")
    lower = {name.lower(): value for name, value in headers.items()}
    request = AWSRequest(
        method=method.upper(),
        url=f"{split.scheme or 'http'}://{lower.get('host', split.netloc)}{path}?{query}",
        headers={name: lower[name] for name in signed if name in lower},
    )
    request.context["timestamp"] = params["X-Amz-Date"]
    auth = S3SigV4QueryAuth(Credentials(access_key_id, secret), service, region, expires=expires)
    canonical, string_to_sign, matches = _check_signature(auth, request, params.get("X-Amz-Signature", ""))
    if "host" not in signed or not matches:
        raise SignatureError(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key "
            "and signing method.",
            {"AWSAccessKeyId": access_key_id, "StringToSign": string_to_sign, "CanonicalRequest": canonical},
        )
    return Caller(access_key_id)


def _query_scope(
    params: Mapping[str, str], secret_for: SecretLookup, region: str, service: str
) -> tuple[str, str]:
    """``(access key id, secret)`` of a presigned URL's ``X-Amz-Credential``, as S3 checks it (the
    parameters present, the scope well formed, the key known, region and service this endpoint's)."""
    needed = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders")
    missing = [name for name in needed if name not in params]
    if missing or params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
        raise SignatureError(
            400,
            "AuthorizationQueryParametersError",
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
            "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
        )
    scope = params["X-Amz-Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise SignatureError(
            400,
            "AuthorizationQueryParametersError",
            "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting "
            '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".',
        )
    access_key_id, scope_date, scope_region, scope_service, _ = scope
    secret = known_secret(secret_for, access_key_id)
    if scope_region != region:
        raise SignatureError(
            400,
            "AuthorizationQueryParametersError",
            f"Error parsing the X-Amz-Credential parameter; the region '{scope_region}' is wrong; "
            f"expecting '{region}'",
        )
    if scope_service != service:
        raise SignatureError(
            400,
            "AuthorizationQueryParametersError",
            f'Error parsing the X-Amz-Credential parameter; incorrect service "{scope_service}". '
            f'This endpoint belongs to "{service}".',
        )
    if scope_date != params["X-Amz-Date"][:8]:
        raise _bad_date()
    return access_key_id, secret


def _bad_date() -> SignatureError:
    return SignatureError(
        400,
        "AuthorizationQueryParametersError",
        "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\" and X-Amz-Expires must "
        "be a number of seconds",
    )


def _query_expires(params: Mapping[str, str], now: dt.datetime | None) -> int:
    """The URL's ``X-Amz-Expires`` in seconds, at most a week and not past; S3's answer otherwise."""
    date = _amz_time(params["X-Amz-Date"])
    expires_text = params["X-Amz-Expires"]
    if date is None or not expires_text.isdigit():
        raise _bad_date()
    expires = int(expires_text)
    if expires > MAX_PRESIGNED_EXPIRES:
        raise SignatureError(
            400,
            "AuthorizationQueryParametersError",
            "X-Amz-Expires must be less than a week (in seconds) that is, the given X-Amz-Expires must be "
            "less than 604800 seconds",
        )
    current = now or dt.datetime.now(dt.UTC)
    if current > date + dt.timedelta(seconds=expires):
        raise SignatureError(
            403,
            "AccessDenied",
            "Request has expired",
            {
                "X-Amz-Expires": str(expires),
                "Expires": (date + dt.timedelta(seconds=expires)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ServerTime": current.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )
    return expires


def s3_error(error: SignatureError) -> tuple[int, dict[str, str], bytes]:
    """S3's XML error answer for a refused presigned URL."""
    fields = [("Code", error.code), ("Message", error.message), *error.extra.items()]
    fields.append(("RequestId", uuid.uuid4().hex[:16].upper()))
    inner = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in fields)
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{inner}</Error>'.encode()
    return error.status, {"Content-Type": "application/xml"}, body


# --------------------------------------------------------------------------------------------------
# The check in front of moto's S3
# --------------------------------------------------------------------------------------------------

_LOCK = threading.Lock()
_ACTIVE: list[PresignedUrlCheck] = []
_ORIGINAL: dict[str, Callable[..., Any]] = {}


class PresignedUrlCheck:
    """The installed check (see :func:`install_presigned_url_check`)."""

    def __init__(self, secret_for: SecretLookup, region: str) -> None:
        self.secret_for = secret_for
        self.region = region

    def refusal(self, request: Any, full_url: str) -> tuple[int, dict[str, str], bytes] | None:
        """S3's answer when ``request`` carries a presigned URL that does not verify; None otherwise."""
        headers = {str(name): str(value) for name, value in dict(request.headers).items()}
        if not is_presigned(full_url) or any(name.lower() == "authorization" for name in headers):
            return None
        try:
            verify_presigned_url(
                method=str(request.method),
                url=full_url,
                headers=headers,
                secret_for=self.secret_for,
                region=self.region,
            )
        except SignatureError as error:
            return s3_error(error)
        return None

    def uninstall(self) -> None:
        """Restore moto's S3 handlers."""
        from moto.s3.responses import S3Response

        with _LOCK:
            if self in _ACTIVE:
                _ACTIVE.remove(self)
            if not _ACTIVE and _ORIGINAL:
                S3Response.key_response = _ORIGINAL.pop("key_response")  # type: ignore[method-assign]
                S3Response.bucket_response = _ORIGINAL.pop("bucket_response")  # type: ignore[method-assign]


def _checked(name: str) -> Callable[..., Any]:
    def handler(self: Any, request: Any, full_url: str, headers: Any) -> Any:
        with _LOCK:
            check = _ACTIVE[-1] if _ACTIVE else None
        refusal = check.refusal(request, full_url) if check is not None else None
        if refusal is not None:
            return refusal
        return _ORIGINAL[name](self, request, full_url, headers)

    return handler


def install_presigned_url_check(secret_for: SecretLookup, region: str) -> PresignedUrlCheck:
    """Verify presigned URLs before moto's S3 serves them (patch points ``S3Response.key_response`` and
    ``S3Response.bucket_response``); :meth:`PresignedUrlCheck.uninstall` restores them."""
    from moto.s3.responses import S3Response

    check = PresignedUrlCheck(secret_for, region)
    with _LOCK:
        if not _ORIGINAL:
            for name in ("key_response", "bucket_response"):
                _ORIGINAL[name] = getattr(S3Response, name)
                setattr(S3Response, name, _checked(name))
        _ACTIVE.append(check)
    return check
