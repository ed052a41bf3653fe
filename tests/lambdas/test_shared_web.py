"""HTTP responses, image detection and Ground Truth templates."""

from __future__ import annotations

import html
import json

import pytest
from gtpipe_shared.http import error_response, header, json_response
from gtpipe_shared.images import content_type_acceptable, detect_image_type, is_supported
from gtpipe_shared.templates import label_categories_json, ui_template

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 20
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20


def test_json_and_error_responses() -> None:
    response = json_response(200, {"a": 1})
    assert response["statusCode"] == 200 and response["headers"]["Content-Type"] == "application/json"
    assert json.loads(response["body"]) == {"a": 1}
    assert json.loads(error_response(415, "Unsupported", "nope")["body"]) == {
        "error": "nope",
        "code": "Unsupported",
    }


def test_header_lookup_is_case_insensitive() -> None:
    assert header({"Content-Type": "image/png"}, "content-type") == "image/png"
    assert header(None, "content-type") is None


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (JPEG, "image/jpeg"),
        (PNG, "image/png"),
        (b"GIF89a....", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"BM\x00\x00", "image/bmp"),
        (b"hello world", None),
        (b"", None),
    ],
)
def test_detect_image_type(data: bytes, mime: str | None) -> None:
    assert detect_image_type(data) == mime


def test_supported_and_acceptable_types() -> None:
    assert is_supported("image/jpeg") and is_supported("image/png") and not is_supported("image/gif")
    assert content_type_acceptable(None)
    assert content_type_acceptable("image/jpeg; charset=binary")
    assert content_type_acceptable("application/x-image")
    assert content_type_acceptable("application/octet-stream")
    assert not content_type_acceptable("application/json")
    assert not content_type_acceptable("text/plain")


def test_label_categories_file() -> None:
    assert json.loads(label_categories_json(["Cat", "Dög"])) == {
        "document-version": "2018-11-28",
        "labels": [{"label": "Cat"}, {"label": "Dög"}],
    }
    with pytest.raises(ValueError):
        label_categories_json([])


def test_classification_template() -> None:
    text = ui_template(
        "image-classification", ['Cat "big"', "Dog"], header="Pick {{ one }}", description="<b>x</b>"
    )
    assert "<crowd-image-classifier" in text
    assert "{{ task.input.taskObject | grant_read_access }}" in text
    assert 'name="crowd-image-classifier"' in text
    categories = text.split('categories="', 1)[1].split('"', 1)[0]
    assert json.loads(html.unescape(categories)) == ['Cat "big"', "Dog"]
    assert "{{ one }}" not in text and "&lt;b&gt;" in text


def test_bounding_box_template() -> None:
    text = ui_template("object-detection", ["Bird"], header="Box the birds", description="Draw boxes")
    assert "<crowd-bounding-box" in text and 'name="boundingBox"' in text and "labels=" in text
    with pytest.raises(ValueError, match="no UI template"):
        ui_template("segmentation", ["x"], header="h", description="d")
