"""Finding 10: every image a manifest may name is readable by the jobs and presignable by the labeling API.

start_run accepts a manifest whose ``source-ref``s are in the data bucket (any key) or in a
``gtpipe:allowedSourceBuckets`` bucket. Labeling, training and transform jobs read those objects with the
SageMaker execution role (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html); the builtin
labeling API presigns them with its own role, and only for the buckets ``IMAGE_BUCKETS`` names. The manifest
is validated with start_run's own rules built from the synthesized ``PIPELINE_CONFIG``, and each accepted
object is evaluated against the synthesized policies with :mod:`local.iam_policy`.
"""

from __future__ import annotations

import importlib
import io
import json
from types import ModuleType
from typing import Any

import pytest

from tests.fidelity.iam_support import DATA_BUCKET, Request, denied, lookup, role_id, statements, without_sids
from tests.infra.conftest import BUILTIN_TEAM, Synthesized, synthesize
from tests.pipeline.sample_config import synthesized_pipeline_config

SOURCE_BUCKET = "gtpipe-public-images"
ACCEPTED = [
    f"s3://{DATA_BUCKET}/images/pets/cat.jpg",
    f"s3://{DATA_BUCKET}/incoming/dog.jpg",
    f"s3://{DATA_BUCKET}/archive/2023/fish.png",
    f"s3://{SOURCE_BUCKET}/open-images/bird.jpg",
]
REFUSED = "s3://someone-elses-bucket/images/cat.jpg"


@pytest.fixture(scope="module")
def synth_sources() -> Synthesized:
    return synthesize(
        labelingBackend="builtin", labelingTeam=BUILTIN_TEAM, allowedSourceBuckets=[SOURCE_BUCKET]
    )


def handler(monkeypatch: pytest.MonkeyPatch, module: str) -> ModuleType:
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_SERVICE_NAME": "gtpipe",
        "POWERTOOLS_METRICS_NAMESPACE": "Gtpipe",
        "IDEMPOTENCY_TABLE": "gtpipe-idempotency",
    }.items():
        monkeypatch.setenv(name, value)
    return importlib.import_module(module)


def validated(monkeypatch: pytest.MonkeyPatch, synth: Synthesized, refs: list[str]) -> Any:
    """start_run's validation of a manifest of ``refs`` under the synthesized configuration."""
    from gtpipe_shared.config import load_pipeline_config
    from gtpipe_shared.manifest import validate_manifest

    start_run = handler(monkeypatch, "start_run.handler")
    config = load_pipeline_config(synthesized_pipeline_config(synth), data_bucket=DATA_BUCKET)
    body = "".join(json.dumps({"source-ref": ref}) + "\n" for ref in refs).encode()
    return validate_manifest(io.BytesIO(body), start_run.manifest_rules(config, DATA_BUCKET))


def object_arn(ref: str) -> str:
    return "arn:aws:s3:::" + ref.removeprefix("s3://")


def reads(ref: str) -> list[Request]:
    return [Request("s3:GetObject", object_arn(ref)), Request("s3:GetObjectVersion", object_arn(ref))]


def test_what_start_run_accepts_and_refuses(
    monkeypatch: pytest.MonkeyPatch, synth_sources: Synthesized
) -> None:
    assert validated(monkeypatch, synth_sources, ACCEPTED).ok
    refused = validated(monkeypatch, synth_sources, [REFUSED])
    assert not refused.ok and "is not allowed" in " ".join(refused.messages())


@pytest.mark.parametrize("ref", ACCEPTED)
def test_the_sagemaker_role_reads_every_accepted_source(synth_sources: Synthesized, ref: str) -> None:
    assert denied(statements(synth_sources, "PipelineSageMakerExecutionRole"), reads(ref)) == []


@pytest.mark.parametrize("ref", ACCEPTED)
def test_the_labeling_api_presigns_every_accepted_source(
    monkeypatch: pytest.MonkeyPatch, synth_sources: Synthesized, ref: str
) -> None:
    # Given the API function's synthesized environment
    api_id = role_id(synth_sources, "LabelingLabelingApiFunctionRole")
    (function,) = [
        f
        for f in synth_sources.main.find_resources("AWS::Lambda::Function").values()
        if f["Properties"]["Role"] == {"Fn::GetAtt": [api_id, "Arn"]}
    ]
    variables = function["Properties"]["Environment"]["Variables"]
    monkeypatch.setenv("DATA_BUCKET", lookup("Import:DataBucketRef"))
    assert "IMAGE_BUCKETS" in variables, "IMAGE_BUCKETS is never set"
    monkeypatch.setenv("IMAGE_BUCKETS", str(variables["IMAGE_BUCKETS"]))
    # Then the handler agrees to presign the image and its role may read it (a presigned URL is signed with it)
    api = handler(monkeypatch, "labeling_api.handler")
    assert ref.removeprefix("s3://").split("/")[0] in api.image_buckets()
    assert denied(statements(synth_sources, "LabelingLabelingApiFunctionRole"), reads(ref)) == []


def test_nothing_outside_the_accepted_buckets_is_readable(synth_sources: Synthesized) -> None:
    for prefix in ("PipelineSageMakerExecutionRole", "LabelingLabelingApiFunctionRole"):
        assert denied(statements(synth_sources, prefix), reads(REFUSED)) == reads(REFUSED), prefix


def test_before_the_fix_the_jobs_could_not_read_other_prefixes_or_source_buckets(
    synth_sources: Synthesized,
) -> None:
    before = without_sids(statements(synth_sources, "PipelineSageMakerExecutionRole"), "ReadManifestSources")
    unreadable = [ref for ref in ACCEPTED if denied(before, reads(ref))]
    assert unreadable == [
        f"s3://{DATA_BUCKET}/archive/2023/fish.png",
        f"s3://{SOURCE_BUCKET}/open-images/bird.jpg",
    ]
