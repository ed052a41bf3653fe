"""Finding 6: Ground Truth reads the label category configuration file only with
``"document-version": "2018-11-28"`` (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateLabelingJob.html).

``label_category_names`` is the check the local Ground Truth applies to ``LabelCategoryConfigS3Uri``; the
files the project writes (start_run's, the demo's) must pass it.
"""

from __future__ import annotations

import json

import pytest
from gtpipe_shared.aws_limits import label_category_names
from gtpipe_shared.templates import label_categories_json

from training.datasets import label_categories


def test_the_file_start_run_writes_is_read_as_ground_truth_reads_it() -> None:
    # Given the label category file start_run uploads for a run
    document = json.loads(label_categories_json(["cat", "dog", "bird"]))
    # When Ground Truth's rules read it
    # Then the labels come back in class-id order
    assert label_category_names(document) == ["cat", "dog", "bird"]


def test_the_demo_file_is_read_as_ground_truth_reads_it() -> None:
    # Given the demo's label category file
    # When Ground Truth's rules read it / Then it is accepted
    assert label_category_names(label_categories(("zero", "one")))[1] == "one"


@pytest.mark.parametrize("version", [None, "2019-01-01"])
def test_a_file_without_the_document_version_is_rejected(version: str | None) -> None:
    # Given the file as it was before the fix (no document-version), or with a version Ground Truth lacks
    document: dict[str, object] = {"labels": [{"label": "cat"}, {"label": "dog"}]}
    if version:
        document["document-version"] = version
    # When Ground Truth's rules read it
    # Then it is refused, naming the required version
    with pytest.raises(ValueError, match='"document-version": "2018-11-28"'):
        label_category_names(document)


def test_duplicate_or_malformed_labels_are_rejected() -> None:
    with pytest.raises(ValueError, match="must be unique; repeated: cat"):
        label_category_names(
            {"document-version": "2018-11-28", "labels": [{"label": "cat"}, {"label": "cat"}]}
        )
    with pytest.raises(ValueError, match='every entry of "labels"'):
        label_category_names({"document-version": "2018-11-28", "labels": ["cat"]})
