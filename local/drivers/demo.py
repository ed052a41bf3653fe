"""``python -m local.demo --task image-classification|object-detection --labeling builtin|ui|ground-truth``
(``make demo [TASK=...] [LABELING=...]``): the whole pipeline on a laptop.

Labeling (``--labeling``, :data:`LABELING_MODES`):

- ``ground-truth`` (default): the emulated SageMaker Ground Truth labeling job and its simulated workforce;
- ``builtin``: the builtin labeling service (``gtpipe:labelingBackend: builtin``) labels with the
  local cloud's simulated crowd, which signs in through Cognito and answers over the same HTTPS task API the
  web app uses (:mod:`local.labeling_crowd`);
- ``ui``: the builtin service without the simulated crowd: the demo prints the labeling app's URL and a
  user's credentials and waits (``--timeout``, default 4 hours) for people to label in a browser.

``builtin`` takes longer than ``ground-truth``: each of its 2,400 answers goes the whole way a person's does
(HTTPS, API Gateway and Cognito, the labeling API Lambda, several DynamoDB requests to moto). moto's own
DynamoDB sorted the whole table for every query, which made the crowd answer about 3 tasks a second and the
labeling take about 12 minutes on 2 cores; with the local cloud's partition queries and one-pass item
serialization (:mod:`local.moto_dynamodb_speed`) the demo process spends about a fifth of the CPU per
answer (BENCHMARKS.md, ``crowd-speed``). After the predictions the demo prints the run's label counters and
the answers saved (:mod:`local.drivers.demo_labels`).

1. synthesizes the CDK app with a local-sized configuration for the task (:mod:`local.drivers.demo_tasks`:
   digits and ``training.contracts.DEMO_HYPERPARAMETERS``, or synthetic scenes and
   ``DETECTION_DEMO_HYPERPARAMETERS``) while the local cloud starts and the demo data set is drawn
   (PNGs, a held-out test subset);
2. deploys both stacks into the local cloud, uploads the images to ``images/``, writes the simulated
   workforce's reference labels and drops ``incoming/demo.manifest`` -- an *input* manifest, so the run
   starts with a labeling job;
3. follows the run (state from the execution history, SageMaker job status from the runs ledger);
4. sends the held-out images to ``POST <ApiUrl>/predict`` over HTTPS (TLS verified against the local CA),
   prints predictions, accuracy (or mAP@0.5), per-step durations, how to try it by hand and where the
   run's report is.

Exit status 0 only when the run succeeded and predictions came back.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TextIO

from gtpipe_shared.ledger import SERVING_RUN_ID

from gtpipe_cli.local_answers import unanswered_notes
from gtpipe_cli.report import download_report
from local.cloud import CloudSettings, LocalCloud
from local.drivers.client import PredictionApi
from local.drivers.demo_labels import configured_workers_per_object, label_lines
from local.drivers.demo_tasks import (
    TASKS,
    ClassificationDemo,
    DemoImage,
    DemoTask,
    DetectionDemo,
    rebucket,
    write_input_manifest,
    write_reference_answers,
)
from local.drivers.runs import (
    RunProgress,
    execution_history,
    follow_run,
    parse_time,
    state_durations,
    step_durations,
)
from local.synth import project_context, synthesize

SUPPORTED_TASKS = tuple(TASKS)
MANIFEST_KEY = "incoming/demo.manifest"
DEMO_ASSEMBLY = "cdk.out-demo"
"""Where (under the state directory) the demo's assembly is synthesized and reused (one per task)."""
DEFAULT_IMAGES = {ClassificationDemo.name: 1000, DetectionDemo.name: 800}
"""Images drawn per task when ``--images`` is not given (sized for a 2-core laptop)."""
LABELING_MODES = ("builtin", "ui", "ground-truth")
DEFAULT_LABELING = "ground-truth"
DEFAULT_TIMEOUT = {"builtin": 1800.0, "ui": 4 * 3600.0, "ground-truth": 900.0}
"""Seconds the demo waits for the run by default (people labeling in ``ui`` mode take a while)."""


def demo_context(
    epochs: int | None = None, task: str = ClassificationDemo.name, labeling: str = "ground-truth"
) -> dict[str, Any]:
    """Synthesis context for the local demo of ``task`` labeled by ``labeling`` (one of
    :data:`LABELING_MODES`), merged over ``cdk.json``'s."""
    if labeling not in LABELING_MODES:
        raise ValueError(f"labeling {labeling!r} is not one of {', '.join(LABELING_MODES)}")
    backend = "ground-truth" if labeling == "ground-truth" else "builtin"
    return {**TASKS[task].context(epochs), "gtpipe:labelingBackend": backend}


def labeling_lines(outputs: dict[str, Any], labeling: str, labelers: int) -> list[str]:
    """What the demo says about who labels (and, for people, where and as whom)."""
    if labeling == "ground-truth":
        return ["labeling: emulated Ground Truth job, simulated workforce"]
    if "LabelingUrl" not in outputs:
        return [
            "labeling: the deployment has no labeling API (was the app synthesized with builtin labeling?)"
        ]
    lines = [
        f"labeling app: {outputs['LabelingUrl']}",
        f"  sign in as {outputs['LabelingUsername']} / {outputs['LabelingPassword']}",
        f"  (the certificate is the local CA's, {outputs['CaCertPath']}: accept the browser's warning once)",
    ]
    if labeling == "builtin":
        lines.insert(0, f"labeling: builtin service, {labelers} simulated labelers through the task API")
    else:
        lines.insert(0, "labeling: builtin service, waiting for people to label in the browser")
    return lines


class Display:
    """Progress output: one rewritten line on a terminal, a new line per change otherwise."""

    def __init__(self, stream: TextIO = sys.stdout) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._last = ""

    def progress(self, progress: RunProgress) -> None:
        """Show one snapshot."""
        line = progress.line()
        if self.tty:
            self.stream.write("\r\033[K" + line)
            self.stream.flush()
            return
        key = line.split("]", 1)[-1]
        if key != self._last:
            self.stream.write(line + "\n")
            self.stream.flush()
            self._last = key

    def done(self) -> None:
        """End the progress line."""
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def say(self, text: str) -> None:
        """A plain message."""
        self.stream.write(text + "\n")
        self.stream.flush()


class StoredImage(Protocol):
    """An image written locally and the S3 URI it is uploaded to."""

    @property
    def path(self) -> Path: ...

    @property
    def source_ref(self) -> str: ...


def upload_dataset(cloud: LocalCloud, bucket: str, images: Sequence[StoredImage]) -> None:
    """Upload the images to their ``source_ref`` keys in ``bucket`` (parallel PUTs)."""
    s3 = cloud.client("s3")

    def put(image: StoredImage) -> None:
        key = image.source_ref.split("/", 3)[3]
        s3.put_object(Bucket=bucket, Key=key, Body=image.path.read_bytes(), ContentType="image/png")

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(put, images))


def predict_holdout(
    api: PredictionApi, images: list[DemoImage], query: dict[str, str] | None = None
) -> tuple[list[tuple[DemoImage, int, Any]], float | None]:
    """Send every held-out image: ``(image, HTTP status, JSON answer)`` in order, and the monotonic time
    the first successful answer arrived."""
    first: list[float] = []
    lock = threading.Lock()

    def call(image: DemoImage) -> tuple[DemoImage, int, Any]:
        response = api.predict(image.path.read_bytes(), "image/png", query=query)
        if response.status == 200:
            with lock:
                first.append(time.monotonic())
        try:
            answer = response.json()
        except ValueError:
            answer = response.body[:200].decode("utf-8", "replace")
        return image, response.status, answer

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(call, images))
    return results, (min(first) if first else None)


def how_to(outputs: dict[str, Any], run_id: str | None, sample: Path | None) -> str:
    """Commands to try the deployment by hand."""
    env = (
        f"export AWS_ENDPOINT_URL={outputs['AwsEndpointUrl']} AWS_DEFAULT_REGION={outputs['Region']} "
        f"AWS_ACCESS_KEY_ID={outputs['AccessKeyId']} AWS_SECRET_ACCESS_KEY={outputs['SecretAccessKey']}"
    )
    image = sample or "image.png"
    if outputs.get("ApiKey"):
        curl = (
            f"curl --cacert {outputs['CaCertPath']} -H 'x-api-key: {outputs['ApiKey']}' "
            f"-H 'Content-Type: image/png' --data-binary @{image} {outputs['ApiUrl']}/predict"
        )
    else:
        curl = (
            f"curl --cacert {outputs['CaCertPath']} --aws-sigv4 'aws:amz:{outputs['Region']}:execute-api' "
            f"--user \"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\" -H 'Content-Type: image/png' "
            f"--data-binary @{image} {outputs['ApiUrl']}/predict"
        )
    lines = [
        env,
        f"aws s3 ls s3://{outputs['DataBucketName']}/",
        f"aws stepfunctions list-executions --state-machine-arn {outputs['StateMachineArn']}",
        f"aws dynamodb get-item --table-name {outputs['RunsTableName']} --key "
        f'\'{{"run_id": {{"S": "{run_id or SERVING_RUN_ID}"}}}}\'',
        f"aws s3 cp my.manifest s3://{outputs['DataBucketName']}/{outputs['IncomingPrefix']}my.manifest",
        curl,
    ]
    return "\n".join("  " + line for line in lines)


def by_hand_header(keep_running: bool) -> str:
    """What precedes the by-hand commands: they work only while this cloud runs."""
    if keep_running:
        return "try it by hand (the cloud keeps running until Ctrl-C):"
    return (
        "try it by hand: this cloud stops when the demo ends (next), so these values are gone then; keep it "
        "running with `make demo KEEP=1` (--keep-running), or start one with `make local-up` (it prints "
        "its own values; `gtpipe --local ...` finds them)"
    )


def report_lines(
    cloud: LocalCloud, bucket: str, run_id: str | None, state_dir: Path, keep_running: bool
) -> list[str]:
    """Download the run's report (the local cloud's state goes when it stops) and say where it is."""
    if not run_id:
        return []
    local = download_report(cloud.client("s3"), bucket, run_id, state_dir / "reports" / run_id)
    if local is None or local.index is None:
        return [f"report: none written for run {run_id}"]
    index = local.index.resolve()
    lines = [
        f"report: {local.uri}index.html",
        f"        copied to {index}",
        f"open it: python -m webbrowser {index.as_uri()}",
    ]
    if keep_running:
        lines.append(
            f"or, while the cloud runs: gtpipe report {run_id} --local --state-dir {state_dir} --open"
        )
    return lines


def run_demo(
    args: argparse.Namespace, display: Display, cloud_settings: Mapping[str, Any] | None = None
) -> int:
    """The demo (see module docstring); returns the exit status. ``cloud_settings``: :class:`CloudSettings`
    fields to change (the benchmarks measure the local cloud with and without a speed-up)."""
    started = time.monotonic()
    task: DemoTask = TASKS[args.task]
    state_dir = Path(args.state_dir).resolve()
    data_dir = state_dir / "demo-data" / task.name
    assembly = _start_synthesis(args, task, state_dir, display)
    settings = CloudSettings(state_dir=state_dir, **dict(cloud_settings or {}))
    if args.labeling == "ui":
        settings.simulated_labelers = 0
    timeout = args.timeout if args.timeout is not None else DEFAULT_TIMEOUT[args.labeling]
    with LocalCloud(settings) as cloud:
        display.say(f"local cloud started at {cloud.endpoint_url}")
        # The bucket name is only known after deployment: draw the images now, name them later.
        images = args.images or DEFAULT_IMAGES[task.name]
        drawn = task.draw(data_dir, images=images, holdout=args.holdout, bucket="bucket")
        assembly_path = assembly()
        if assembly_path is None:
            return 1
        cloud.deploy(assembly_path)
        if cloud.runtime is not None:
            cloud.runtime.prewarm()  # cold starts off the critical path
        outputs = cloud.outputs
        cloud.write_outputs()
        bucket = str(outputs["DataBucketName"])
        display.say(
            f"deployed {', '.join(cloud.deployment.stacks) if cloud.deployment else ''} "
            f"({time.monotonic() - started:.0f}s); data bucket {bucket}"
        )
        holdout, version_id = _drop_dataset(cloud, settings, task, drawn, data_dir, display, started)
        for line in labeling_lines(outputs, args.labeling, settings.simulated_labelers):
            display.say(line)
        progress = follow_run(
            cloud.client("dynamodb"),
            cloud.client("stepfunctions"),
            str(outputs["RunsTableName"]),
            MANIFEST_KEY,
            version_id,
            timeout=timeout,
            on_progress=display.progress,
            started=started,
            notes=lambda run_id: unanswered_notes(settings.reference_labels_path, run_id),
        )
        display.done()
        display.say(f"run {progress.run_id}: {progress.run_status} (execution {progress.execution_status})")
        if progress.run_status != "SUCCEEDED":
            _say_failure(display, cloud, progress, timeout, state_dir, args.keep_running)
            return 1
        ok = _say_success(display, cloud, task, progress, holdout, started, state_dir, args.keep_running)
        if args.keep_running:
            display.say("\nthe local cloud keeps running; Ctrl-C stops it")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                display.say("stopping")
        return 0 if ok else 1


def _start_synthesis(
    args: argparse.Namespace, task: DemoTask, state_dir: Path, display: Display
) -> Callable[[], Path | None]:
    """Synthesize in the background (unless ``--cdk-out`` names an assembly) while the cloud starts; the
    returned call waits and gives the assembly, or None after saying why synthesis failed."""
    if args.cdk_out is not None:
        return lambda: Path(args.cdk_out)
    synth_result: dict[str, Any] = {}

    def synth() -> None:
        try:
            synth_result["path"] = synthesize(
                # ui and builtin deploy the same app (only the local crowd differs): one assembly.
                state_dir
                / f"{DEMO_ASSEMBLY}-{task.name}-{'ground-truth' if args.labeling == 'ground-truth' else 'builtin'}",
                demo_context(args.epochs, task.name, args.labeling),
            )
        except Exception as error:
            synth_result["error"] = error

    synth_thread = threading.Thread(target=synth, name="synth", daemon=True)
    synth_thread.start()
    display.say(f"synthesizing the CDK app (cdk synth, task {task.name}) for the local cloud ...")

    def assembly() -> Path | None:
        synth_thread.join()
        if "error" in synth_result:
            display.say(f"synthesis failed: {synth_result['error']}")
            return None
        return Path(synth_result["path"])

    return assembly


def _drop_dataset(
    cloud: LocalCloud,
    settings: CloudSettings,
    task: DemoTask,
    drawn: list[DemoImage],
    data_dir: Path,
    display: Display,
    started: float,
) -> tuple[list[DemoImage], str | None]:
    """Upload the images, write the reference answers and drop the input manifest; the held-out images
    and the manifest's S3 version id."""
    bucket = str(cloud.outputs["DataBucketName"])
    named = rebucket(drawn, bucket, task.image_prefix)
    labeled = [image for image in named if not image.holdout]
    holdout = [image for image in named if image.holdout]
    upload_dataset(cloud, bucket, named)
    write_reference_answers(settings.reference_labels_path, [image.reference for image in labeled])
    manifest = write_input_manifest(data_dir / "demo.manifest", labeled)
    put = cloud.client("s3").put_object(Bucket=bucket, Key=MANIFEST_KEY, Body=manifest.read_bytes())
    display.say(
        f"uploaded {len(named)} images; dropped s3://{bucket}/{MANIFEST_KEY} "
        f"({len(labeled)} images to label, {len(holdout)} held out) at {time.monotonic() - started:.0f}s"
    )
    return holdout, put.get("VersionId")


def _say_failure(
    display: Display,
    cloud: LocalCloud,
    progress: RunProgress,
    timeout: float,
    state_dir: Path,
    keep_running: bool,
) -> None:
    """Why the run did not succeed, where the logs are, and its report."""
    outputs = cloud.outputs
    failure = (progress.run or {}).get("failure") or {}
    if progress.execution_status == "RUNNING":
        display.say(f"  not finished within {timeout:.0f}s (--timeout; --keep-running keeps the cloud up)")
    elif failure:
        display.say(f"  failed at {failure.get('step')}: {failure.get('error')}: {failure.get('cause')}")
    else:
        display.say(f"  the run ended {progress.run_status}: see the report for why")
    display.say(f"  logs: {outputs['LogDir']}")
    bucket = str(outputs["DataBucketName"])
    for line in report_lines(cloud, bucket, progress.run_id, state_dir, keep_running):
        display.say(f"  {line}")


def _say_success(
    display: Display,
    cloud: LocalCloud,
    task: DemoTask,
    progress: RunProgress,
    holdout: list[DemoImage],
    started: float,
    state_dir: Path,
    keep_running: bool,
) -> bool:
    """Send the held-out images to the API and show the answers, the score, the run's timings, how to try
    it by hand and the report; whether any prediction came back."""
    outputs = cloud.outputs
    run = progress.run or {}
    api = PredictionApi(outputs)
    predictions, first_answer = predict_holdout(api, holdout, task.query())
    all_answers = time.monotonic() - started
    good = [(image, answer) for image, status, answer in predictions if status == 200]
    display.say(f"\npredictions over HTTPS ({api.url}):")
    for image, status, answer in predictions[:8]:
        display.say(
            "  "
            + (
                task.describe(image, answer)
                if status == 200
                else f"{image.path.name}: HTTP {status} {answer}"
            )
        )
    score = task.score(good)
    statuses = Counter(status for _, status, _ in predictions)
    display.say(f"{score.summary}; statuses {dict(statuses)}")
    display.say(f"validation metrics (ledger): {json.dumps(run.get('metrics', {}))}")
    workers = configured_workers_per_object({**project_context(), **demo_context(None, task.name)})
    for line in label_lines(run, workers):
        display.say(line)
    _say_timings(display, cloud, progress)
    if first_answer is not None:
        display.say(
            f"\nwall time: run complete and first prediction after {first_answer - started:.0f}s "
            f"(all {len(predictions)} held-out answers after {all_answers:.0f}s)"
        )
    display.say(f"\noutputs: {state_dir / 'outputs.json'}")
    display.say(by_hand_header(keep_running))
    display.say(how_to(outputs, progress.run_id, holdout[0].path if holdout else None))
    display.say("")
    bucket = str(outputs["DataBucketName"])
    for line in report_lines(cloud, bucket, progress.run_id, state_dir, keep_running):
        display.say(line)
    return bool(good)


def _say_timings(display: Display, cloud: LocalCloud, progress: RunProgress) -> None:
    """The run's duration and steps from the runs ledger, its slower states from the execution history."""
    run = progress.run or {}
    created, ended = parse_time(run.get("created_at")), parse_time(run.get("ended_at"))
    if created and ended:
        display.say(f"\nrun {progress.run_id}: {(ended - created).total_seconds():.1f}s in the ledger")
    display.say("steps (runs ledger):")
    for name, step_status, seconds in step_durations(run):
        display.say(f"  {name:10} {step_status:10} {'' if seconds is None else f'{seconds:7.1f}s'}")
    if run.get("execution_arn"):
        display.say("states (execution history):")
        history = execution_history(cloud.client("stepfunctions"), str(run["execution_arn"]))
        for name, seconds in state_durations(history):
            if seconds >= 0.5:
                display.say(f"  {name:22} {seconds:7.1f}s")


def argument_parser() -> argparse.ArgumentParser:
    """The demo's command line (the demo benchmark builds its arguments with it too)."""
    parser = argparse.ArgumentParser(prog="python -m local.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--task",
        default=ClassificationDemo.name,
        help=f"task type ({', '.join(SUPPORTED_TASKS)})",
    )
    parser.add_argument(
        "--images", type=int, default=None, help="images to draw (default: 1000 digits, or 800 scenes)"
    )
    parser.add_argument("--holdout", type=float, default=0.2, help="share held out for the HTTPS test")
    parser.add_argument("--epochs", type=int, default=None, help="override the demo's training epochs")
    parser.add_argument(
        "--loop",
        action="store_true",
        help="the model-lifecycle loop instead: upright digits, a rotated stream, harvest, relabel, retrain",
    )
    parser.add_argument("--state-dir", default=".local", help="where the local cloud keeps its files")
    parser.add_argument("--cdk-out", default=None, help="deploy this cloud assembly instead of synthesizing")
    parser.add_argument(
        "--labeling",
        default=DEFAULT_LABELING,
        choices=LABELING_MODES,
        help="who labels: ground-truth (emulated Ground Truth, default), builtin (simulated crowd through the "
        "builtin labeling service's API), ui (people in a browser)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds to wait for the run (default 1800; ground-truth: 900; ui: 4 hours)",
    )
    parser.add_argument("--keep-running", action="store_true", help="keep the cloud up after the demo")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    args = argument_parser().parse_args(argv)
    display = Display()
    if args.loop:
        from local.drivers.lifecycle import demo_loop

        result = demo_loop(Path(args.state_dir).resolve(), epochs=args.epochs, say=display.say)
        return 0 if result.second.get("status") == "SUCCEEDED" and result.after > result.before else 1
    if args.task not in SUPPORTED_TASKS:
        display.say(f"unknown task {args.task!r}: the demo runs {', '.join(SUPPORTED_TASKS)}")
        return 2
    return run_demo(args, display)


if __name__ == "__main__":
    sys.exit(main())
