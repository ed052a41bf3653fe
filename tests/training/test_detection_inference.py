"""Detection serving: the built-in's answer format, the coordinate frame, errors, batch form."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from torch import nn

from training import inference as classification_inference
from training.detection.inference import (
    LoadedDetector,
    input_fn,
    model_fn,
    output_content_type,
    output_fn,
    predict_fn,
    predict_images,
)
from training.errors import (
    InvalidInputError,
    ModelArtifactError,
    UnsupportedAcceptError,
    UnsupportedContentTypeError,
)

from .job_support import serve_outside_repository

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def detector(trained_detector) -> LoadedDetector:
    return model_fn(trained_detector[0].model_dir)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_answer_has_the_builtin_format(detector, detection_scenes):
    # Given a scene submitted as an endpoint request
    body = detection_scenes[0].path.read_bytes()
    # When it goes through input_fn -> predict_fn -> output_fn
    answer = json.loads(
        output_fn(predict_fn(input_fn(body, "application/x-image"), detector), "application/json")
    )
    # Then it is {"prediction": [[class_id, score, xmin, ymin, xmax, ymax], ...]}: relative coordinates,
    # known classes, best score first, at most 100 rows
    assert set(answer) == {"prediction"}
    rows = answer["prediction"]
    assert 0 < len(rows) <= 100
    for class_id, score, xmin, ymin, xmax, ymax in rows:
        assert float(class_id).is_integer() and 0 <= class_id < 4
        assert 0.01 <= score <= 1
        assert 0 <= xmin <= xmax <= 1 and 0 <= ymin <= ymax <= 1
    scores = [row[1] for row in rows]
    assert scores == sorted(scores, reverse=True)
    assert output_content_type("application/json") == "application/json"


class _BrightBoxDetector(nn.Module):
    """A stand-in network with known behaviour: it 'detects' the bright rectangle it is shown, as
    class 1, on the stride-4 grid the real network uses. It lets the test check the frame."""

    def __init__(self, grid: int) -> None:
        super().__init__()
        self.grid = grid

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        size = x.shape[-1]
        cell = size / self.grid
        heat = torch.full((len(x), 3, self.grid, self.grid), -10.0)
        box = torch.zeros(len(x), 4, self.grid, self.grid)
        for n, image in enumerate(x):
            rows = torch.nonzero(image[0] > 0).float()  # bright pixels (normalised above 0)
            top, left = rows.min(0).values.tolist()
            bottom, right = (rows.max(0).values + 1).tolist()
            cx, cy = (left + right) / 2 / cell, (top + bottom) / 2 / cell
            ix, iy = int(cx), int(cy)
            heat[n, 1, iy, ix] = 10.0
            box[n, :, iy, ix] = torch.tensor(
                [cx - ix, cy - iy, np.log((right - left) / cell), np.log((bottom - top) / cell)]
            )
        return heat, box


def test_boxes_are_relative_to_the_submitted_non_square_image(detector):
    # Given a 300x150 image with a bright rectangle at known pixels, and a network that finds it
    image = Image.new("RGB", (300, 150), (0, 0, 0))
    ImageDraw.Draw(image).rectangle([60, 30, 179, 119], fill=(255, 255, 255))  # 120 x 90 px at (60, 30)
    stand_in = LoadedDetector(
        network=_BrightBoxDetector(grid=16),  # type: ignore[arg-type]
        classes=["a", "b", "c"],
        image_size=64,
        mean=torch.full((1, 3, 1, 1), 0.5),
        std=torch.full((1, 3, 1, 1), 0.5),
        nms_threshold=0.45,
        min_score=0.01,
        max_detections=100,
        device=torch.device("cpu"),
        config={},
    )
    # When it is served
    answer = json.loads(output_fn(predict_fn(input_fn(png(image), "image/png"), stand_in), None))
    # Then the one box, scaled by the submitted image's own width and height, lands on the rectangle
    (class_id, score, xmin, ymin, xmax, ymax), *rest = answer["prediction"]
    assert rest == [] and class_id == 1 and score == pytest.approx(1.0, abs=1e-4)
    pixels = [xmin * 300, ymin * 150, xmax * 300, ymax * 150]
    assert pixels == pytest.approx([60, 30, 180, 120], abs=300 / 64 + 0.5)  # within one input pixel
    # And the same picture at another size and aspect ratio gives the same relative box
    wide = image.resize((600, 120), Image.Resampling.NEAREST)
    again = json.loads(output_fn(predict_fn(input_fn(png(wide), "image/png"), stand_in), None))
    assert again["prediction"][0][2:] == pytest.approx([xmin, ymin, xmax, ymax], abs=0.02)


def test_batch_and_jsonlines_forms(detector, detection_scenes):
    bodies = [s.path.read_bytes() for s in detection_scenes[:2]]
    both = predict_fn([input_fn(b, "image/png")[0] for b in bodies], detector)
    lines = output_fn(both, "application/jsonlines").split("\n")
    assert len(lines) == 2 and all(set(json.loads(line)) == {"prediction"} for line in lines)
    assert output_fn(both, "application/json", batch=True) == "\n".join(lines)
    listed = json.loads(output_fn(both, "application/json"))
    assert [json.loads(line) for line in lines] == listed
    # One image in batch form (what a transform job writes to <input>.out) is one JSON object
    one = output_fn(both[:1], "application/json", batch=True)
    assert json.loads(one) == listed[0]
    # predict_images takes paths, a batch at a time, and gives the same answers (up to float rounding:
    # convolution kernels may differ with the batch size)
    by_path = predict_images(detector, [s.path for s in detection_scenes[:2]], batch_size=1)
    for alone, together in zip(by_path, both, strict=True):
        np.testing.assert_allclose(alone[:5], together[:5], atol=1e-4)


@pytest.mark.parametrize(
    ("body", "content_type", "error", "status"),
    [
        (b"", "image/png", InvalidInputError, 400),
        (b"\x89PNG\r\n\x1a\n truncated", "application/x-image", InvalidInputError, 400),
        (b"plain text", "text/plain", UnsupportedContentTypeError, 415),
    ],
)
def test_bad_requests_raise_4xx_errors(body, content_type, error, status):
    with pytest.raises(error) as raised:
        input_fn(body, content_type)
    assert raised.value.status_code == status


def test_bad_accept_and_undecodable_path_are_4xx(detector, tmp_path):
    with pytest.raises(UnsupportedAcceptError) as raised:
        output_fn([np.zeros((0, 6))], "text/csv")
    assert raised.value.status_code == 406
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(InvalidInputError, match=r"images 0\.\.0"):
        predict_images(detector, [broken])


def test_each_algorithm_refuses_the_others_model(trained_detector, trained):
    with pytest.raises(
        ModelArtifactError, match="trained by the image-classification algorithm, not object-detection"
    ):
        model_fn(trained.job.model_dir)
    with pytest.raises(
        ModelArtifactError, match="trained by the object-detection algorithm, not image-classification"
    ):
        classification_inference.model_fn(trained_detector[0].model_dir)
    with pytest.raises(ModelArtifactError, match=r"model\.pt is missing"):
        model_fn(trained_detector[0].root)


def test_artifact_serves_without_the_repository(trained_detector, detection_scenes, tmp_path):
    # Given only the extracted model.tar.gz, with code/ on sys.path as SageMaker's PyTorch container does
    image = detection_scenes[3].path
    # When a fresh interpreter outside the repository imports code/inference.py
    extracted, process = serve_outside_repository(trained_detector[0].model_dir, image, tmp_path)
    # Then it answers like the repository's handlers
    assert process.returncode == 0, process.stderr
    expected = output_fn(predict_fn(input_fn(image.read_bytes(), "image/png"), model_fn(extracted)), None)
    np.testing.assert_allclose(
        np.array(json.loads(process.stdout)["prediction"]),
        np.array(json.loads(expected)["prediction"]),
        atol=1e-6,
    )
