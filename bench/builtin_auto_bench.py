"""Benchmark: automated labeling and model reuse on the builtin labeling service, on the local cloud.

    .venv/bin/python -m bench builtin-auto          (or python -m bench.builtin_auto_bench [--objects 300])
    .venv/bin/python -m bench builtin-auto-boxes    (the same on box scenes: --task object-detection)

The whole pipeline runs (S3 drop -> start_run -> state machine -> the builtin loop with the simulated crowd
answering through the HTTPS labeling API -> labeling-model training jobs and batch transforms -> training ->
endpoint), the seed's three-job experiment on digits:

- cloud 1 (``autoLabeling`` + ``reuseModel``): run A labels dataset 1 (nothing to reuse yet: automated
  labeling from scratch), then run B labels dataset 2 starting from A's final model (reuse);
- cloud 2 (``autoLabeling`` only): run C labels dataset 2 from scratch (the control of B).

Human answers are the crowd's answers through the API; "without automated labeling" is ``objects x
workersPerObject``, exactly what the builtin service asks without it (asserted by the builtin end-to-end
test), and its accuracy is that of the crowd's consolidated labels in run A (the same crowd labels every
object without automated labeling). Label accuracy is against the digits' truth. The targets (>= 50% fewer
answers with automated labeling at >= 0.95 accuracy; >= 60% fewer with reuse than the control) are
reported as met or not.

With ``--task object-detection`` the datasets are the demo's box scenes (``training.scenes``) and an image's
label is right when every true box is matched one-to-one by a label box of its class at IoU >= 0.5 and no
label box is left over (:func:`gtpipe_shared.model_labels.boxes_agree`); box recall is reported beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import ROOT, print_figures

WORKERS = 1
ERROR_RATE = 0.03
LABELERS = 3
RUN_TIMEOUT = 3600.0
# The labeling model's epochs on box scenes: one batch of 100 scenes needs about as many optimiser steps
# as the demo's 500 scenes x 24 epochs to score true boxes well above the rest (training/README.md).
BOX_EPOCHS = 96
# The labeling model's epochs on digits (the demo's 10 are for its 1,400 training digits); 40 epochs, or 40 with
# weight decay 5e-4, measured no better on 200 digits (python -m bench labeling-model: 0.912 and 0.917 vs 0.916).
DIGITS_EPOCHS = 20
# The labeling model's hyperparameters on digits (autoLabelingHyperparameters): more, smaller steps for a batch
# of 100 (python -m bench labeling-model --train 100: 0.825 right vs 0.806 at the demo's batch 32 and rate 0.05;
# the builtin-auto runs: BENCHMARKS.md, session 14).
DIGITS_LABELING_HYPERPARAMETERS = "mini_batch_size=8,learning_rate=0.02"
# Two disjoint datasets of 850: the most scikit-learn's 1,797 digits hold (Ground Truth allows automated
# labeling from 1,250 objects and suggests 5,000: the first batch's share of a small manifest caps the saving).
DIGITS_OBJECTS = 850
# The loop on digits: batches of 100 and 3 model rounds (Ground Truth's way: small batches, the least
# confident to people between rounds). Measured against batch 200 and one round (BENCHMARKS.md,
# builtin-auto, session 13): steadier answers; reuse >= 60% in 5 of 6 runs (4 of 6), from scratch >= 50% at
# >= 0.95 in 8 of 12 (7 of 12).
DIGITS_BATCH = 100
DIGITS_ROUNDS = 3


@dataclass(frozen=True)
class Run:
    """One run: the crowd's answers, the ledger's counters, the output labels' accuracy and the human
    labels' accuracy, the labeling models' cost, the run's seconds and the validation objects its rounds
    added when no threshold was reached (widening)."""

    status: str
    answers: int
    counters: dict[str, Any]
    accuracy: float
    human_accuracy: float
    model_usd: Any
    seconds: float
    validation_added: int = 0


@dataclass(frozen=True)
class LoopSettings:
    """The runs' automated-labeling settings (``gtpipe:labeling``) besides ``reuseModel``."""

    objects: int
    batch: int
    validation: int
    rounds: int
    epochs: int
    workers: int = WORKERS
    # The runs' hyperparameters over the demo's (gtpipe:hyperparameters): the labeling model trains with them.
    hyperparameters: tuple[tuple[str, str], ...] = ()
    # The labeling model's own over those (autoLabelingHyperparameters).
    labeling_hyperparameters: tuple[tuple[str, str], ...] = ()
    # Box scenes' classes (none: all four shapes; the seed's three-job experiment has one class).
    classes: tuple[str, ...] = ()


def _context(task: str, loop: LoopSettings, reuse: bool) -> dict[str, Any]:
    from local.drivers.demo import demo_context

    context = demo_context(epochs=2, task=task, labeling="builtin")
    if loop.classes:
        context["gtpipe:labelCategories"] = list(loop.classes)
    return {
        **context,
        "gtpipe:hyperparameters": {**context["gtpipe:hyperparameters"], **dict(loop.hyperparameters)},
        "gtpipe:qualityThreshold": 0.0,
        "gtpipe:labeling": {
            "workersPerObject": loop.workers,
            "taskTimeLimitSeconds": 60,
            "autoLabeling": True,
            "reuseModel": reuse,
            "autoLabelingBatchSize": loop.batch,
            "autoLabelingValidationSize": loop.validation,
            "autoLabelingMaxRounds": loop.rounds,
            "autoLabelingEpochs": loop.epochs,
            **(
                {"autoLabelingHyperparameters": dict(loop.labeling_hyperparameters)}
                if loop.labeling_hyperparameters
                else {}
            ),
        },
    }


def _dump(cloud: Any, bucket: str, run_id: str, images: Sequence[Any], into: Path) -> None:
    """Write the loop's first model round for analysis: per object the model's class and confidence, the
    truth and, for the validation sample, the human label (``<into>/<run_id>.json``)."""
    from botocore.exceptions import ClientError
    from gtpipe_shared.metrics import output_uri_for
    from gtpipe_shared.model_labels import classification_prediction
    from gtpipe_shared.s3uri import parse_s3_uri

    s3 = cloud.client("s3")
    key = f"labeling/auto/{run_id}/state.json"
    state = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    truth = {image.source_ref: image.truth for image in images}
    names = state["class_names"]
    attribute = state["label_attribute"]
    base = f"s3://{bucket}/labeling/auto/{run_id}/round-{state['rounds'][0]['round']}/predictions/"
    validation = set(state["validation"])
    rows = []
    for index, ref in enumerate(state["refs"]):
        bucket_, key_ = parse_s3_uri(output_uri_for(ref, state["transform_prefix"], base))
        try:
            answer = json.loads(s3.get_object(Bucket=bucket_, Key=key_)["Body"].read())
        except ClientError:  # a training object: never predicted
            continue
        prediction = classification_prediction(answer, len(names))
        human = state["human"].get(str(index), {}).get(attribute)
        rows.append(
            {
                "index": index,
                "validation": index in validation,
                "predicted": names[prediction.value],
                "confidence": prediction.confidence,
                "truth": truth[ref],
                "human": names[human] if isinstance(human, int) else None,
                "answers": len(state.get("answers", {}).get(str(index), [])) or int(human is not None),
            }
        )
    into.mkdir(parents=True, exist_ok=True)
    (into / f"{run_id}.json").write_text(json.dumps({"rounds": state["rounds"], "objects": rows}))


def _run(
    cloud: Any, bucket: str, name: str, images: Sequence[Any], tmp: Path, dump: Path | None = None
) -> Run:
    from local.drivers.demo_tasks import write_input_manifest
    from tests.local_cloud.conftest import follow_dropped

    before = cloud.crowd.answers
    manifest = write_input_manifest(tmp / f"{name}.manifest", images)
    key = f"incoming/{name}.manifest"
    started = time.monotonic()
    put = cloud.client("s3").put_object(Bucket=bucket, Key=key, Body=manifest.read_bytes())
    progress = follow_dropped(cloud, key, put.get("VersionId"), timeout=RUN_TIMEOUT)
    seconds = time.monotonic() - started
    cloud.wait_idle(30)
    run = progress.run or {}
    truth = {image.source_ref: image.truth for image in images}
    lines: list[dict[str, Any]] = []
    added = 0
    if progress.run_id:
        output_key = f"labeling/{progress.run_id}-auto/manifests/output/output.manifest"
        rounds_key = f"labeling/{progress.run_id}-auto/auto-labeling.json"
        try:
            body = cloud.client("s3").get_object(Bucket=bucket, Key=output_key)["Body"].read()
            lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        except Exception:  # a failed run has no output: reported as such
            lines = []
        try:
            rounds = json.loads(cloud.client("s3").get_object(Bucket=bucket, Key=rounds_key)["Body"].read())
            added = sum(int(r.get("validation_added", 0)) for r in rounds["rounds"])
        except Exception:  # nor its rounds: none added
            added = 0
    if dump is not None and progress.run_id:
        _dump(cloud, bucket, progress.run_id, images, dump)
    right = [_right(line, truth[line["source-ref"]]) for line in lines]
    human = [ok for ok, line in zip(right, lines, strict=True) if _metadata(line)["human-annotated"] == "yes"]
    return Run(
        status=progress.run_status or "unknown",
        answers=cloud.crowd.answers - before,
        counters=dict(run.get("label_counters") or {}),
        accuracy=round(sum(right) / len(images), 3),
        human_accuracy=round(sum(human) / len(human), 3) if human else 0.0,
        model_usd=(run.get("labeling_cost") or {}).get("model_usd"),
        seconds=round(seconds, 1),
        validation_added=added,
    )


def _metadata(line: dict[str, Any]) -> dict[str, Any]:
    """The label's metadata (``<attribute>-metadata``)."""
    return next(value for key, value in line.items() if key.endswith("-metadata"))


def _right(line: dict[str, Any], truth: Any) -> bool:
    """Whether an output line's label is the truth: the class name (digits), or every box (scenes)."""
    from gtpipe_shared.auto_labeling import Prediction
    from gtpipe_shared.consolidation import Box
    from gtpipe_shared.model_labels import boxes_agree, label_boxes

    attribute = next(key.removesuffix("-metadata") for key in line if key.endswith("-metadata"))
    if not isinstance(line[attribute], dict):
        return bool(_metadata(line)["class-name"] == truth)
    labeled = tuple((box, 1.0) for box in label_boxes(line[attribute]))
    true_boxes = [Box(o.class_id, o.left, o.top, o.width, o.height) for o in truth.objects]
    return boxes_agree(Prediction(labeled, 1.0), true_boxes)


def _cloud(workdir: Path, context: dict[str, Any], cache: str, seed: int) -> Any:
    from local.cloud import CloudSettings, LocalCloud
    from local.synth import synthesize

    assembly = synthesize(ROOT / ".local" / cache, context)
    cloud = LocalCloud(
        CloudSettings(
            state_dir=workdir,
            simulated_labelers=LABELERS,
            labeling_error_rate=ERROR_RATE,
            labeling_seed=seed,
            s3_version_seed=seed,
        )
    )
    return cloud, assembly


def _experiment(
    name: str, loop: LoopSettings, workdir: Path, seed: int = 0, dump: Path | None = None
) -> tuple[Run, Run, Run]:
    from local.drivers.demo import upload_dataset
    from local.drivers.demo_tasks import TASKS, DetectionDemo, rebucket, write_reference_answers

    task = DetectionDemo(loop.classes) if loop.classes else TASKS[name]
    prefix = (
        "digits" if name == "image-classification" else "scenes"
    )  # run names; bench.threshold_sim reads digits-b-*
    results: list[Run] = []
    for reuse in (True, False):
        context = _context(name, loop, reuse)
        cloud, assembly = _cloud(workdir / f"cloud-{reuse}", context, f"cdk.out-bench-auto-{reuse}", seed)
        with cloud:
            cloud.deploy(assembly)
            bucket = str(cloud.outputs["DataBucketName"])
            drawn = task.draw(workdir / f"data-{reuse}", images=2 * loop.objects, holdout=0.0, bucket=bucket)
            named = rebucket(drawn, bucket, task.image_prefix)
            upload_dataset(cloud, bucket, named)
            write_reference_answers(
                cloud.settings.reference_labels_path, [image.reference for image in named]
            )
            into = dump / ("reuse" if reuse else "control") if dump else None
            if reuse:
                results.append(_run(cloud, bucket, f"{prefix}-a", named[: loop.objects], workdir, into))
            results.append(_run(cloud, bucket, f"{prefix}-b", named[loop.objects :], workdir, into))
    first, reused, control = results
    return first, reused, control


def _saving(answers: int, baseline: int) -> float:
    return round(1 - answers / baseline, 3) if baseline else 0.0


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line's options (unknown ones ignored: ``python -m bench`` passes its own)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--objects",
        type=int,
        default=0,
        help=f"objects per dataset (two datasets; 0: {DIGITS_OBJECTS}, boxes 300)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=0,
        help=f"autoLabelingBatchSize (0: {DIGITS_BATCH} digits, objects / 3 scenes)",
    )
    parser.add_argument(
        "--rounds", type=int, default=0, help=f"autoLabelingMaxRounds (0: {DIGITS_ROUNDS} digits, 1 scenes)"
    )
    parser.add_argument("--validation", type=int, default=40, help="autoLabelingValidationSize")
    parser.add_argument(
        "--seed", type=int, default=0, help="seeds the run ids (so the random samples) and the crowd's errors"
    )
    parser.add_argument(
        "--dump", type=Path, help="write each run's first model round here (analysis, classification)"
    )
    parser.add_argument(
        "--task", default="image-classification", choices=("image-classification", "object-detection")
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=0,
        help=f"autoLabelingEpochs (0: {DIGITS_EPOCHS} digits, {BOX_EPOCHS} scenes)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=WORKERS,
        help="workersPerObject (1; boxes: one simulated person's boxes are right on about 84%% of images)",
    )
    parser.add_argument(
        "--labeling-hyperparameters",
        default=None,
        help=f"autoLabelingHyperparameters, NAME=VALUE,... ('' for none; digits: {DIGITS_LABELING_HYPERPARAMETERS})",
    )
    parser.add_argument(
        "--hyperparameters",
        default="",
        help="the runs' hyperparameters over the demo's, NAME=VALUE,... (the labeling model trains with them)",
    )
    parser.add_argument(
        "--classes",
        default="",
        help="box scenes' classes, NAME,... of circle, square, triangle, star (default: all four; the seed: one)",
    )
    args, _ = parser.parse_known_args(argv)
    return args


def comma_names(text: str) -> tuple[str, ...]:
    """``NAME,...`` as names, blanks dropped."""
    return tuple(filter(None, (name.strip() for name in text.split(","))))


def name_value_pairs(text: str, option: str) -> tuple[tuple[str, str], ...]:
    """``NAME=VALUE,...`` as pairs; SystemExit naming ``option`` and a part without ``=``."""
    pairs = []
    for part in filter(None, (item.strip() for item in text.split(","))):
        name, equals, value = part.partition("=")
        if not equals or not name:
            raise SystemExit(f"{option}: {part!r} is not NAME=VALUE")
        pairs.append((name.strip(), value.strip()))
    return tuple(pairs)


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    """Measure and return the figures."""
    args = _arguments(argv)
    digits = args.task == "image-classification"
    if digits and args.classes:
        raise SystemExit("--classes is for box scenes (--task object-detection)")
    objects = args.objects or (DIGITS_OBJECTS if digits else 300)
    batch = args.batch or (DIGITS_BATCH if digits else max(20, objects // 3))
    rounds = args.rounds or (DIGITS_ROUNDS if digits else 1)
    epochs = args.epochs or (DIGITS_EPOCHS if digits else BOX_EPOCHS)
    labeling = args.labeling_hyperparameters
    if labeling is None:
        labeling = DIGITS_LABELING_HYPERPARAMETERS if digits else ""
    loop = LoopSettings(
        objects,
        batch,
        args.validation,
        rounds,
        epochs,
        args.workers,
        name_value_pairs(args.hyperparameters, "--hyperparameters"),
        name_value_pairs(labeling, "--labeling-hyperparameters"),
        comma_names(args.classes),
    )
    with tempfile.TemporaryDirectory(prefix="gtpipe-bench-auto-") as work:
        first, reused, control = _experiment(args.task, loop, Path(work), args.seed, args.dump)
    without = objects * args.workers
    auto_saving = _saving(first.answers, without)
    reuse_saving = _saving(reused.answers, control.answers)
    figures: dict[str, object] = {
        "objects per run": f"{objects} ("
        + ("digits, 10 classes" if digits else f"box scenes: {', '.join(loop.classes) or 'all 4 classes'}")
        + ")",
        "seed (run ids, crowd)": args.seed,
        "crowd": f"{LABELERS} simulated labelers, {args.workers} answer(s) per object, erring {ERROR_RATE:.0%}",
        "loop": f"batch {batch}, validation {args.validation}, {rounds} model round(s), {epochs} epochs"
        + "".join(f", {name} {value}" for name, value in loop.hyperparameters)
        + "".join(f", labeling model {name} {value}" for name, value in loop.labeling_hyperparameters),
        "human answers without automated labeling (objects x workers)": without,
        "label accuracy without automated labeling (the crowd's, run A's human labels)": first.human_accuracy,
        "human answers with automated labeling (run A)": first.answers,
        "label accuracy with automated labeling (run A)": first.accuracy,
        "run A counters": first.counters,
        "run A labeling models USD": first.model_usd,
        "fewer human answers with automated labeling": f"{auto_saving:.1%}",
        "target >= 50% fewer at >= 0.95 accuracy": (
            "met" if auto_saving >= 0.5 and first.accuracy >= 0.95 else "not met"
        ),
        "human answers, control (run C: dataset 2, no earlier model)": control.answers,
        "label accuracy, control": control.accuracy,
        "human answers, reuse (run B: dataset 2 from run A's model)": reused.answers,
        "label accuracy, reuse": reused.accuracy,
        "fewer human answers with reuse than the control": f"{reuse_saving:.1%}",
        "target >= 60% fewer with reuse": "met" if reuse_saving >= 0.6 else "not met",
        "run statuses (A, B, C)": f"{first.status}, {reused.status}, {control.status}",
        "run seconds (A, B, C)": f"{first.seconds}, {reused.seconds}, {control.seconds}",
        "validation objects added when no threshold was reached (A, B, C)": (
            f"{first.validation_added}, {reused.validation_added}, {control.validation_added}"
        ),
    }
    return figures


def boxes(argv: Sequence[str] | None = None) -> dict[str, object]:
    """``builtin-auto-boxes``: the same experiment on box scenes (the command line's other options hold)."""
    return main([*(sys.argv[1:] if argv is None else argv), "--task", "object-detection"])


if __name__ == "__main__":
    print_figures(main())
