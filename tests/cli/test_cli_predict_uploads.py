"""``gtpipe predict`` with images over the binary route's limit: the client goes through ``POST /uploads``
and the presigned S3 POST, then ``POST /predict {"upload_id"}`` (no local cloud: the HTTP calls are recorded)."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

import pytest
from gtpipe_shared.images import MAX_API_IMAGE_BYTES
from werkzeug.formparser import parse_form_data

from gtpipe_cli import api as api_module
from gtpipe_cli.api import ApiResponse, PredictionClient, multipart_form

UPLOAD_ID = "5b0c7a52-1f0e-4c52-9a55-2d3c4e5f6a7b"


class Recorded:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes, dict[str, str]]] = []

    def send(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float, context: Any
    ) -> ApiResponse:
        self.calls.append((url, body, dict(headers)))
        if url.endswith("/uploads"):
            answer = {
                "upload_id": UPLOAD_ID,
                "url": "https://bucket.s3.amazonaws.com/",
                "fields": {"key": "uploads/x"},
            }
            return ApiResponse(201, {}, json.dumps(answer).encode())
        if url.startswith("https://bucket.s3"):
            return ApiResponse(204, {}, b"")
        return ApiResponse(200, {}, b'{"label": "cat"}')


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    calls = Recorded()
    monkeypatch.setattr(api_module, "_send", calls.send)
    return calls


def client() -> PredictionClient:
    return PredictionClient("https://api.example/v1", region="us-east-1", api_key="k")


def test_an_image_within_the_limit_is_posted_as_the_body(recorded: Recorded) -> None:
    image = b"\x89PNG\r\n\x1a\n" + b"\x00" * (MAX_API_IMAGE_BYTES - 8)
    assert client().predict_any(image, "image/png").status == 200
    assert [url for url, _, _ in recorded.calls] == ["https://api.example/v1/predict"]
    assert recorded.calls[0][1] == image


def test_a_larger_image_goes_through_uploads_and_s3_then_predict_by_id(recorded: Recorded) -> None:
    # Given an image one byte over the binary route's limit
    image = b"\x89PNG\r\n\x1a\n" + b"\x01" * (MAX_API_IMAGE_BYTES - 7)
    # When predicted
    response = client().predict_any(image, "image/png", query={"min_confidence": "0.2"})
    # Then: POST /uploads, the S3 form with the fields and the file, POST /predict {"upload_id"}
    assert response.status == 200
    urls = [url for url, _, _ in recorded.calls]
    assert urls == [
        "https://api.example/v1/uploads",
        "https://bucket.s3.amazonaws.com/",
        "https://api.example/v1/predict?min_confidence=0.2",
    ]
    assert json.loads(recorded.calls[0][1]) == {"content_type": "image/png"}
    _, form_body, form_headers = recorded.calls[1]
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": form_headers["Content-Type"],
        "CONTENT_LENGTH": str(len(form_body)),
        "wsgi.input": io.BytesIO(form_body),
    }
    _, fields, files = parse_form_data(environ)
    assert dict(fields) == {"key": "uploads/x"} and files["file"].read() == image
    assert json.loads(recorded.calls[2][1]) == {"upload_id": UPLOAD_ID}
    assert recorded.calls[2][2]["Content-Type"] == "application/json"


def test_a_refused_upload_is_answered_without_predicting(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(
        url: str, body: bytes, headers: Mapping[str, str], timeout: float, context: Any
    ) -> ApiResponse:
        recorded.calls.append((url, body, dict(headers)))
        return ApiResponse(400, {}, b'{"code": "UnsupportedImageType"}')

    monkeypatch.setattr(api_module, "_send", refuse)
    response = client().predict_any(b"\xff\xd8\xff" + b"\x00" * MAX_API_IMAGE_BYTES, "image/jpeg")
    assert response.status == 400 and len(recorded.calls) == 1


def test_the_form_puts_the_file_last() -> None:
    body = multipart_form("B", {"key": "k", "policy": "p"}, b"DATA", "image/png")
    assert body.index(b'name="policy"') < body.index(b'name="file"') and body.endswith(b"DATA\r\n--B--\r\n")
