"""uploads (POST /uploads) and predict by upload id (POST /predict {"upload_id"}), on moto S3."""

from __future__ import annotations

import io
import json
import random
from typing import Any

import pytest
from gtpipe_shared.images import MAX_IMAGE_BYTES
from gtpipe_shared.uploads import MAX_UPLOAD_BYTES, UPLOAD_EXPIRES_SECONDS, new_upload_id, upload_key
from PIL import Image
from predict import handler as predict
from predict import uploaded
from uploads import handler as uploads

from tests.lambdas.conftest import DATA_BUCKET, Cloud, FakeContext, load_event
from tests.lambdas.test_handler_predict import BIRD_PREDICTION, answer, detector  # noqa: F401 (fixture)

KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"


def json_request(body: Any, content_type: str = "application/json") -> dict[str, Any]:
    event = load_event("apigw_predict.json")
    event["headers"] = {"Content-Type": content_type}
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    event["isBase64Encoded"] = False
    return event


def noisy_png(width: int, height: int, seed: int = 0) -> bytes:
    """A PNG of seeded noise: barely compressible, so its size is about 3 bytes per pixel."""
    pixels = random.Random(seed).randbytes(width * height * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), pixels).save(out, format="PNG", compress_level=1)
    return out.getvalue()


# -- POST /uploads ------------------------------------------------------------------------------------------


def test_upload_answers_a_presigned_post_pinning_type_size_key_and_encryption(
    cloud: Cloud, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a bucket encrypted with a KMS key
    monkeypatch.setenv("DATA_KEY_ARN", KEY_ARN)
    # When a PNG upload is asked for
    status, body = answer(uploads.lambda_handler(json_request({"content_type": "image/png"}), context))
    # Then the answer is a presigned POST for uploads/<id>, valid for 5 minutes, with the size limit
    assert status == 201
    assert body["expires_in"] == UPLOAD_EXPIRES_SECONDS == 300
    assert body["max_bytes"] == MAX_UPLOAD_BYTES
    fields = body["fields"]
    assert fields["key"] == upload_key(body["upload_id"])
    assert DATA_BUCKET in body["url"]
    assert fields["Content-Type"] == "image/png"
    assert fields["x-amz-server-side-encryption"] == "aws:kms"
    assert fields["x-amz-server-side-encryption-aws-kms-key-id"] == KEY_ARN
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    # And the signed policy pins every one of those fields and the size range
    import base64

    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]
    assert ["content-length-range", 1, MAX_UPLOAD_BYTES] in conditions
    assert {"Content-Type": "image/png"} in conditions
    assert {"x-amz-server-side-encryption": "aws:kms"} in conditions
    assert {"x-amz-server-side-encryption-aws-kms-key-id": KEY_ARN} in conditions
    assert {"key": fields["key"]} in conditions and {"bucket": DATA_BUCKET} in conditions


def test_each_upload_gets_its_own_id(cloud: Cloud, context: FakeContext) -> None:
    first = answer(uploads.lambda_handler(json_request({"content_type": "image/jpeg"}), context))[1]
    second = answer(uploads.lambda_handler(json_request({"content_type": "image/jpeg"}), context))[1]
    assert first["upload_id"] != second["upload_id"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("", 400, "EmptyBody"),
        ("{not json", 400, "InvalidJson"),
        ("[]", 400, "InvalidJson"),
        ({}, 400, "MissingField"),
        ({"content_type": "image/gif"}, 400, "UnsupportedImageType"),
        ({"content_type": "image/png", "key": "runs/x"}, 400, "UnknownField"),
        ("x" * 2000, 413, "PayloadTooLarge"),
    ],
)
def test_bad_upload_requests_are_4xx_naming_the_problem(
    cloud: Cloud, context: FakeContext, body: Any, status: int, code: str
) -> None:
    got_status, got = answer(uploads.lambda_handler(json_request(body), context))
    assert (got_status, got["code"]) == (status, code)
    assert got["error"]


# -- POST /predict {"upload_id"} ----------------------------------------------------------------------------


def test_large_upload_is_downscaled_for_the_endpoint_and_boxes_are_in_original_pixels(
    detector: Cloud,  # noqa: F811 (the fixture)
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a 3000x1500 PNG of over 6 MB uploaded under uploads/<id>
    image = noisy_png(3000, 1500)
    assert len(image) > MAX_IMAGE_BYTES
    upload_id = new_upload_id()
    detector.put(upload_key(upload_id), image)
    sent: list[bytes] = []
    monkeypatch.setattr(predict, "invoke", lambda name, data: sent.append(data) or BIRD_PREDICTION)
    # When predict is asked for that upload
    status, body = answer(predict.lambda_handler(json_request({"upload_id": upload_id}), context))
    # Then the endpoint got a JPEG within its payload limit, longer side 2048, aspect kept
    assert status == 200, body
    assert len(sent) == 1 and len(sent[0]) <= MAX_IMAGE_BYTES
    with Image.open(io.BytesIO(sent[0])) as scaled:
        assert scaled.format == "JPEG" and scaled.size == (2048, 1024)
    # And the boxes are in pixels of the 3000x1500 original (relative 0.1..0.3 x 0.2..0.4)
    assert body["detections"][0] == {
        "label": "bird",
        "confidence": 0.9,
        "box": {"left": 300, "top": 300, "width": 600, "height": 300},
    }
    assert body["image_type"] == "image/png"


def test_small_upload_is_sent_unchanged(
    detector: Cloud,  # noqa: F811
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = noisy_png(64, 32)
    upload_id = new_upload_id()
    detector.put(upload_key(upload_id), image)
    sent: list[bytes] = []
    monkeypatch.setattr(predict, "invoke", lambda name, data: sent.append(data) or BIRD_PREDICTION)
    status, body = answer(predict.lambda_handler(json_request({"upload_id": upload_id}), context))
    assert status == 200 and sent == [image]
    assert body["detections"][0]["box"] == {"left": 6, "top": 6, "width": 13, "height": 7}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 415, "UnsupportedMediaType"),
        ("[1, 2]", 415, "UnsupportedMediaType"),
        ({"upload_id": "../runs/secret"}, 400, "InvalidUploadId"),
        ({"upload_id": 7}, 400, "InvalidUploadId"),
        ({}, 400, "MissingField"),
        ({"upload_id": "x", "bucket": "other"}, 400, "UnknownField"),
        ({"upload_id": "5b0c7a52-1f0e-4c52-9a55-2d3c4e5f6a7b"}, 404, "UploadNotFound"),
    ],
)
def test_bad_upload_ids_are_4xx_naming_the_problem(
    detector: Cloud,  # noqa: F811
    context: FakeContext,
    body: Any,
    status: int,
    code: str,
) -> None:
    got_status, got = answer(predict.lambda_handler(json_request(body), context))
    assert (got_status, got["code"]) == (status, code), got


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"GIF89a" + b"\x00" * 100, 415, "UnsupportedImageType"),
        (b"hello world", 400, "NotAnImage"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 10, 400, "InvalidImage"),
    ],
)
def test_uploads_that_are_not_usable_images_are_refused(
    detector: Cloud,  # noqa: F811
    context: FakeContext,
    data: bytes,
    status: int,
    code: str,
) -> None:
    upload_id = new_upload_id()
    detector.put(upload_key(upload_id), data)
    got_status, got = answer(predict.lambda_handler(json_request({"upload_id": upload_id}), context))
    assert (got_status, got["code"]) == (status, code), got


def test_an_upload_over_the_pixel_limit_is_413_before_decoding(
    detector: Cloud,  # noqa: F811
    context: FakeContext,
) -> None:
    # Given a PNG header declaring 20000x20000 pixels (a decompression bomb)
    from tests.lambdas.test_handler_predict import png_header

    upload_id = new_upload_id()
    detector.put(upload_key(upload_id), png_header(20000, 20000))
    got_status, got = answer(predict.lambda_handler(json_request({"upload_id": upload_id}), context))
    assert (got_status, got["code"]) == (413, "ImageTooLarge")


def test_a_corrupt_large_upload_is_400_invalid_image() -> None:
    # Given bytes whose header declares a big PNG but whose data is garbage
    from tests.lambdas.test_handler_predict import png_header

    with pytest.raises(uploaded.RequestError) as raised:
        uploaded.endpoint_image(png_header(4000, 3000), "image/png")
    assert (raised.value.status, raised.value.code) == (400, "InvalidImage")


@pytest.mark.parametrize(
    ("mode", "size", "image_format", "expected"),
    [
        ("RGBA", (2500, 100), "PNG", (2048, 82)),
        ("P", (3000, 3000), "PNG", (2048, 2048)),
        ("L", (1000, 4096), "PNG", (500, 2048)),
        ("RGB", (4096, 2048), "JPEG", (2048, 1024)),
    ],
)
def test_images_longer_than_2048_pixels_are_scaled_to_fit_whatever_their_mode(
    mode: str, size: tuple[int, int], image_format: str, expected: tuple[int, int]
) -> None:
    # Given a small file (well under 6 MB) whose longer side is over 2048 pixels
    out = io.BytesIO()
    Image.new(mode, size).save(out, format=image_format)
    # When made to fit the endpoint / Then it is an RGB JPEG scaled to 2048 on the longer side, aspect kept
    data, image_type = uploaded.endpoint_image(out.getvalue(), f"image/{image_format.lower()}")
    with Image.open(io.BytesIO(data)) as scaled:
        assert (scaled.format, scaled.mode, scaled.size) == ("JPEG", "RGB", expected)
    assert image_type == "image/jpeg"
