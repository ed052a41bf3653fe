"""Seeded S3 version ids (local.s3_versions): the same drops give the same run ids on every run."""

from __future__ import annotations

import uuid

import boto3
from moto import mock_aws

from local.s3_versions import seed_version_ids, version_id


def _versions(seed: int | None) -> list[str]:
    with mock_aws():
        restore = seed_version_ids(seed) if seed is not None else (lambda: None)
        try:
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket="data")
            s3.put_bucket_versioning(Bucket="data", VersioningConfiguration={"Status": "Enabled"})
            ids = [s3.put_object(Bucket="data", Key=key, Body=b"m")["VersionId"] for key in ("a", "b", "a")]
            listed = s3.list_object_versions(Bucket="data", Prefix="a")["Versions"]
            assert {v["VersionId"] for v in listed} == {ids[0], ids[2]}
            return ids
        finally:
            restore()


def test_versions_are_numbered_per_key_from_the_seed():
    # Given seeded version ids  # When "a", "b", then "a" again are put
    ids = _versions(7)
    # Then each id is the seed's id for that key's n-th version, and S3 lists them as usual
    assert ids == [
        version_id(7, "data", "a", 0),
        version_id(7, "data", "b", 0),
        version_id(7, "data", "a", 1),
    ]
    assert len(set(ids)) == 3


def test_the_same_seed_repeats_and_another_seed_differs():
    # Given two clouds with seed 7 and one with seed 8  # Then the first two agree and the third does not
    assert _versions(7) == _versions(7)
    assert set(_versions(8)).isdisjoint(_versions(7))


def test_without_the_seed_moto_draws_random_uuids_again():
    # Given a seeded cloud that has stopped  # When another one starts without a seed
    _versions(7)
    ids = _versions(None)
    # Then its version ids are moto's random UUIDs
    assert all(uuid.UUID(value).version == 4 for value in ids)
    assert ids != _versions(None)
