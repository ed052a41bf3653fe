"""The prediction API client: ``POST <ApiUrl>/predict`` with the image bytes as the body; an image over the
binary route's limit (MAX_API_IMAGE_BYTES, 4 MiB) goes through ``POST <ApiUrl>/uploads`` instead: the
presigned S3 POST it answers, then ``POST /predict {"upload_id"}`` (:meth:`PredictionClient.predict_any`).

Authentication follows the stack's ``gtpipe:apiAuth``: an ``x-api-key`` header when a key is given,
otherwise a SigV4 signature for service ``execute-api`` (what ``AWS_IAM`` authorization checks). TLS is
verified against the system trust store, or against the local cloud's CA (``CaCertPath``).
"""

from __future__ import annotations

import json
import mimetypes
import secrets
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from gtpipe_shared.images import MAX_API_IMAGE_BYTES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"


@dataclass(frozen=True)
class ApiResponse:
    """One HTTP answer of the API."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def answer(self) -> Any:
        """The body as JSON when it is JSON, else its text (at most 500 characters)."""
        try:
            return self.json()
        except ValueError:
            return self.body[:500].decode("utf-8", "replace")


def image_content_type(data: bytes, path: str | Path | None = None) -> str:
    """``image/png`` or ``image/jpeg`` from the magic bytes; otherwise a guess from the file name (the
    API decides by magic bytes anyway and answers 400/415 for what it cannot read)."""
    if data.startswith(PNG_MAGIC):
        return "image/png"
    if data.startswith(JPEG_MAGIC):
        return "image/jpeg"
    guessed = mimetypes.guess_type(str(path))[0] if path else None
    return guessed or "application/octet-stream"


class PredictionClient:
    """Sends images to ``<api_url>/predict`` (see module docstring)."""

    def __init__(
        self,
        api_url: str,
        *,
        region: str,
        credentials: Credentials | None = None,
        api_key: str | None = None,
        ca_path: str | Path | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = api_url.rstrip("/")
        self.url = self.base_url + "/predict"
        self.region = region
        self.api_key = api_key
        self.credentials = credentials
        self.context = ssl.create_default_context(cafile=str(ca_path) if ca_path else None)
        self.timeout = timeout

    def signed_headers(
        self, url: str, body: bytes, headers: Mapping[str, str], method: str = "POST"
    ) -> dict[str, str]:
        """``headers`` plus the authentication: ``x-api-key``, or a SigV4 ``Authorization`` (with
        ``X-Amz-Date`` and, for temporary credentials, ``X-Amz-Security-Token``) over method, URL with
        query, headers and body."""
        if self.api_key:
            return {**headers, "x-api-key": str(self.api_key)}
        if self.credentials is None:
            raise ValueError("SigV4 signing needs credentials (or pass an API key)")
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        SigV4Auth(self.credentials, "execute-api", self.region).add_auth(request)
        return dict(request.headers.items())

    def request(
        self,
        body: bytes,
        content_type: str | None = "image/png",
        *,
        sign: bool = True,
        extra_headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> ApiResponse:
        """Send one request to ``/predict`` (``query`` becomes the URL's query string); returns the answer
        whatever its status."""
        return self.post("/predict", body, content_type, sign=sign, extra_headers=extra_headers, query=query)

    def post(
        self,
        path: str,
        body: bytes,
        content_type: str | None,
        *,
        sign: bool = True,
        extra_headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> ApiResponse:
        """POST to ``<api_url><path>``, authenticated; the answer whatever its status."""
        url = self.base_url + path + ("?" + urllib.parse.urlencode(dict(query)) if query else "")
        headers = {"Content-Type": content_type} if content_type else {}
        headers.update(extra_headers or {})
        if sign:
            headers = self.signed_headers(url, body, headers)
        return _send(url, body, headers, self.timeout, self.context)

    def get(self, path: str) -> ApiResponse:
        """GET ``<api_url><path>`` (``/predictions/<id>``), authenticated; the answer whatever its status."""
        url = self.base_url + path
        return _send(
            url, b"", self.signed_headers(url, b"", {}, method="GET"), self.timeout, self.context, "GET"
        )

    def predict(
        self,
        image: bytes,
        content_type: str = "image/png",
        *,
        retries: int = 8,
        query: Mapping[str, str] | None = None,
    ) -> ApiResponse:
        """Like :meth:`request`, retrying 429 (throttled) answers with backoff as a well-behaved client."""
        for attempt in range(retries + 1):
            response = self.request(image, content_type, query=query)
            if response.status != 429 or attempt == retries:
                return response
            time.sleep(min(0.05 * 2**attempt, 2.0))
        raise AssertionError("unreachable")

    def predict_any(
        self, image: bytes, content_type: str = "image/png", *, query: Mapping[str, str] | None = None
    ) -> ApiResponse:
        """:meth:`predict` for an image within the binary route's limit (MAX_API_IMAGE_BYTES); a larger one is
        uploaded (:meth:`upload`) and predicted by its upload id. A refused upload step is answered as is."""
        if len(image) <= MAX_API_IMAGE_BYTES:
            return self.predict(image, content_type, query=query)
        upload_id, uploaded = self.upload(image, content_type)
        if upload_id is None:
            return uploaded
        body = json.dumps({"upload_id": upload_id}).encode()
        for attempt in range(9):
            response = self.post("/predict", body, "application/json", query=query)
            if response.status != 429 or attempt == 8:
                return response
            time.sleep(min(0.05 * 2**attempt, 2.0))
        raise AssertionError("unreachable")

    def predict_async(
        self,
        image: bytes,
        content_type: str = "image/png",
        *,
        query: Mapping[str, str] | None = None,
        wait_seconds: float = 3600.0,
        poll_seconds: float = 2.0,
    ) -> ApiResponse:
        """Upload ``image`` (:meth:`upload`), queue it with ``POST /predict/async`` and poll ``GET
        /predictions/<id>`` until it is no longer pending (202) or ``wait_seconds`` pass; the last answer (a
        refused step is answered as is; still 202 when the wait ran out)."""
        upload_id, uploaded = self.upload(image, content_type)
        if upload_id is None:
            return uploaded
        queued = self.post(
            "/predict/async", json.dumps({"upload_id": upload_id}).encode(), "application/json", query=query
        )
        if queued.status != 202:
            return queued
        path = "/predictions/" + urllib.parse.quote(str(queued.json()["prediction_id"]))
        deadline = time.monotonic() + wait_seconds
        polled = self.get(path)
        while polled.status in (202, 429) and time.monotonic() < deadline:
            time.sleep(poll_seconds)
            polled = self.get(path)
        return polled

    def upload(self, image: bytes, content_type: str) -> tuple[str | None, ApiResponse]:
        """``POST /uploads`` then the presigned S3 POST of ``image``: ``(upload id, S3's answer)`` once S3
        stored it, else ``(None, the refusal of either step)``."""
        asked = self.post("/uploads", json.dumps({"content_type": content_type}).encode(), "application/json")
        if asked.status != 201:
            return None, asked
        form = asked.json()
        boundary = "gtpipe-" + secrets.token_hex(16)
        body = multipart_form(boundary, dict(form["fields"]), image, content_type)
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        # S3 (on AWS, HTTPS) is verified against the system trust store, not the API's CA.
        context = ssl.create_default_context() if str(form["url"]).startswith("https:") else None
        answer = _send(str(form["url"]), body, headers, self.timeout, context)
        return (str(form["upload_id"]) if 200 <= answer.status < 300 else None), answer


def multipart_form(boundary: str, fields: Mapping[str, str], file: bytes, content_type: str) -> bytes:
    """A ``multipart/form-data`` body: ``fields`` then ``file`` (S3 ignores fields after the file)."""
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="image"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
        + file
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts)


def _send(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    context: ssl.SSLContext | None,
    method: str = "POST",
) -> ApiResponse:
    data = body if method != "GET" else None
    request = urllib.request.Request(url, data=data, headers=dict(headers), method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310
            return ApiResponse(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        return ApiResponse(error.code, dict(error.headers.items()), error.read())
