"""``gtpipe predict --async``'s client: upload, ``POST /predict/async``, then ``GET /predictions/<id>`` until
the answer is no longer pending (no local cloud: the HTTP calls are recorded and answered in order)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from gtpipe_cli import api as api_module
from gtpipe_cli.api import ApiResponse, PredictionClient

UPLOAD_ID = "5b0c7a52-1f0e-4c52-9a55-2d3c4e5f6a7b"
PREDICTION_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"


class Scripted:
    """Answers each URL with the next of its scripted answers; records (method, url, body)."""

    def __init__(self, pending_polls: int) -> None:
        self.calls: list[tuple[str, str, bytes]] = []
        self.pending_polls = pending_polls

    def send(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout: float,
        context: Any,
        method: str = "POST",
    ) -> ApiResponse:
        self.calls.append((method, url, body))
        if url.endswith("/uploads"):
            form = {"upload_id": UPLOAD_ID, "url": "https://bucket.s3.amazonaws.com/", "fields": {"key": "k"}}
            return ApiResponse(201, {}, json.dumps(form).encode())
        if url.startswith("https://bucket.s3"):
            return ApiResponse(204, {}, b"")
        if url.endswith("/predict/async"):
            return ApiResponse(
                202, {}, json.dumps({"prediction_id": PREDICTION_ID, "status": "pending"}).encode()
            )
        if self.pending_polls:
            self.pending_polls -= 1
            return ApiResponse(202, {}, b'{"status": "pending"}')
        return ApiResponse(200, {}, b'{"detections": [], "status": "completed"}')


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Scripted:
    calls = Scripted(pending_polls=2)
    monkeypatch.setattr(api_module, "_send", calls.send)
    return calls


def test_async_prediction_uploads_queues_and_polls_until_answered(scripted: Scripted) -> None:
    # Given an API that answers the poll pending twice
    client = PredictionClient("https://api.example/v1", region="us-east-1", api_key="k")
    # When an image is predicted asynchronously
    response = client.predict_async(b"\xff\xd8\xff" + b"\x00" * 100, "image/jpeg", poll_seconds=0)
    # Then: upload, S3, queue, three GETs of the status; the last answer is returned
    assert response.status == 200 and response.json()["status"] == "completed"
    assert [(method, url) for method, url, _ in scripted.calls] == [
        ("POST", "https://api.example/v1/uploads"),
        ("POST", "https://bucket.s3.amazonaws.com/"),
        ("POST", "https://api.example/v1/predict/async"),
        *[("GET", f"https://api.example/v1/predictions/{PREDICTION_ID}")] * 3,
    ]
    assert json.loads(scripted.calls[2][2]) == {"upload_id": UPLOAD_ID}


def test_a_wait_that_runs_out_answers_the_pending_poll(scripted: Scripted) -> None:
    scripted.pending_polls = 1000
    client = PredictionClient("https://api.example/v1", region="us-east-1", api_key="k")
    response = client.predict_async(b"\xff\xd8\xff", "image/jpeg", wait_seconds=0, poll_seconds=0)
    assert response.status == 202


def test_the_status_poll_is_signed_as_a_get() -> None:
    from botocore.credentials import Credentials

    from tests.cli.test_cli_predict import sigv4_signature

    # Given SigV4 credentials
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    client = PredictionClient(
        "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
        region="eu-west-1",
        credentials=Credentials("AKID", secret),
    )
    url = f"{client.base_url}/predictions/{PREDICTION_ID}"
    # When the poll is signed / Then the signature is a GET's (API Gateway checks the method too)
    headers = client.signed_headers(url, b"", {}, method="GET")
    expected, sent = sigv4_signature(secret, "GET", url, headers, b"", "eu-west-1")
    assert sent == expected
    assert sigv4_signature(secret, "POST", url, headers, b"", "eu-west-1")[0] != sent
