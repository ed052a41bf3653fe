"""The simulated labeling crowd's answers: from the reference answers, with the Ground Truth workforce's noise
(fast, no cloud)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from local.labeling_crowd import CrowdSettings, ReferenceAnswers, simulated_answer
from local.sagemaker.box_workforce import BoxNoise

DIGITS = [str(n) for n in range(10)]
SCENE = {
    "source-ref": "s3://b/images/scenes/0.png",
    "image_size": {"width": 96, "height": 80, "depth": 3},
    "annotations": [
        {"class_id": 1, "left": 10, "top": 12, "width": 30, "height": 20},
        {"class_id": 0, "left": 50, "top": 40, "width": 20, "height": 25},
    ],
}


def task(task_type: str, class_names: list[str], source_ref: str) -> dict[str, object]:
    return {
        "job_name": "r-label-0",
        "index": 0,
        "task_type": task_type,
        "class_names": class_names,
        "source_ref": source_ref,
    }


def settings(tmp_path: Path, **overrides: object) -> CrowdSettings:
    return CrowdSettings(reference_labels=tmp_path / "reference.jsonl", **overrides)  # type: ignore[arg-type]


def test_careful_workers_answer_the_reference_class_by_index_or_name(tmp_path: Path) -> None:
    careful = settings(tmp_path, error_rate=0.0)
    for reference in (
        {"source-ref": "s3://b/7.png", "label": 7},
        {"source-ref": "s3://b/7.png", "label": "7"},
    ):
        answer = simulated_answer(
            task("image-classification", DIGITS, "s3://b/7.png"), reference, careful, random.Random(1)
        )
        assert answer == {"label": 7}


def test_careless_workers_err_uniformly_among_the_other_classes(tmp_path: Path) -> None:
    noisy = settings(tmp_path, error_rate=1.0)
    labels = [
        simulated_answer(
            task("image-classification", DIGITS, "s3://b/7.png"),
            {"source-ref": "s3://b/7.png", "label": 7},
            noisy,
            random.Random(seed),
        )["label"]
        for seed in range(300)
    ]
    assert 7 not in labels and set(labels) == set(range(10)) - {7}


def test_box_workers_draw_the_reference_boxes_with_the_image_size(tmp_path: Path) -> None:
    exact = settings(tmp_path, box_noise=BoxNoise(jitter=0.0, miss_rate=0.0, wrong_class_rate=0.0))
    answer = simulated_answer(
        task("object-detection", ["circle", "square"], SCENE["source-ref"]), SCENE, exact, random.Random(0)
    )  # type: ignore[arg-type]
    assert answer == {
        "boxes": [
            {"class_id": 1, "left": 10, "top": 12, "width": 30, "height": 20},
            {"class_id": 0, "left": 50, "top": 40, "width": 20, "height": 25},
        ],
        "image_size": {"width": 96, "height": 80},
    }
    missing = settings(tmp_path, box_noise=BoxNoise(miss_rate=1.0))
    answer = simulated_answer(
        task("object-detection", ["circle", "square"], SCENE["source-ref"]), SCENE, missing, random.Random(0)
    )  # type: ignore[arg-type]
    assert answer["boxes"] == []


def test_a_reference_that_does_not_fit_the_task_fails_naming_the_object(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"s3://b/x\.png"):
        simulated_answer(
            task("image-classification", DIGITS, "s3://b/x.png"),
            {"source-ref": "s3://b/x.png", "label": 12},
            settings(tmp_path),
            random.Random(0),
        )


def test_reference_answers_are_read_again_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "reference.jsonl"
    references = ReferenceAnswers(path)
    assert references.line("s3://b/1.png") is None  # not written yet
    path.write_text(json.dumps({"source-ref": "s3://b/1.png", "label": 1}) + "\n")
    assert references.line("s3://b/1.png") == {"source-ref": "s3://b/1.png", "label": 1}
    path.write_text(
        json.dumps({"source-ref": "s3://b/2.png", "label": 2})
        + "\n"
        + json.dumps({"source-ref": "s3://b/1.png", "label": 3})
        + "\n"
    )
    assert references.line("s3://b/1.png") == {"source-ref": "s3://b/1.png", "label": 3}
    path.write_text("[1, 2]\n")
    with pytest.raises(ValueError, match=r"reference.jsonl:1: not a reference line"):
        references.line("s3://b/1.png")


def test_settings_refuse_impossible_noise(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="error_rate"):
        settings(tmp_path, error_rate=1.5)


def test_one_labeler_in_five_is_careless_when_asked(tmp_path: Path) -> None:
    # Given a crowd whose every fifth labeler errs at 0.4 and the others never
    crowd = settings(tmp_path, error_rate=0.0, careless_every=5, careless_error_rate=0.4)
    reference = {"source-ref": "s3://b/7.png", "label": 7}

    def wrong(worker: int) -> int:
        return sum(
            simulated_answer(
                task("image-classification", DIGITS, "s3://b/7.png"),
                reference,
                crowd,
                random.Random(s),
                worker,
            )["label"]
            != 7
            for s in range(1000)
        )

    # Then labelers 4 and 9 are careless (about 400 of 1,000 answers wrong, seeded) and 0..3 never err
    assert [crowd.is_careless(worker) for worker in range(10)] == [False] * 4 + [True] + [False] * 4 + [True]
    assert 340 <= wrong(4) <= 460 and 340 <= wrong(9) <= 460
    assert wrong(0) == wrong(3) == 0
    # and by default nobody is careless
    assert not any(settings(tmp_path).is_careless(worker) for worker in range(10))
    with pytest.raises(ValueError, match="careless_every"):
        settings(tmp_path, careless_every=-1)
