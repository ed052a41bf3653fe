"""Issue 19, IAM on the real synthesized template: a presigned POST is signed with the uploads function's role
credentials, so S3 (the local one, local/s3_post_policy.py) refuses the upload when that role lacks
``PresignUploads`` (s3:PutObject on uploads/*) or ``EncryptUploads`` (kms:GenerateDataKey on the data key),
and stores it with the template as synthesized. The deployed function is invoked through the local Lambda
runtime, the form is posted as a client would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from local.cloud import LocalCloud
from tests.fidelity.synthesized_cloud import (
    deployed,
    edited_assembly,
    function_named,
    pipeline_assembly,
    without_role_statement,
)


@pytest.fixture(scope="module")
def assembly() -> Path:
    return pipeline_assembly()


def upload(cloud: LocalCloud, data: bytes) -> tuple[requests.Response, dict[str, Any]]:
    """Ask the deployed uploads function for a PNG form, then post ``data`` with it."""
    event = {
        "httpMethod": "POST",
        "path": "/uploads",
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"content_type": "image/png"}),
        "isBase64Encoded": False,
        "requestContext": {"requestId": "r-1"},
    }
    response = cloud.registry.invoke(function_named(cloud, "ServingUploadsFunction").name, json.dumps(event))
    proxy = response["Payload"]
    assert proxy["statusCode"] == 201, proxy
    form = json.loads(proxy["body"])
    posted = requests.post(
        form["url"], data=form["fields"], files={"file": ("image.png", data, "image/png")}, timeout=60
    )
    return posted, form


@pytest.mark.parametrize(
    ("sid", "action"), [("PresignUploads", "s3:PutObject"), ("EncryptUploads", "kms:GenerateDataKey")]
)
def test_the_uploads_role_without_its_statement_signs_forms_s3_refuses(
    assembly: Path, tmp_path: Path, sid: str, action: str
) -> None:
    # Given the synthesized app whose uploads function role lacks one of its two statements
    edited = edited_assembly(
        assembly,
        tmp_path / "edited",
        without_role_statement("ServingUploadsFunctionRole", lambda s: s.get("Sid") == sid),
    )
    with deployed(edited, tmp_path / "denied") as cloud:
        # When a client posts an image with the form the function signed
        posted, _ = upload(cloud, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
        # Then S3 refuses it as the role would be refused the call
        assert posted.status_code == 403, posted.text
        assert (
            "<Code>AccessDenied</Code>" in posted.text
            and f"not authorized to perform: {action}" in posted.text
        )


def test_the_synthesized_uploads_role_signs_forms_s3_accepts(assembly: Path, tmp_path: Path) -> None:
    with deployed(assembly, tmp_path / "allowed") as cloud:
        posted, form = upload(cloud, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
        assert posted.status_code == 204, posted.text
        stored = cloud.client("s3").get_object(
            Bucket=cloud.outputs["DataBucketName"], Key=form["fields"]["key"]
        )
        assert stored["Body"].read().startswith(b"\x89PNG") and stored["ContentType"] == "image/png"
