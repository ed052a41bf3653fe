"""Serving handlers: the built-in algorithm's content types, formats and typed errors."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from training.errors import InvalidInputError, UnsupportedAcceptError, UnsupportedContentTypeError
from training.inference import input_fn, model_fn, output_content_type, output_fn, predict_fn, predict_images


@pytest.fixture(scope="module")
def model(trained):
    assert trained.process.returncode == 0, trained.process.stdout[-2000:]
    return model_fn(trained.job.model_dir)


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def test_real_time_answer_is_a_json_list_of_class_probabilities(model, trained):
    # Given a held-out digit as PNG bytes
    record = trained.validation[0]
    body = record.path.read_bytes()
    # When the four handlers run as a SageMaker server chains them
    answer = output_fn(predict_fn(input_fn(body, "application/x-image"), model), "application/json")
    # Then the answer is the built-in's real-time format: a flat list of 10 probabilities summing to 1
    probabilities = json.loads(answer)
    assert isinstance(probabilities, list)
    assert len(probabilities) == 10
    assert all(isinstance(p, float) and 0.0 <= p <= 1.0 for p in probabilities)
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)


def test_batch_answer_is_the_prediction_object(model, trained):
    # Given a prediction for one image
    prediction = predict_fn(input_fn(trained.validation[1].path.read_bytes(), "image/png"), model)
    # When the caller asks for JSON Lines, or for the batch format explicitly
    lines = output_fn(prediction, "application/jsonlines")
    batch = output_fn(prediction, "application/json", batch=True)
    # Then both are the built-in's batch-transform record {"prediction": [...]}
    assert lines == batch
    record = json.loads(lines)
    assert list(record) == ["prediction"]
    assert record["prediction"] == json.loads(output_fn(prediction, "application/json"))


def test_several_images_give_one_row_or_line_each(model, trained):
    prediction = predict_images(model, [r.path for r in trained.validation[:3]])
    assert len(json.loads(output_fn(prediction, "application/json"))) == 3
    lines = output_fn(prediction, "application/jsonlines").split("\n")
    assert [len(json.loads(line)["prediction"]) for line in lines] == [10, 10, 10]


def test_held_out_digits_are_mostly_classified_correctly(model, trained):
    # Given 100 digits the model never saw
    images = [r.path for r in trained.validation]
    # When predicted in batches
    probabilities = predict_images(model, images, batch_size=32)
    # Then accuracy is far above chance, and batching does not change the answers
    labels = np.array([r.label for r in trained.validation])
    assert (probabilities.argmax(1) == labels).mean() >= 0.6
    one = predict_fn(input_fn(trained.validation[5].path.read_bytes(), "image/png"), model)
    np.testing.assert_allclose(one[0], probabilities[5], rtol=1e-4, atol=1e-6)


def test_jpeg_rgb_of_another_size_is_accepted(model, trained):
    # Given the digit as a 50x40 RGB JPEG (grayscale model, 32x32 input)
    image = Image.open(trained.validation[2].path).convert("RGB").resize((50, 40))
    # When sent as image/jpeg with a parameter in the content type
    data = input_fn(_encode(image, "JPEG"), "image/jpeg; charset=binary")
    prediction = predict_fn(data, model)
    # Then it is resized to the model's input and answered
    assert prediction.shape == (1, 10)


@pytest.mark.parametrize(
    "body",
    [b"", b"not an image", b"\x89PNG\r\n\x1a\n truncated", b"\xff\xd8\xff\xe0 truncated jpeg"],
)
def test_corrupt_body_raises_invalid_input(body):
    with pytest.raises(InvalidInputError) as error:
        input_fn(body, "application/x-image")
    assert error.value.status_code == 400
    assert isinstance(error.value, ValueError)


def test_truncated_real_png_raises_invalid_input(trained):
    data = trained.validation[0].path.read_bytes()
    with pytest.raises(InvalidInputError, match="not a valid JPEG or PNG image"):
        input_fn(data[: len(data) // 2], "image/png")


def test_text_body_raises_invalid_input():
    with pytest.raises(InvalidInputError, match="must be bytes"):
        input_fn("a string", "image/png")  # type: ignore[arg-type]


@pytest.mark.parametrize("content_type", ["application/json", "text/csv", "application/x-recordio", "", None])
def test_unsupported_content_type_raises_typed_error(content_type):
    with pytest.raises(UnsupportedContentTypeError) as error:
        input_fn(b"\x89PNG", content_type)
    assert error.value.status_code == 415


def test_unsupported_accept_raises_typed_error():
    with pytest.raises(UnsupportedAcceptError) as error:
        output_fn(np.array([[0.5, 0.5]]), "text/csv")
    assert error.value.status_code == 406


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json; charset=utf-8", "application/json"),
        ("text/html, application/jsonlines", "application/jsonlines"),
    ],
)
def test_accept_negotiation(accept, content_type):
    assert output_content_type(accept) == content_type


def test_predict_images_names_the_bad_image(model, trained):
    images = [trained.validation[0].path.read_bytes(), b"garbage", trained.validation[1].path]
    with pytest.raises(InvalidInputError, match="image 1"):
        predict_images(model, images)
