"""Benchmark: answers/s of the builtin labeling service's store on moto, moto's rollback vs the local cloud's.

    .venv/bin/python -m bench.labeling_speed_bench [--objects 150] [--seed 7]

One labeling job of ``--objects`` digits, 3 answers each, in one tasks table (as a job of ``make demo
LABELING=builtin``: the table grows with every answer), labeled to completion by the adaptive benchmark's
5 simulated workers through :mod:`gtpipe_shared.labeling_store` on moto's in-process DynamoDB, under
the local cloud's DynamoDB lock (:func:`local.moto_locks.serialize_dynamodb`). Run three times, side by
side: with moto's own ``TransactWriteItems`` (a copy of the table per answer), with
:mod:`local.moto_transactions` (a snapshot of the answer's items), and with that plus
:mod:`local.moto_dynamodb_speed` (queries of the partition only, items serialized in one pass: the local
cloud's setting). Same job, same answers; the output manifests must be equal. No HTTP, Lambda or Cognito
hops: this measures the DynamoDB part of an answer (``python -m bench crowd-speed`` measures the whole).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import print_figures, use_fake_aws_credentials
from bench.adaptive_bench import BUCKET, DIGITS, Outcome, _label_job
from local.labeling_crowd import CrowdSettings
from tests.lambdas.labeling_fixtures import create_labeling_table


def _run(
    dynamodb: Any, name: str, objects: int, seed: int, snapshots: bool, speedups: bool = False
) -> tuple[Outcome, float]:
    """Label one job in a fresh table; its outcome and wall seconds."""
    from local import moto_dynamodb_speed, moto_locks, moto_transactions

    references = [
        {"source-ref": f"s3://{BUCKET}/digits/{i:05d}.png", "label": i % len(DIGITS)} for i in range(objects)
    ]
    crowd = CrowdSettings(reference_labels=Path("unused"), error_rate=0.1, seed=seed)
    undo = [moto_locks.serialize_dynamodb()]
    if snapshots:
        undo.append(moto_transactions.install())
    if speedups:
        undo.append(moto_dynamodb_speed.install())
    table = create_labeling_table(dynamodb, f"speed-{name}")
    try:
        started = time.perf_counter()
        outcome = _label_job(table, "speed", "image-classification", DIGITS, references, crowd, None)
        return outcome, time.perf_counter() - started
    finally:
        table.delete()
        while undo:
            undo.pop()()


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    """Measure and return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=150, help="objects of the job (3 answers each)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    use_fake_aws_credentials()  # moto's in-process DynamoDB, never a real account
    import boto3
    from moto import mock_aws

    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
        copied, copied_s = _run(dynamodb, "copies", args.objects, args.seed, snapshots=False)
        snapped, snapped_s = _run(dynamodb, "snapshots", args.objects, args.seed, snapshots=True)
        fast, fast_s = _run(dynamodb, "speedups", args.objects, args.seed, snapshots=True, speedups=True)
    for other in (snapped, fast):
        if copied.lines != other.lines or copied.answers != other.answers:
            raise RuntimeError("the variants labeled the job differently")
    before, after = copied.answers / copied_s, snapped.answers / snapped_s
    fastest = fast.answers / fast_s
    return {
        "objects (one job, one table)": args.objects,
        "answers": copied.answers,
        "answers/s moto's rollback (table copies)": f"{before:.1f}",
        "answers/s local.moto_transactions (item snapshots)": f"{after:.1f}",
        "answers/s item snapshots + local.moto_dynamodb_speed": f"{fastest:.1f}",
        "speed-up (snapshots vs copies)": f"{after / before:.1f}x",
        "speed-up (snapshots + speed-ups vs copies)": f"{fastest / before:.1f}x",
    }


if __name__ == "__main__":
    print_figures(main())
