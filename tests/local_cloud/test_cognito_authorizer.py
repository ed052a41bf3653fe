"""API Gateway COGNITO_USER_POOLS authorization on the local gateway, with tokens from moto's Cognito (fast).

Given a user pool with an app client and a user in the group ``labelers`` (moto, in process), and the local
gateway serving a method protected by a Cognito authorizer of that pool, when requests carry various
``Authorization`` headers, then only an unexpired ID token of that pool issued to one of its clients reaches
the function, with the claims API Gateway passes (strings; ``cognito:groups`` comma-joined); everything
else answers 401 ``{"message": "Unauthorized"}`` without calling the function.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from moto import mock_aws
from moto.utilities.utils import load_resource

from local.api_model import AuthorizerModel, RestApiModel, StageModel
from local.apigateway import ApiGatewayServer
from local.cognito import (
    CognitoTokenVerifier,
    Unauthorized,
    api_gateway_claims,
    create_user,
    install_pool_signing_keys,
    sign_in,
)
from local.sfn import LambdaRegistry
from local.tls import LocalCertificateAuthority
from tests.local_cloud.test_api_gateway import call, proxy_method

REGION = "us-east-1"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:labeling-api"


@dataclass
class Pool:
    cognito: Any
    pool_id: str
    arn: str
    client_id: str
    other_client_id: str

    def clients(self, pool_id: str) -> set[str] | None:
        try:
            answer = self.cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)
        except self.cognito.exceptions.ResourceNotFoundException:
            return None
        return {c["ClientId"] for c in answer["UserPoolClients"]}


def make_pool(cognito: Any, name: str) -> Pool:
    pool = cognito.create_user_pool(PoolName=name, UsernameAttributes=["email"])["UserPool"]
    clients = [
        cognito.create_user_pool_client(
            UserPoolId=pool["Id"], ClientName=f"{name}-{n}", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
        )["UserPoolClient"]["ClientId"]
        for n in range(2)
    ]
    for group in ("labelers", "labeling-admins"):
        cognito.create_group(UserPoolId=pool["Id"], GroupName=group)
    return Pool(cognito, pool["Id"], pool["Arn"], clients[0], clients[1])


@pytest.fixture
def pools() -> Iterator[tuple[Pool, Pool]]:
    # As on the local cloud: each pool signs with a key of its own, not moto's published one.
    keys = install_pool_signing_keys()
    try:
        with mock_aws():
            cognito = boto3.client("cognito-idp", region_name=REGION)
            yield make_pool(cognito, "team"), make_pool(cognito, "elsewhere")
    finally:
        keys.uninstall()


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCertificateAuthority:
    return LocalCertificateAuthority(tmp_path_factory.mktemp("tls") / "ca.pem")


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": json.dumps(event)}


def labeling_api(provider_arn: str, scopes: list[str] | None = None) -> RestApiModel:
    api = RestApiModel(id="lab123", name="labeling")
    api.authorizers["auth1"] = AuthorizerModel("auth1", "team", "COGNITO_USER_POOLS", (provider_arn,))
    api.methods[("/api/jobs", "GET")] = proxy_method(
        "jobs",
        "/api/jobs",
        "GET",
        FUNCTION_ARN,
        authorization_type="COGNITO_USER_POOLS",
        authorizer_id="auth1",
        authorization_scopes=scopes or [],
    )
    api.stages["prod"] = StageModel(name="prod", deployment_id="d1")
    return api


def serve(ca: LocalCertificateAuthority, pool: Pool, api: RestApiModel, **verifier: Any) -> ApiGatewayServer:
    registry = LambdaRegistry({FUNCTION_ARN: echo})
    return ApiGatewayServer(
        api,
        registry.invoke,
        ssl_context=ca.server_context(),
        account_id="123456789012",
        region=REGION,
        access_key_id="AKIALOCALTEST0000000",
        token_verifier=CognitoTokenVerifier(pool.clients, region=REGION, **verifier),
    ).start()


def tokens(pool: Pool, email: str, groups: list[str], client_id: str | None = None) -> dict[str, Any]:
    user = create_user(pool.cognito, pool.pool_id, email, groups)
    return sign_in(pool.cognito, client_id or pool.client_id, user.username, user.password)


def test_an_id_token_of_the_pool_reaches_the_function_with_api_gateway_claims(
    ca: LocalCertificateAuthority, pools: tuple[Pool, Pool]
) -> None:
    team, _ = pools
    server = serve(ca, team, labeling_api(team.arn))
    try:
        result = tokens(team, "ada@example.com", ["labelers", "labeling-admins"])
        status, _, body = call(
            ca,
            f"{server.stage_url('prod')}/api/jobs",
            headers={"Authorization": result["IdToken"]},
            method="GET",
        )
    finally:
        server.stop()
    assert status == 200, body
    claims = json.loads(body)["requestContext"]["authorizer"]["claims"]
    assert sorted(claims["cognito:groups"].split(",")) == ["labelers", "labeling-admins"]
    assert claims["email"] == "ada@example.com" and claims["token_use"] == "id"
    assert claims["aud"] == team.client_id
    assert claims["iss"] == f"https://cognito-idp.{REGION}.amazonaws.com/{team.pool_id}"
    assert claims["sub"] and all(isinstance(value, str) for value in claims.values())
    assert claims["exp"].endswith(time.strftime("%Y", time.gmtime(time.time() + 3600)))
    assert " UTC " in claims["exp"]


def test_a_token_of_another_client_of_the_same_pool_is_accepted(
    ca: LocalCertificateAuthority, pools: tuple[Pool, Pool]
) -> None:
    team, _ = pools
    verifier = CognitoTokenVerifier(team.clients, region=REGION)
    result = tokens(team, "bo@example.com", ["labelers"], client_id=team.other_client_id)
    claims = verifier.verify(result["IdToken"], [team.arn])
    assert claims["aud"] == team.other_client_id and claims["cognito:groups"] == ["labelers"]


def _forged(claims: dict[str, Any]) -> str:
    # A well-formed RS256 token signed by a key that is not moto's.
    return jwt.encode({"alg": "RS256", "kid": "dummy"}, claims, RSAKey.generate_key(2048))


def _unsigned(token: str) -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    return f"{header}.{token.split('.')[1]}."


def test_everything_else_is_401_unauthorized_without_reaching_the_function(
    ca: LocalCertificateAuthority, pools: tuple[Pool, Pool]
) -> None:
    team, elsewhere = pools
    good = tokens(team, "cy@example.com", ["labelers"])
    foreign = tokens(elsewhere, "cy@example.com", ["labelers"])
    payload = json.loads(base64.urlsafe_b64decode(good["IdToken"].split(".")[1] + "=="))
    cases = {
        "no header": None,
        "empty": "",
        "not a JWT": "hello",
        "Bearer prefix (REST Cognito authorizers take the raw token)": f"Bearer {good['IdToken']}",
        "access token on a method without scopes": good["AccessToken"],
        "another pool's ID token": foreign["IdToken"],
        "signed by another key": _forged(payload),
        "alg none": _unsigned(good["IdToken"]),
        "tampered payload": good["IdToken"][:-8] + "AAAAAAAA",
    }
    registry_calls: list[Any] = []
    server = serve(ca, team, labeling_api(team.arn))
    original = server.invoke
    server.invoke = lambda arn, payload: registry_calls.append(arn) or original(arn, payload)  # type: ignore[method-assign]
    try:
        for case, header in cases.items():
            headers = {} if header is None else {"Authorization": header}
            status, response_headers, body = call(
                ca, f"{server.stage_url('prod')}/api/jobs", headers=headers, method="GET"
            )
            assert (status, json.loads(body)) == (401, {"message": "Unauthorized"}), case
            assert response_headers["x-amzn-ErrorType"] == "UnauthorizedException", case
    finally:
        server.stop()
    assert registry_calls == []


def test_expired_tokens_deleted_clients_and_deleted_pools_are_refused(pools: tuple[Pool, Pool]) -> None:
    team, _ = pools
    token = tokens(team, "di@example.com", ["labelers"])["IdToken"]
    later = CognitoTokenVerifier(team.clients, region=REGION, clock=lambda: time.time() + 3601)
    with pytest.raises(Unauthorized, match="expired"):
        later.verify(token, [team.arn])
    verifier = CognitoTokenVerifier(team.clients, region=REGION)
    assert verifier.verify(token, [team.arn])["token_use"] == "id"
    team.cognito.delete_user_pool_client(UserPoolId=team.pool_id, ClientId=team.client_id)
    with pytest.raises(Unauthorized, match="audience"):
        verifier.verify(token, [team.arn])
    team.cognito.delete_user_pool(UserPoolId=team.pool_id)
    with pytest.raises(Unauthorized, match="does not exist"):
        verifier.verify(token, [team.arn])


def test_methods_with_scopes_need_an_access_token_granting_one(pools: tuple[Pool, Pool]) -> None:
    team, _ = pools
    result = tokens(team, "ed@example.com", ["labelers"])
    verifier = CognitoTokenVerifier(team.clients, region=REGION)
    claims = verifier.verify(result["AccessToken"], [team.arn], ["aws.cognito.signin.user.admin"])
    assert claims["token_use"] == "access"
    with pytest.raises(Unauthorized, match="scopes"):
        verifier.verify(result["AccessToken"], [team.arn], ["labeling/write"])
    with pytest.raises(Unauthorized, match="access token"):
        verifier.verify(result["IdToken"], [team.arn], ["aws.cognito.signin.user.admin"])


def test_claims_are_strings_as_api_gateway_delivers_them() -> None:
    claims = api_gateway_claims(
        {"cognito:groups": ["a", "b"], "exp": 0, "iat": 86400, "auth_time": 5, "email_verified": True}
    )
    assert claims == {
        "cognito:groups": "a,b",
        "exp": "Thu Jan 01 00:00:00 UTC 1970",
        "iat": "Fri Jan 02 00:00:00 UTC 1970",
        "auth_time": "5",
        "email_verified": "true",
    }


def test_users_need_existing_groups(pools: tuple[Pool, Pool]) -> None:
    team, _ = pools
    with pytest.raises(ValueError, match="no group"):
        create_user(team.cognito, team.pool_id, "fi@example.com", ["labelers", "reviewers"])


def test_tokens_signed_with_motos_published_key_are_refused(pools: tuple[Pool, Pool]) -> None:
    """moto's private key ships with moto: anyone can sign any claims with it (here: a user that does not
    exist, in the admins group). On AWS only Cognito holds a pool's signing key, so the local cloud signs
    each pool's tokens with a key of its own and the authorizer trusts that key only (its JWKS is served at
    ``/<pool id>/.well-known/jwks.json``); real tokens of the pool still verify."""
    team, _ = pools
    real = tokens(team, "gi@example.com", ["labelers"])["IdToken"]
    verifier = CognitoTokenVerifier(team.clients, region=REGION)
    assert verifier.verify(real, [team.arn])["email"] == "gi@example.com"
    now = int(time.time())
    invented = {
        "sub": "00000000-0000-0000-0000-000000000000",
        "aud": team.client_id,
        "iss": f"https://cognito-idp.{REGION}.amazonaws.com/{team.pool_id}",
        "token_use": "id",
        "cognito:groups": ["labeling-admins"],
        "email": "nobody@example.com",
        "iat": now,
        "exp": now + 3600,
    }
    moto_key = RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
    forged = jwt.encode({"alg": "RS256", "kid": "dummy"}, invented, moto_key)
    with pytest.raises(Unauthorized, match="signature"):
        verifier.verify(forged, [team.arn])
    jwks = json.loads(_jwks(team.pool_id))
    kid = json.loads(base64.urlsafe_b64decode(real.split(".")[0] + "=="))["kid"]
    assert kid != "dummy" and kid in {key["kid"] for key in jwks["keys"]}


def _jwks(pool_id: str) -> str:
    from moto.cognitoidp.responses import CognitoIdpJsonWebKeyResponse

    status, _, body = CognitoIdpJsonWebKeyResponse.serve_json_web_key(
        None, f"/{pool_id}/.well-known/jwks.json", {}
    )
    assert status == 200
    return body.decode() if isinstance(body, bytes) else str(body)
