"""Benchmark: streaming stratified split vs a naive read-all-then-shuffle baseline.

    .venv/bin/python -m bench.split_bench [--lines 1000000] [--workdir DIR] [--keep]

Generates an augmented (Ground Truth image-classification) manifest of ``--lines`` lines on local disk,
then splits it twice, each in its own subprocess so the peak resident memory (``ru_maxrss``) of one does
not hide the other:

* ``streaming``: ``gtpipe_shared.split.split_manifest`` exactly as the split Lambda runs it (two passes
  over a file, bounded external shuffle through temporary bucket files);
* ``naive``: read every line into a list, parse all of them, shuffle per class in memory, write.

``main()`` prints a table and returns the figures as a dict.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

CLASSES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
RATIO = 0.2
SEED = 1234
ATTRIBUTE = "category"


def generate(path: Path, lines: int, seed: int = 7) -> int:
    """Write a Ground Truth style augmented manifest with imbalanced classes; return its size in bytes."""
    rng = random.Random(seed)
    weights = [k + 1 for k in range(len(CLASSES))]  # class 9 is ten times as frequent as class 0
    labels = rng.choices(range(len(CLASSES)), weights=weights, k=lines)
    template = (
        '{{"source-ref":"s3://gtpipe-data-bucket/images/batch-{batch:04d}/img-{index:07d}.jpg",'
        '"category":{label},"category-metadata":{{"class-name":"{name}","confidence":0.{conf:02d},'
        '"human-annotated":"yes","creation-date":"2026-11-20T10:{minute:02d}:41.638095",'
        '"job-name":"labeling-job/demo-0123456789abcdef-label-0","type":"groundtruth/image-classification"}}}}\n'
    )
    with open(path, "w", encoding="utf-8", buffering=1 << 20) as out:
        for index, label in enumerate(labels):
            out.write(
                template.format(
                    batch=index // 10_000,
                    index=index,
                    label=label,
                    name=CLASSES[label],
                    conf=rng.randrange(50, 100),
                    minute=index % 60,
                )
            )
    return path.stat().st_size


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_streaming(manifest: Path, out_dir: Path) -> dict[str, Any]:
    """Run the Lambda's splitter over a local file."""
    from gtpipe_shared.split import SplitOptions, SplitOutputs, split_manifest
    from gtpipe_shared.tasks import TaskType

    options = SplitOptions(
        label_attribute=ATTRIBUTE, task_type=TaskType.IMAGE_CLASSIFICATION.value, num_classes=len(CLASSES),
        validation_ratio=RATIO, seed=SEED,
    )  # fmt: skip
    start = time.perf_counter()
    with (
        open(out_dir / "train.manifest", "wb") as train,
        open(out_dir / "validation.manifest", "wb") as validation,
        open(out_dir / "validation-images.manifest", "wb") as images,
    ):
        result = split_manifest(
            lambda: open(manifest, "rb"),  # noqa: SIM115 - the splitter reads it to the end
            SplitOutputs(train, validation, images),
            options,
            tmp_dir=str(out_dir),
        )
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "train": result.train_count,
        "validation": result.validation_count,
        "buckets": result.buckets,
        "peak_rss_mb": _peak_rss_mb(),
    }


def child_naive(manifest: Path, out_dir: Path) -> dict[str, Any]:
    """Baseline: everything in memory (what a straightforward Lambda would do)."""
    start = time.perf_counter()
    with open(manifest, "rb") as handle:
        lines = [line.rstrip(b"\r\n") for line in handle if line.strip()]
    by_class: dict[int, list[bytes]] = {}
    for line in lines:
        by_class.setdefault(json.loads(line)[ATTRIBUTE], []).append(line)
    rng = random.Random(SEED)
    train: list[bytes] = []
    validation: list[bytes] = []
    for label in sorted(by_class):
        members = by_class[label]
        rng.shuffle(members)
        n = len(members)
        v = 0 if n < 2 else min(max(round(n * RATIO), 1), n - 1)
        validation += members[:v]
        train += members[v:]
    rng.shuffle(train)
    rng.shuffle(validation)
    with open(out_dir / "train.manifest", "wb") as out:
        out.write(b"\n".join(train) + b"\n")
    with open(out_dir / "validation.manifest", "wb") as out:
        out.write(b"\n".join(validation) + b"\n")
    refs = [json.loads(line)["source-ref"] for line in validation]
    prefix = "s3://gtpipe-data-bucket/images/"
    with open(out_dir / "validation-images.manifest", "w", encoding="utf-8") as out:
        json.dump([{"prefix": prefix}, *[ref[len(prefix) :] for ref in refs]], out)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "train": len(train),
        "validation": len(validation),
        "buckets": 0,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _run_child(mode: str, manifest: Path, out_dir: Path) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        [sys.executable, "-m", "bench.split_bench", "--child", mode, str(manifest), str(out_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{mode} split failed:\n{completed.stderr[-4000:]}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def _table(rows: dict[str, dict[str, Any]], lines: int, size: int) -> str:
    header = f"{'splitter':<10} {'lines':>10} {'seconds':>9} {'lines/s':>10} {'peak RSS MB':>12} {'train':>9} {'valid':>8}"
    out = [f"manifest: {lines:,} lines, {size / 1e6:,.1f} MB", header, "-" * len(header)]
    for name, row in rows.items():
        out.append(
            f"{name:<10} {lines:>10,} {row['seconds']:>9.1f} {row['lines_per_second']:>10,.0f} "
            f"{row['peak_rss_mb']:>12.0f} {row['train']:>9,} {row['validation']:>8,}"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Generate, split both ways, print a table and return the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=None, help="where to write (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "MANIFEST", "OUT"), help=argparse.SUPPRESS)
    # Called as main() by `python -m bench`: use the defaults, not that runner's command line.
    args = parser.parse_args(argv if argv is not None else [])
    if args.child:
        mode, manifest, out = args.child
        runner = child_streaming if mode == "streaming" else child_naive
        figures = runner(Path(manifest), Path(out))
        print(json.dumps(figures))
        return figures

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="gtpipe-split-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        manifest = workdir / "bench.manifest"
        start = time.perf_counter()
        size = generate(manifest, args.lines)
        generated_in = time.perf_counter() - start
        rows: dict[str, dict[str, Any]] = {}
        for mode in ("streaming", "naive"):
            row = _run_child(mode, manifest, workdir / mode)
            row["lines_per_second"] = args.lines / row["seconds"] if row["seconds"] else 0.0
            rows[mode] = row
            shutil.rmtree(workdir / mode, ignore_errors=True)
        if (rows["streaming"]["train"], rows["streaming"]["validation"]) != (
            rows["naive"]["train"],
            rows["naive"]["validation"],
        ):
            print("warning: the two splitters disagree on set sizes", file=sys.stderr)
        print(_table(rows, args.lines, size))
        streaming, naive = rows["streaming"], rows["naive"]
        # Flat figures: `python -m bench` prints them as one "figure | value" table.
        return {
            "lines": args.lines,
            "manifest MB": round(size / 1e6, 1),
            "generate seconds": round(generated_in, 1),
            "streaming seconds": round(streaming["seconds"], 1),
            "streaming lines/s": round(streaming["lines_per_second"]),
            "streaming peak RSS MB": round(streaming["peak_rss_mb"]),
            "streaming buckets": streaming["buckets"],
            "naive seconds": round(naive["seconds"], 1),
            "naive lines/s": round(naive["lines_per_second"]),
            "naive peak RSS MB": round(naive["peak_rss_mb"]),
            "peak RSS naive / streaming": round(naive["peak_rss_mb"] / streaming["peak_rss_mb"], 1),
            "train lines": streaming["train"],
            "validation lines": streaming["validation"],
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
        }
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
