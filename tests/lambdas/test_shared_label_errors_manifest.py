"""Label-error finding on manifests (gtpipe_shared.label_errors_manifest): folds, flagging, corrected manifest."""

from __future__ import annotations

import json
from typing import Any

import pytest
from gtpipe_shared.label_errors import LabelErrorsInputError
from gtpipe_shared.label_errors_manifest import (
    LABEL_ERROR_KEY,
    Fold,
    corrected_manifest,
    flag_objects,
    fold_manifests,
)

CLASSES = ("cat", "dog")
ATTR = "category"


def line(index: int, label: int, bucket: str = "data") -> bytes:
    obj = {
        "source-ref": f"s3://{bucket}/images/{index:03d}.png",
        ATTR: label,
        f"{ATTR}-metadata": {"class-name": CLASSES[label], "human-annotated": "yes"},
    }
    return json.dumps(obj).encode()


def output(cat: float) -> bytes:
    return json.dumps({"prediction": [cat, 1 - cat]}).encode()


def manifest() -> list[bytes]:
    # ten cats and ten dogs
    return [line(i, 0 if i < 10 else 1) for i in range(20)]


def test_folds_cover_every_line_once_and_train_on_the_others() -> None:
    # given a 20-line manifest with a blank line
    lines = [*manifest(), b"  "]
    # when dealt into 3 folds
    folds = fold_manifests(lines, ATTR, folds=3, seed=1)
    # then each image is held out exactly once, each fold trains on exactly the other folds' lines (bytes kept)
    held = [ref for fold in folds for ref in fold.held_out_refs]
    assert sorted(held) == sorted(json.loads(raw)["source-ref"] for raw in manifest())
    for fold in folds:
        trained = {json.loads(raw)["source-ref"] for raw in fold.train_lines}
        assert trained.isdisjoint(fold.held_out_refs)
        assert len(trained) + len(fold.held_out_refs) == 20
        assert all(raw in manifest() for raw in fold.train_lines)


def test_held_out_images_become_a_transform_manifest_file() -> None:
    # given a fold holding out two images of one bucket
    fold = Fold(0, [], ["s3://data/images/a/001.png", "s3://data/images/b/002.png"])
    # when written as batch transform's ManifestFile
    # then the common prefix comes first and keys follow relative to it
    assert fold.images_manifest() == [{"prefix": "s3://data/images/"}, "a/001.png", "b/002.png"]


def test_held_out_images_of_two_buckets_are_refused() -> None:
    # given a fold holding out images of two buckets; when written; then the error names the fold
    with pytest.raises(LabelErrorsInputError, match=r"fold 2.s held-out images: .*more than one S3 bucket"):
        Fold(2, [], ["s3://one/a.png", "s3://two/b.png"]).images_manifest()


def test_lines_that_are_not_labeled_images_are_refused() -> None:
    # given a detection line (boxes, not a class index); when folded; then the line is named
    boxes = json.dumps({"source-ref": "s3://d/x.png", ATTR: {"annotations": []}}).encode()
    with pytest.raises(LabelErrorsInputError, match="line 2 has no source-ref and class index"):
        fold_manifests([line(0, 0), boxes, line(1, 1)], ATTR, folds=2, seed=0)
    with pytest.raises(LabelErrorsInputError, match="line 1 is not JSON"):
        fold_manifests([b"{oops"], ATTR, folds=2, seed=0)


def predictions(lines: list[bytes], cat_probability: dict[int, float]) -> dict[str, bytes | None]:
    return {json.loads(raw)["source-ref"]: output(cat_probability[i]) for i, raw in enumerate(lines)}


def noisy() -> tuple[list[bytes], dict[str, bytes | None]]:
    # ten cats (0-9) and ten dogs (10-19); image 3 is labeled dog though the model sees a cat, image 14 is
    # labeled cat though the model sees a dog
    lines = [line(i, 0 if i < 10 else 1) for i in range(20)]
    lines[3], lines[14] = line(3, 1), line(14, 0)
    return lines, predictions(lines, {i: 0.95 if i < 10 else 0.05 for i in range(20)})


def test_flags_mislabeled_objects_and_shows_the_suggestion_to_the_reviewer() -> None:
    # given the noisy manifest and out-of-fold outputs
    lines, by_ref = noisy()
    # when flagged
    flagged = flag_objects(lines, ATTR, CLASSES, by_ref, max_share=0.2)
    # then images 3 and 14 are flagged, and their review objects carry the suggestion and their line index
    assert sorted(issue.index for issue in flagged.issues) == [3, 14]
    by_index = {r[f"{ATTR}-metadata"][LABEL_ERROR_KEY]["index"]: r for r in flagged.review_lines}
    three = by_index[3]
    assert three["source-ref"] == "s3://data/images/003.png" and three[ATTR] == 1
    assert three[f"{ATTR}-metadata"][LABEL_ERROR_KEY]["suggested-class-name"] == "cat"
    assert three[f"{ATTR}-metadata"][LABEL_ERROR_KEY]["given-class-name"] == "dog"
    assert three[f"{ATTR}-metadata"]["human-annotated"] == "yes"
    assert flagged.unassessed == []


def test_objects_without_usable_output_are_not_assessed() -> None:
    # given outputs missing for image 3 and unreadable for image 14
    lines, by_ref = noisy()
    by_ref["s3://data/images/003.png"] = None
    by_ref["s3://data/images/014.png"] = b"not json"
    # when flagged
    flagged = flag_objects(lines, ATTR, CLASSES, by_ref, max_share=0.2)
    # then neither is flagged; both are listed as not assessed
    assert flagged.issues == []
    assert flagged.unassessed == ["s3://data/images/003.png", "s3://data/images/014.png"]


def test_no_usable_output_or_a_wrong_class_count_is_refused() -> None:
    # given no outputs at all, or outputs of three classes for a two-class label set
    lines, by_ref = noisy()
    three = {ref: json.dumps({"prediction": [0.2, 0.3, 0.5]}).encode() for ref in by_ref}
    # when flagged; then each is refused naming the problem
    with pytest.raises(LabelErrorsInputError, match="no usable out-of-fold prediction for any of 20"):
        flag_objects(lines, ATTR, CLASSES, {}, max_share=0.2)
    with pytest.raises(LabelErrorsInputError, match="has 3 classes, the label set 2"):
        flag_objects(lines, ATTR, CLASSES, three, max_share=0.2)


def reviewed(review_line: dict[str, Any], label: int | None) -> bytes:
    out = dict(review_line)
    if label is None:
        out.pop(ATTR)
    else:
        out[ATTR] = label
        out[f"{ATTR}-metadata"] = {**out[f"{ATTR}-metadata"], "class-name": CLASSES[label]}
    return json.dumps(out).encode()


def test_corrected_manifest_takes_the_reviewed_labels_and_keeps_other_lines() -> None:
    # given both flagged objects reviewed: image 3 fixed to cat, image 14 kept as cat
    lines, by_ref = noisy()
    flagged = flag_objects(lines, ATTR, CLASSES, by_ref, max_share=0.2)
    by_index = {r[f"{ATTR}-metadata"][LABEL_ERROR_KEY]["index"]: r for r in flagged.review_lines}
    review_output = [reviewed(by_index[3], 0), b"", reviewed(by_index[14], 0)]
    # when the corrected manifest is built
    corrected, summary = corrected_manifest(lines, ATTR, flagged.issues, review_output)
    # then image 3 is a cat now, image 14 stays a cat, every other line is byte for byte the same
    assert json.loads(corrected[3])[ATTR] == 0
    assert json.loads(corrected[14])[ATTR] == 0
    assert [c for i, c in enumerate(corrected) if i not in (3, 14)] == [
        raw for i, raw in enumerate(lines) if i not in (3, 14)
    ]
    assert (summary["flagged"], summary["confirmed"], summary["kept"], summary["unreviewed"]) == (2, 1, 1, 0)


def test_undecided_reviews_leave_the_line_and_strangers_are_refused() -> None:
    # given image 3's review undecided (no label), and a review line of an object that was not flagged
    lines, by_ref = noisy()
    flagged = flag_objects(lines, ATTR, CLASSES, by_ref, max_share=0.2)
    by_index = {r[f"{ATTR}-metadata"][LABEL_ERROR_KEY]["index"]: r for r in flagged.review_lines}
    # when corrected
    corrected, summary = corrected_manifest(lines, ATTR, flagged.issues, [reviewed(by_index[3], None)])
    # then image 3's line is unchanged and counted unreviewed; a stranger is refused
    assert corrected == lines
    assert summary["unreviewed"] == 2
    stranger = json.dumps({ATTR: 0, f"{ATTR}-metadata": {LABEL_ERROR_KEY: {"index": 5}}}).encode()
    with pytest.raises(LabelErrorsInputError, match="review output line 1 is not one of the flagged"):
        corrected_manifest(lines, ATTR, flagged.issues, [stranger])
