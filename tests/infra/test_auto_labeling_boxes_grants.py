"""Automated labeling of boxes on the builtin service reads image headers: the labeling function may read
the images a manifest may name, and only when it labels boxes automatically."""

from __future__ import annotations

import json

from aws_cdk.assertions import Annotations, Match

from tests.infra.conftest import synthesize
from tests.infra.test_security import role_statements


def test_the_labeling_function_reads_image_headers_only_for_automated_box_labeling() -> None:
    # Given builtin box runs with automated labeling and images allowed in another bucket, and without it
    boxes = synthesize(
        labelingBackend="builtin",
        taskType="object-detection",
        labeling={"autoLabeling": True},
        allowedSourceBuckets=["scene-images"],
    )
    people = synthesize(
        labelingBackend="builtin", taskType="object-detection", allowedSourceBuckets=["scene-images"]
    )
    # When the labeling function's role is read
    granted = [
        s
        for s in role_statements(boxes, "LabelingLabelingFunctionRole")
        if s.get("Sid") == "ReadImageHeaders"
    ]
    # Then it may GetObject (ranged: the header) on the data bucket's and the allowed bucket's objects only
    assert len(granted) == 1 and granted[0]["Action"] == "s3:GetObject"
    resources = [json.dumps(resource) for resource in granted[0]["Resource"]]
    assert len(resources) == 2
    assert '":s3:::scene-images/*"' in resources[0]
    assert "DataBucket" in resources[1] and resources[1].endswith('"/*"]]}')
    # And cdk-nag has nothing to say about it (the manifests' images, as for the labeling API)
    for stack in (boxes.stateful, boxes.pipeline):
        annotations = Annotations.from_stack(stack)
        findings = annotations.find_error(
            "*", Match.string_like_regexp("AwsSolutions-.*")
        ) + annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
        assert findings == [], [finding.entry.data for finding in findings][:5]
    # And without automated labeling it may not
    assert not [
        s
        for s in role_statements(people, "LabelingLabelingFunctionRole")
        if s.get("Sid") == "ReadImageHeaders"
    ]
