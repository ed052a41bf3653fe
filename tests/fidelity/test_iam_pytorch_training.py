"""gtpipe:trainingAlgorithm pytorch: the SageMaker role reads the training source archive, evaluated against the
synthesized policy with the local IAM evaluator (:mod:`local.iam_policy`) that the local cloud enforces.

The training toolkit downloads ``sagemaker_submit_directory`` with the job's credentials, the role a job runs
as (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html); the local SageMaker downloads it
as that role too. The ECR pulls of the PyTorch images have no local counterpart (no registry runs locally):
tests/infra/test_training_algorithm.py checks those statements in the template."""

from __future__ import annotations

import json

import pytest

from tests.fidelity.iam_support import ACCOUNT, REGION, Request, denied, statements, without_sids
from tests.infra.conftest import Synthesized, synthesize
from tests.pipeline.sample_config import synthesized_pipeline_config

ROLE = "PipelineSageMakerExecutionRole"
ASSETS_BUCKET = f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"


@pytest.fixture(scope="module")
def synth_pytorch() -> Synthesized:
    return synthesize(trainingAlgorithm="pytorch")


def source_read(synth: Synthesized) -> Request:
    """GetObject of the object start_run's configuration names as sagemaker_submit_directory."""
    config = json.loads(synthesized_pipeline_config(synth))
    uri = json.loads(config["training"]["hyperparameters"]["sagemaker_submit_directory"])
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    assert bucket == ASSETS_BUCKET
    return Request("s3:GetObject", f"arn:aws:s3:::{bucket}/{key}")


def test_the_role_reads_the_source_archive_the_jobs_name(synth_pytorch: Synthesized) -> None:
    # Given the synthesized role and the archive a pytorch job downloads / When evaluated / Then it is allowed
    assert denied(statements(synth_pytorch, ROLE), [source_read(synth_pytorch)]) == []


def test_without_its_statement_the_role_cannot_read_the_source(synth_pytorch: Synthesized) -> None:
    # Given the role without ReadTrainingSource (the policy before this setting existed)
    found = without_sids(statements(synth_pytorch, ROLE), "ReadTrainingSource")
    read = source_read(synth_pytorch)
    # When evaluated / Then the read is denied, as AWS denies it
    assert denied(found, [read]) == [read]


def test_the_role_reads_no_other_object_of_the_assets_bucket(synth_pytorch: Synthesized) -> None:
    # Given another asset (a function's code) / When evaluated / Then it is denied (least privilege)
    other = Request("s3:GetObject", f"arn:aws:s3:::{ASSETS_BUCKET}/0123abcd.zip")
    assert denied(statements(synth_pytorch, ROLE), [other]) == [other]
