"""Small clients of a running local cloud: the outputs file, boto3 clients, the HTTPS prediction API.

Used by the demo, the CLI and the end-to-end tests; they talk to the local cloud only through its
published endpoints (the AWS endpoint URL and the HTTPS API), as any other tool would.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials


def load_outputs(path: str | Path) -> dict[str, Any]:
    """The ``outputs.json`` a running local cloud wrote."""
    return dict(json.loads(Path(path).read_text()))


def aws_client(outputs: Mapping[str, Any], service: str) -> Any:
    """A boto3 client for the local endpoint described by ``outputs``."""
    return boto3.session.Session().client(
        service,
        endpoint_url=outputs["AwsEndpointUrl"],
        region_name=outputs["Region"],
        aws_access_key_id=outputs["AccessKeyId"],
        aws_secret_access_key=outputs["SecretAccessKey"],
        config=Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=32),
    )


@dataclass(frozen=True)
class ApiResponse:
    """One HTTP answer of the API."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class PredictionApi:
    """Calls ``POST <ApiUrl>/predict`` over HTTPS, verifying the local CA, authenticated as the stack
    requires: an API key when the outputs publish one, otherwise a SigV4 signature (service
    ``execute-api``) with the local credentials."""

    def __init__(self, outputs: Mapping[str, Any], *, timeout: float = 30.0) -> None:
        self.url = str(outputs["ApiUrl"]).rstrip("/") + "/predict"
        self.region = str(outputs["Region"])
        self.api_key = outputs.get("ApiKey")
        self.credentials = Credentials(str(outputs["AccessKeyId"]), str(outputs["SecretAccessKey"]))
        self.context = ssl.create_default_context(cafile=str(outputs["CaCertPath"]))
        self.timeout = timeout

    def request(
        self,
        body: bytes,
        content_type: str | None = "image/png",
        *,
        sign: bool = True,
        extra_headers: Mapping[str, str] | None = None,
    ) -> ApiResponse:
        """Send one request; returns the answer whatever its status."""
        headers = {"Content-Type": content_type} if content_type else {}
        headers.update(extra_headers or {})
        if self.api_key and sign:
            headers["x-api-key"] = str(self.api_key)
        elif sign:
            signed = AWSRequest(method="POST", url=self.url, data=body, headers=headers)
            SigV4Auth(self.credentials, "execute-api", self.region).add_auth(signed)
            headers = dict(signed.headers.items())
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as response:  # noqa: S310
                return ApiResponse(response.status, dict(response.headers.items()), response.read())
        except urllib.error.HTTPError as error:
            return ApiResponse(error.code, dict(error.headers.items()), error.read())

    def predict(self, image: bytes, content_type: str = "image/png", *, retries: int = 8) -> ApiResponse:
        """Like :meth:`request`, retrying 429 (throttled) answers with backoff as a well-behaved client."""
        for attempt in range(retries + 1):
            response = self.request(image, content_type)
            if response.status != 429 or attempt == retries:
                return response
            time.sleep(min(0.05 * 2**attempt, 2.0))
        raise AssertionError("unreachable")
