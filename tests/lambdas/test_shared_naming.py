"""Run ids and SageMaker job names."""

from __future__ import annotations

import re

import pytest
from gtpipe_shared.naming import (
    SAGEMAKER_NAME,
    STEPS,
    job_name,
    parse_job_name,
    run_id_for,
    seed_for,
    slugify,
)
from hypothesis import given
from hypothesis import strategies as st

RUN_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*-[0-9a-f]{16}$")


def test_run_id_is_slug_of_stem_plus_hash() -> None:
    # given a versioned manifest key
    run_id = run_id_for("bucket", "incoming/My Demo_Set.v2.manifest", "abc")
    # then the slug comes from the file stem and a 16-hex hash follows
    assert run_id.startswith("my-demo-set-v2-")
    assert RUN_ID.match(run_id)


def test_run_id_is_deterministic_and_version_sensitive() -> None:
    # The same object version always gets the same run id, in every process and release: pinned, because
    # start_run's duplicate detection and the ledger key depend on it
    assert run_id_for("b", "incoming/demo.manifest", "v1") == "demo-e83acfbae99eaff2"
    assert run_id_for("b", "incoming/demo.manifest", "v1") != run_id_for("b", "incoming/demo.manifest", "v2")
    # an unversioned object hashes the literal "null", like S3 reports it
    assert run_id_for("b", "incoming/demo.manifest", None) == run_id_for(
        "b", "incoming/demo.manifest", "null"
    )


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("---", "run"),
        ("", "run"),
        ("a--b__c", "a-b-c"),
        ("Ünïcode émoji 🚀 name", "n-code-moji-name"),
        ("x" * 30, "x" * 20),
        ("abcdefghijklmnopqrs-tuvwxyz", "abcdefghijklmnopqrs"),
    ],
)
def test_slugify(text: str, slug: str) -> None:
    assert slugify(text) == slug


@given(
    bucket=st.text(min_size=1, max_size=63),
    key=st.text(max_size=300),
    version=st.none() | st.text(max_size=40),
)
def test_run_ids_and_job_names_always_valid(bucket: str, key: str, version: str | None) -> None:
    run_id = run_id_for(bucket, key, version)
    assert RUN_ID.match(run_id), run_id
    assert "--" not in run_id
    for step in STEPS:
        name = job_name(run_id, step, 9999)
        assert SAGEMAKER_NAME.match(name) and len(name) <= 63
        assert parse_job_name(name) == (run_id, step)


def test_parse_job_name_rejects_foreign_names() -> None:
    assert parse_job_name("my-own-training-job") is None
    assert parse_job_name("demo-0123456789abcdef-deploy-0") is None
    assert parse_job_name("demo-0123456789ABCDEF-train-0") is None
    assert parse_job_name("demo-0123456789abcdef-train-0") == ("demo-0123456789abcdef", "train")
    assert parse_job_name(None) is None  # type: ignore[arg-type]


def test_job_name_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown step"):
        job_name("demo-0123456789abcdef", "deploy")
    with pytest.raises(ValueError, match="not a gtpipe run id"):
        job_name("Demo_run", "train")
    with pytest.raises(ValueError, match="retry"):
        job_name("demo-0123456789abcdef", "train", -1)


def test_seed_is_deterministic_31_bit() -> None:
    # Pinned: a rerun of the same run id must split the manifest the same way
    assert seed_for("demo-0123456789abcdef") == 2007570684
    assert seed_for("demo-0123456789abcdf0") == 623169840
    assert 0 <= seed_for("x") < 2**31
