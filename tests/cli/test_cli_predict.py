"""``gtpipe predict`` without a local cloud: request signing, API keys, content types and the one-line
errors with their exit codes."""

from __future__ import annotations

import hashlib
import hmac
import urllib.parse
from pathlib import Path

from gtpipe_cli.api import PredictionClient, image_content_type
from gtpipe_cli.errors import Exit
from tests.cli.conftest import gtpipe
from tests.cli.stacks import local_outputs

# -- prediction API --------------------------------------------------------------------------------------


def sigv4_signature(
    secret: str, method: str, url: str, headers: dict[str, str], body: bytes, region: str
) -> tuple[str, str]:
    """(expected signature, signature sent) for a request signed for execute-api, computed from the spec."""
    authorization = headers["Authorization"]
    algorithm, rest = authorization.split(" ", 1)
    assert algorithm == "AWS4-HMAC-SHA256"
    parts = dict(part.strip().split("=", 1) for part in rest.split(","))
    scope = parts["Credential"].split("/", 1)[1]
    date, scope_region, service, terminator = scope.split("/")
    assert (scope_region, service, terminator) == (region, "execute-api", "aws4_request")
    parsed = urllib.parse.urlsplit(url)
    lower = {name.lower(): value for name, value in headers.items()}
    lower.setdefault("host", parsed.netloc)
    signed = parts["SignedHeaders"].split(";")
    query = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in sorted(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
    )
    canonical = "\n".join(
        [
            method,
            urllib.parse.quote(parsed.path or "/", safe="/-_.~"),
            query,
            "".join(f"{name}:{' '.join(lower[name].split())}\n" for name in signed),
            ";".join(signed),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", lower["x-amz-date"], scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, terminator):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), parts["Signature"]


def test_sigv4_signature_covers_method_url_query_headers_and_body() -> None:
    from botocore.credentials import Credentials

    client = PredictionClient(
        "https://abc.execute-api.eu-west-1.amazonaws.com/prod/",
        region="eu-west-1",
        credentials=Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token"),
    )
    assert client.url == "https://abc.execute-api.eu-west-1.amazonaws.com/prod/predict"
    url = client.url + "?min_confidence=0.3"
    body = b"\x89PNG\r\n\x1a\n image"
    headers = client.signed_headers(url, body, {"Content-Type": "image/png"})
    assert headers["X-Amz-Security-Token"] == "session-token"
    assert "Credential=AKIDEXAMPLE/" in headers["Authorization"]
    expected, sent = sigv4_signature(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "POST", url, headers, body, "eu-west-1"
    )
    assert sent == expected
    # Another body or query gives another signature: the signature binds both.
    assert (
        sigv4_signature("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "POST", url, headers, b"x", "eu-west-1")[
            0
        ]
        != sent
    )
    assert (
        sigv4_signature(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "POST", client.url, headers, body, "eu-west-1"
        )[0]
        != sent
    )


def test_api_key_mode_sends_the_key_and_no_signature() -> None:
    client = PredictionClient("https://x/prod", region="us-east-1", api_key="secret-key")
    headers = client.signed_headers(client.url, b"body", {"Content-Type": "image/png"})
    assert headers == {"Content-Type": "image/png", "x-api-key": "secret-key"}


def test_content_type_from_magic_bytes() -> None:
    assert image_content_type(b"\x89PNG\r\n\x1a\nrest", "x.jpg") == "image/png"
    assert image_content_type(b"\xff\xd8\xff\xe0rest", "x.png") == "image/jpeg"
    assert image_content_type(b"GIF89a", "x.gif") == "image/gif"
    assert image_content_type(b"???", None) == "application/octet-stream"


def test_predict_of_a_missing_image_is_exit_66_before_any_request(tmp_path: Path) -> None:
    local_outputs(tmp_path)  # the API port has nothing listening: a request would fail differently
    result = gtpipe("predict", str(tmp_path / "nope.png"), "--local", "--state-dir", str(tmp_path))
    assert result.code == Exit.INPUT_MISSING
    assert result.err == f"gtpipe: image not found: {tmp_path / 'nope.png'}\n"


def test_predict_against_an_api_that_does_not_answer_is_exit_69(tmp_path: Path) -> None:
    import trustme

    local_outputs(tmp_path, ApiKey="k")
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    image = tmp_path / "a.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    result = gtpipe("predict", str(image), "--local", "--state-dir", str(tmp_path), "--timeout", "2")
    assert result.code == Exit.UNAVAILABLE
    assert "cannot reach the API at https://127.0.0.1:2/prod/predict" in result.err
