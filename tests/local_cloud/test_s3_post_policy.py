"""The local cloud checks S3 POST uploads (presigned POST policies) as S3 does; moto checks nothing.

A boto3 ``generate_presigned_post`` form, signed by a role's minted key, is posted through
:class:`local.s3_post_policy.PostPolicyMiddleware` in front of a recording WSGI app (moto's place)."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import boto3
import pytest
from botocore.config import Config
from werkzeug.test import Client
from werkzeug.wrappers import Response

from local.iam_auth import Principals
from local.s3_post_policy import PostPolicyMiddleware

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/uploads"
BUCKET = "data-bucket"
NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


class Recorder:
    """moto's place: records what reached it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.calls.append(environ["PATH_INFO"])
        return Response(status=204)(environ, start_response)


@pytest.fixture
def principals() -> Principals:
    found = Principals(account=ACCOUNT, region="us-east-1")
    found.register_role(
        ROLE,
        [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{BUCKET}/uploads/*"}],
    )
    return found


def presigned_post(principals: Principals, key: str = "uploads/a", **options: Any) -> dict[str, Any]:
    credentials = principals.credentials_for(ROLE, "uploads")
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:5000",
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        config=Config(signature_version="s3v4"),
    )
    return dict(
        s3.generate_presigned_post(
            Bucket=BUCKET,
            Key=key,
            Fields={"Content-Type": "image/png"},
            Conditions=[{"Content-Type": "image/png"}, ["content-length-range", 1, 100]],
            ExpiresIn=300,
            **options,
        )
    )


def post(
    principals: Principals,
    fields: dict[str, str],
    data: bytes,
    *,
    now: dt.datetime | None = None,
) -> tuple[int, str, Recorder]:
    app = Recorder()
    middleware = PostPolicyMiddleware(
        app, principals.secret_for, principals, clock=lambda: now or dt.datetime.now(dt.UTC)
    )
    response = Client(middleware).post(
        f"/{BUCKET}",
        data={**fields, "file": (io.BytesIO(data), "image.png")},
        content_type="multipart/form-data",
    )
    return response.status_code, response.get_data(as_text=True), app


def code(body: str) -> str:
    match = re.search(r"<Code>([^<]+)</Code>", body)
    return match.group(1) if match else ""


def test_a_valid_upload_reaches_s3(principals: Principals) -> None:
    # Given a presigned POST for uploads/a / When a 10-byte PNG is posted / Then moto gets it
    status, body, app = post(principals, presigned_post(principals)["fields"], b"x" * 10)
    assert status == 204 and app.calls == [f"/{BUCKET}"], body


def test_an_oversized_upload_is_entity_too_large(principals: Principals) -> None:
    status, body, app = post(principals, presigned_post(principals)["fields"], b"x" * 101)
    assert (status, code(body)) == (400, "EntityTooLarge") and not app.calls
    assert "<ProposedSize>101</ProposedSize>" in body and "<MaxSizeAllowed>100</MaxSizeAllowed>" in body


def test_an_empty_upload_is_entity_too_small(principals: Principals) -> None:
    status, body, app = post(principals, presigned_post(principals)["fields"], b"")
    assert (status, code(body)) == (400, "EntityTooSmall") and not app.calls


def test_another_content_type_fails_the_policy(principals: Principals) -> None:
    fields = {**presigned_post(principals)["fields"], "Content-Type": "text/html"}
    status, body, app = post(principals, fields, b"x")
    assert (status, code(body)) == (403, "AccessDenied") and not app.calls
    assert 'Policy Condition failed: ["eq", "$Content-Type", "image/png"]' in body


def test_another_key_fails_the_policy(principals: Principals) -> None:
    fields = {**presigned_post(principals)["fields"], "key": "runs/evil"}
    status, body, _ = post(principals, fields, b"x")
    assert (status, code(body)) == (403, "AccessDenied") and "Policy Condition failed" in body


def test_an_expired_policy_is_refused(principals: Principals) -> None:
    fields = presigned_post(principals)["fields"]
    status, body, app = post(
        principals, fields, b"x", now=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=301)
    )
    assert (status, code(body)) == (403, "AccessDenied") and "Policy expired." in body and not app.calls


def test_a_field_outside_the_policy_is_refused(principals: Principals) -> None:
    fields = {**presigned_post(principals)["fields"], "x-amz-meta-note": "hi"}
    status, body, _ = post(principals, fields, b"x")
    assert (status, code(body)) == (403, "AccessDenied") and "Extra input fields: x-amz-meta-note" in body


def test_a_tampered_policy_does_not_match_its_signature(principals: Principals) -> None:
    fields = presigned_post(principals)["fields"]
    other = presigned_post(principals, key="uploads/b")["fields"]
    status, body, _ = post(principals, {**fields, "policy": other["policy"]}, b"x")
    assert (status, code(body)) == (403, "SignatureDoesNotMatch")


def test_an_unknown_access_key_is_refused(principals: Principals) -> None:
    fields = presigned_post(principals)["fields"]
    credential = "AKIAUNKNOWN/" + fields["x-amz-credential"].split("/", 1)[1]
    status, body, _ = post(principals, {**fields, "x-amz-credential": credential}, b"x")
    assert (status, code(body)) == (403, "InvalidAccessKeyId")


def test_the_signer_needs_put_object_on_the_key(principals: Principals) -> None:
    # Given a policy the role signed for a key outside its grant (uploads/* only)
    fields = presigned_post(principals, key="captured/x")["fields"]
    # When posted / Then S3 refuses it as the signer would be refused a PutObject
    status, body, app = post(principals, fields, b"x")
    assert (status, code(body)) == (403, "AccessDenied") and not app.calls
    assert "not authorized to perform: s3:PutObject" in body
