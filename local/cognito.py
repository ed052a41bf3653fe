"""Cognito user pools on the local cloud: ID-token verification for API Gateway, and local users.

moto's ``cognito-idp`` issues real RS256 JWTs (``InitiateAuth``, ``AdminInitiateAuth``) with the issuer
AWS uses, ``https://cognito-idp.<region>.amazonaws.com/<pool id>``, but signs them with the private key it
ships (``moto/cognitoidp/resources/jwks-private.json``, key id ``dummy``): a published key, with which
anyone can sign any claims (a user who does not exist, any group). On AWS only Cognito holds a pool's
signing keys. :func:`install_pool_signing_keys` therefore makes moto sign each pool's tokens with an RSA key
of that pool, generated in this process and never written anywhere (key id ``<pool id>-<random>``; the
pool's ``/.well-known/jwks.json`` serves the public keys), and :class:`CognitoTokenVerifier` trusts those
keys only. It checks a token the way an API Gateway ``COGNITO_USER_POOLS`` authorizer does
(https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-integrate-with-cognito.html,
https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-tokens-verifying-a-jwt.html):

- the signature (RS256, the pool's own key), nothing else accepted (no ``alg: none``, not moto's key);
- ``iss`` is one of the authorizer's user pools (``ProviderARNs``);
- ``exp`` has not passed (``iat`` may not lie in the future beyond a small clock skew);
- without authorization scopes on the method: an ID token (``token_use: id``) whose ``aud`` is an app
  client of that pool; with scopes: an access token (``token_use: access``, ``client_id`` a client of the
  pool) whose ``scope`` holds one of them.

Like AWS, it does not look the user up: a token of a user who was deleted, disabled or signed out keeps
working until it expires (AWS revokes refresh tokens, and access tokens for Cognito's own APIs, not ID
tokens at API Gateway).

Any failure is :class:`Unauthorized` (the gateway answers 401 ``{"message": "Unauthorized"}``, as AWS
does, without saying why; the reason is logged at debug level).

:func:`api_gateway_claims` turns the verified claims into ``requestContext.authorizer.claims`` as API
Gateway's REST APIs deliver them: every value a string, ``cognito:groups`` joined with commas
(``"labelers,labeling-admins"``), ``exp``/``iat`` as ``Tue Apr 04 18:39:39 UTC 2023``.

:func:`create_user` makes a user who can sign in at once (permanent password, e-mail verified, no
invitation sent) and puts it into groups: the local cloud's simulated labelers and the person who labels
in the browser (``LabelingUsername``/``LabelingPassword``).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import logging
import secrets
import string
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

LOG = logging.getLogger(__name__)

CLOCK_SKEW_SECONDS: Final = 60.0
MOTO_PUBLIC_JWKS: Final = "cognitoidp/resources/jwks-public.json"
"""moto's published key (tests may trust it explicitly; the local cloud never does)."""


class Unauthorized(Exception):
    """The token does not authorize the request (the message says why, for logs only)."""


def pool_id_from_arn(arn: str) -> str:
    """``arn:aws:cognito-idp:<region>:<account>:userpool/<pool id>`` -> ``<pool id>``; ValueError otherwise."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "cognito-idp" or not parts[5].startswith("userpool/"):
        raise ValueError(f"{arn!r} is not a Cognito user pool ARN")
    return parts[5].removeprefix("userpool/")


def issuer(region: str, pool_id: str) -> str:
    """The ``iss`` claim of tokens from ``pool_id`` (moto writes ``amazonaws.com`` whatever the partition)."""
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"


class PoolSigningKeys:
    """The signing keys of the local user pools (see :func:`install_pool_signing_keys`)."""

    def __init__(self) -> None:
        self._keys: dict[str, RSAKey] = {}
        self._lock = threading.Lock()

    def private_key(self, pool_id: str) -> RSAKey:
        """The pool's signing key (created on first use)."""
        with self._lock:
            key = self._keys.get(pool_id)
            created = key is None
            if key is None:
                kid = f"{pool_id}-{secrets.token_hex(4)}"
                key = RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})
                self._keys[pool_id] = key
        if created:
            _publish(self)
        return key

    def public_keys(self, pool_id: str) -> KeySet:
        """The pool's public keys (empty for a pool that never signed a token)."""
        with self._lock:
            key = self._keys.get(pool_id)
        return KeySet([] if key is None else [RSAKey.import_key(key.as_dict(private=False))])

    def jwks(self) -> dict[str, Any]:
        """Every pool's public key, as a JWKS document."""
        with self._lock:
            keys = list(self._keys.values())
        return {"keys": [key.as_dict(private=False) for key in keys]}

    def uninstall(self) -> None:
        """Let moto sign with its own key again."""
        _uninstall(self)


_SIGNING_LOCK = threading.Lock()
_SIGNING: list[PoolSigningKeys] = []
_MOTO_ORIGINAL: dict[str, Any] = {}


def active_signing_keys() -> PoolSigningKeys | None:
    """The installed :class:`PoolSigningKeys`, if any."""
    with _SIGNING_LOCK:
        return _SIGNING[-1] if _SIGNING else None


def _publish(keys: PoolSigningKeys) -> None:
    from moto.cognitoidp.responses import CognitoIdpJsonWebKeyResponse

    if active_signing_keys() is keys:
        CognitoIdpJsonWebKeyResponse.json_web_key = json.dumps(keys.jwks()).encode("utf-8")


def _payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    if not isinstance(value, dict):
        raise ValueError("a JWT payload is a JSON object")
    return value


def install_pool_signing_keys() -> PoolSigningKeys:
    """Make moto sign every user pool's tokens with that pool's own key (patch point:
    ``moto.cognitoidp.models.CognitoIdpUserPool.create_jwt``, whose claims are kept and re-signed; the JWKS
    endpoint serves the pools' public keys). :meth:`PoolSigningKeys.uninstall` restores moto."""
    from moto.cognitoidp.models import CognitoIdpUserPool
    from moto.cognitoidp.responses import CognitoIdpJsonWebKeyResponse

    keys = PoolSigningKeys()
    with _SIGNING_LOCK:
        if not _MOTO_ORIGINAL:
            original = CognitoIdpUserPool.create_jwt
            _MOTO_ORIGINAL["create_jwt"] = original
            _MOTO_ORIGINAL["json_web_key"] = CognitoIdpJsonWebKeyResponse.json_web_key

            def create_jwt(self: Any, *args: Any, **kwargs: Any) -> tuple[str, int]:
                token, expires_in = original(self, *args, **kwargs)
                active = active_signing_keys()
                if active is None:
                    return token, expires_in
                key = active.private_key(str(self.id))
                header = {"alg": "RS256", "kid": str(key.kid)}
                return jwt.encode(header, _payload(token), key), expires_in

            CognitoIdpUserPool.create_jwt = create_jwt  # type: ignore[method-assign]
        _SIGNING.append(keys)
    _publish(keys)
    return keys


def _uninstall(keys: PoolSigningKeys) -> None:
    from moto.cognitoidp.models import CognitoIdpUserPool
    from moto.cognitoidp.responses import CognitoIdpJsonWebKeyResponse

    with _SIGNING_LOCK:
        if keys in _SIGNING:
            _SIGNING.remove(keys)
        if not _SIGNING and _MOTO_ORIGINAL:
            CognitoIdpUserPool.create_jwt = _MOTO_ORIGINAL.pop("create_jwt")  # type: ignore[method-assign]
            CognitoIdpJsonWebKeyResponse.json_web_key = _MOTO_ORIGINAL.pop("json_web_key")
            return
        current = _SIGNING[-1] if _SIGNING else None
    if current is not None:
        _publish(current)


class CognitoTokenVerifier:
    """Verifies Cognito JWTs for the local API Gateway (see module docstring).

    ``pool_clients(pool_id)`` returns the app client ids of a pool (None when the pool does not exist).
    ``keys``: the trusted public keys, as one key set or per pool (``keys(pool_id)``); by default the keys
    of the installed :class:`PoolSigningKeys` (none installed: every token is refused).
    """

    def __init__(
        self,
        pool_clients: Callable[[str], Collection[str] | None],
        *,
        region: str,
        keys: KeySet | Callable[[str], KeySet] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pool_clients = pool_clients
        self.region = region
        self.keys = keys
        self.clock = clock

    def _keys_of(self, pool_id: str) -> KeySet:
        if isinstance(self.keys, KeySet):
            return self.keys
        if self.keys is not None:
            return self.keys(pool_id)
        installed = active_signing_keys()
        return installed.public_keys(pool_id) if installed is not None else KeySet([])

    def verify(self, token: str, provider_arns: Sequence[str], scopes: Sequence[str] = ()) -> dict[str, Any]:
        """The token's claims when it authorizes a method of an authorizer over ``provider_arns``
        (requiring one of ``scopes`` when the method has any); raises :class:`Unauthorized`."""
        if not token or token.count(".") != 2:
            raise Unauthorized("not a JWT")
        pools = {issuer(self.region, pool_id_from_arn(arn)): pool_id_from_arn(arn) for arn in provider_arns}
        try:
            claimed_issuer = str(_payload(token).get("iss", ""))
        except (ValueError, TypeError) as error:
            raise Unauthorized(f"signature or format: {error}") from None
        pool_id = pools.get(claimed_issuer)
        if pool_id is None:
            raise Unauthorized(f"issuer {claimed_issuer!r} is not one of {sorted(pools)}")
        try:
            decoded = jwt.decode(token, self._keys_of(pool_id), algorithms=["RS256"])
        except (JoseError, ValueError) as error:
            raise Unauthorized(f"signature or format: {error}") from None
        claims = dict(decoded.claims)
        if claims.get("iss") != claimed_issuer:
            raise Unauthorized("signature or format: the issuer changed")
        now = self.clock()
        exp, iat = claims.get("exp"), claims.get("iat", 0)
        if not isinstance(exp, int | float) or exp <= now:
            raise Unauthorized("expired")
        if not isinstance(iat, int | float) or iat > now + CLOCK_SKEW_SECONDS:
            raise Unauthorized("issued in the future")
        clients = self.pool_clients(pool_id)
        if clients is None:
            raise Unauthorized(f"user pool {pool_id} does not exist")
        if scopes:
            if claims.get("token_use") != "access":
                raise Unauthorized("methods with authorization scopes need an access token")
            if claims.get("client_id") not in clients:
                raise Unauthorized("the token's client is not a client of the pool")
            granted = str(claims.get("scope", "")).split()
            if not set(granted) & set(scopes):
                raise Unauthorized(f"none of the scopes {list(scopes)} granted")
        else:
            if claims.get("token_use") != "id":
                raise Unauthorized(f"token_use {claims.get('token_use')!r}: an ID token is needed")
            audience = claims.get("aud")
            audiences = audience if isinstance(audience, list) else [audience]
            if not any(value in clients for value in audiences):
                raise Unauthorized("the token's audience is not a client of the pool")
        return claims


def _claim_text(name: str, value: Any) -> str:
    if name in ("exp", "iat") and isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def api_gateway_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims as API Gateway REST APIs put them in ``requestContext.authorizer.claims`` (strings only)."""
    return {name: _claim_text(name, value) for name, value in claims.items()}


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization`` header: API Gateway's Cognito authorizer takes the raw token."""
    return (header or "").strip()


# --------------------------------------------------------------------------------------------------
# Local users
# --------------------------------------------------------------------------------------------------


def new_password(length: int = 16) -> str:
    """A random password that meets Cognito's strictest policy (upper, lower, digit, symbol)."""
    alphabet = string.ascii_letters + string.digits
    core = "".join(secrets.choice(alphabet) for _ in range(max(length - 4, 8)))
    return core + secrets.choice(string.ascii_uppercase) + secrets.choice(string.ascii_lowercase) + "7!"


@dataclass(frozen=True)
class LocalUser:
    """A user created in a local user pool: sign in with ``username`` and ``password``."""

    username: str
    password: str
    groups: tuple[str, ...]


def create_user(
    cognito: Any, pool_id: str, email: str, groups: Iterable[str], password: str | None = None
) -> LocalUser:
    """Create (or reset) ``email`` in ``pool_id`` with a permanent password, in ``groups`` (which must exist:
    ValueError names a missing one)."""
    wanted = list(groups)
    existing = {g["GroupName"] for g in cognito.list_groups(UserPoolId=pool_id, Limit=60)["Groups"]}
    missing = [group for group in wanted if group not in existing]
    if missing:
        raise ValueError(f"user pool {pool_id} has no group(s) {missing} (groups: {sorted(existing)})")
    secret = password or new_password()
    with contextlib.suppress(cognito.exceptions.UsernameExistsException):
        cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=email,
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
            TemporaryPassword=new_password(),
            MessageAction="SUPPRESS",
        )
    cognito.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=secret, Permanent=True)
    for group in wanted:
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName=group)
    return LocalUser(email, secret, tuple(wanted))


def sign_in(cognito: Any, client_id: str, username: str, password: str) -> dict[str, Any]:
    """``InitiateAuth`` with ``USER_PASSWORD_AUTH``: the ``AuthenticationResult`` (``IdToken``, ...);
    RuntimeError when Cognito answers a challenge instead (the local users never get one)."""
    answer = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    if "AuthenticationResult" not in answer:
        raise RuntimeError(f"sign-in of {username} answered the challenge {answer.get('ChallengeName')}")
    return dict(answer["AuthenticationResult"])
