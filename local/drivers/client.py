"""Small clients of a running local cloud: the outputs file, boto3 clients, the HTTPS prediction API.

Used by the demo and the end-to-end tests; they talk to the local cloud only through its published
endpoints (the AWS endpoint URL and the HTTPS API), as any other tool would. The API client itself is
``gtpipe``'s (:class:`gtpipe_cli.api.PredictionClient`); :class:`PredictionApi` configures it from the
outputs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.credentials import Credentials

from gtpipe_cli.api import ApiResponse, PredictionClient
from local.boto_sessions import new_session


def load_outputs(path: str | Path) -> dict[str, Any]:
    """The ``outputs.json`` a running local cloud wrote."""
    return dict(json.loads(Path(path).read_text()))


def aws_client(outputs: Mapping[str, Any], service: str) -> Any:
    """A boto3 client for the local endpoint described by ``outputs``."""
    return new_session().client(
        service,
        endpoint_url=outputs["AwsEndpointUrl"],
        region_name=outputs["Region"],
        aws_access_key_id=outputs["AccessKeyId"],
        aws_secret_access_key=outputs["SecretAccessKey"],
        config=Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=32),
    )


class PredictionApi(PredictionClient):
    """Calls ``POST <ApiUrl>/predict`` over HTTPS, verifying the local CA, authenticated as the stack
    requires: an API key when the outputs publish one, otherwise a SigV4 signature (service
    ``execute-api``) with the local credentials. ``request``/``predict`` take ``query`` parameters
    (``{"min_confidence": "0.3"}``)."""

    def __init__(self, outputs: Mapping[str, Any], *, timeout: float = 30.0) -> None:
        super().__init__(
            str(outputs["ApiUrl"]),
            region=str(outputs["Region"]),
            credentials=Credentials(str(outputs["AccessKeyId"]), str(outputs["SecretAccessKey"])),
            api_key=str(outputs["ApiKey"]) if outputs.get("ApiKey") else None,
            ca_path=str(outputs["CaCertPath"]),
            timeout=timeout,
        )


__all__ = ["ApiResponse", "PredictionApi", "aws_client", "load_outputs"]
