"""``python -m local.demo --task image-classification`` (``make demo``): the whole pipeline on a laptop.

1. synthesizes the CDK app with a local-sized configuration (the digits model's hyperparameters from
   :data:`training.contracts.DEMO_HYPERPARAMETERS`, label categories ``zero``..``nine``) while the local
   cloud starts and the demo data set is drawn (scikit-learn's digits as PNGs, a held-out test subset);
2. deploys both stacks into the local cloud, uploads the images to ``images/``, writes the simulated
   workforce's reference labels and drops ``incoming/demo.manifest`` -- an *input* manifest, so the run
   starts with a labeling job;
3. follows the run (state from the execution history, SageMaker job status from the runs ledger);
4. sends the held-out images to ``POST <ApiUrl>/predict`` over HTTPS (TLS verified against the local CA),
   prints predictions, accuracy, per-step durations and how to try it by hand.

Exit status 0 only when the run succeeded and predictions came back.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TextIO

from local.client import PredictionApi
from local.cloud import CloudSettings, LocalCloud
from local.runs import RunProgress, execution_history, follow_run, parse_time, state_durations, step_durations
from local.synth import synthesize
from training.contracts import DEMO_HYPERPARAMETERS
from training.datasets import CLASS_NAMES, DigitRecord, write_digits_dataset, write_input_manifest

SUPPORTED_TASKS = ("image-classification",)
MANIFEST_KEY = "incoming/demo.manifest"
DEMO_ASSEMBLY = "cdk.out-demo"
"""Where (under the state directory) the demo's assembly is synthesized and reused."""
IMAGE_PREFIX = "images/digits"


def demo_context(epochs: int | None = None) -> dict[str, Any]:
    """Synthesis context for the local demo (merged over ``cdk.json``'s)."""
    hyperparameters = dict(DEMO_HYPERPARAMETERS)
    if epochs is not None:
        hyperparameters["epochs"] = str(epochs)
    return {
        "gtpipe:taskType": "image-classification",
        "gtpipe:labelCategories": list(CLASS_NAMES),
        "gtpipe:hyperparameters": hyperparameters,
    }


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


def upload_dataset(cloud: LocalCloud, bucket: str, records: list[DigitRecord]) -> None:
    """Upload the images (parallel PUTs)."""
    s3 = cloud.client("s3")

    def put(record: DigitRecord) -> None:
        key = record.source_ref.split("/", 3)[3]
        s3.put_object(Bucket=bucket, Key=key, Body=record.path.read_bytes(), ContentType="image/png")

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(put, records))


def write_reference_labels(path: Path, records: list[DigitRecord]) -> None:
    """The simulated workforce's truth: ``{"source-ref", "label"}`` per image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps({"source-ref": r.source_ref, "label": r.label}) + "\n" for r in records)
    )


def predict_holdout(
    api: PredictionApi, records: list[DigitRecord]
) -> tuple[list[tuple[DigitRecord, int, Any]], float | None]:
    """Send every held-out image: ``(record, HTTP status, JSON answer)`` in order, and the monotonic time
    the first successful answer arrived."""
    first: list[float] = []
    lock = threading.Lock()

    def call(record: DigitRecord) -> tuple[DigitRecord, int, Any]:
        response = api.predict(record.path.read_bytes(), "image/png")
        if response.status == 200:
            with lock:
                first.append(time.monotonic())
        try:
            answer = response.json()
        except ValueError:
            answer = response.body[:200].decode("utf-8", "replace")
        return record, response.status, answer

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(call, records))
    return results, (min(first) if first else None)


def how_to(outputs: dict[str, Any], run_id: str | None, sample: Path | None) -> str:
    """Commands to try the deployment by hand."""
    env = (
        f"export AWS_ENDPOINT_URL={outputs['AwsEndpointUrl']} AWS_DEFAULT_REGION={outputs['Region']} "
        f"AWS_ACCESS_KEY_ID={outputs['AccessKeyId']} AWS_SECRET_ACCESS_KEY={outputs['SecretAccessKey']}"
    )
    image = sample or "digit.png"
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
        f'\'{{"run_id": {{"S": "{run_id or "@serving"}"}}}}\'',
        f"aws s3 cp my.manifest s3://{outputs['DataBucketName']}/{outputs['IncomingPrefix']}my.manifest",
        curl,
    ]
    return "\n".join("  " + line for line in lines)


def run_demo(args: argparse.Namespace, display: Display) -> int:
    """The demo (see module docstring); returns the exit status."""
    started = time.monotonic()
    state_dir = Path(args.state_dir).resolve()
    data_dir = state_dir / "demo-data"
    synth_result: dict[str, Any] = {}

    def synth() -> None:
        try:
            synth_result["path"] = synthesize(state_dir / DEMO_ASSEMBLY, demo_context(args.epochs))
        except Exception as error:
            synth_result["error"] = error

    synth_thread = None
    if args.cdk_out is None:
        synth_thread = threading.Thread(target=synth, name="synth", daemon=True)
        synth_thread.start()
        display.say("synthesizing the CDK app (cdk synth) for the local cloud ...")
    settings = CloudSettings(state_dir=state_dir)
    with LocalCloud(settings) as cloud:
        display.say(f"local cloud started at {cloud.endpoint_url}")
        # The bucket name is only known after deployment: draw the images now, name them later.
        drawn = write_digits_dataset(
            data_dir,
            bucket="bucket",
            prefix=IMAGE_PREFIX,
            holdout_fraction=args.holdout,
            limit=args.images,
            seed=0,
        )
        if synth_thread is not None:
            synth_thread.join()
            if "error" in synth_result:
                display.say(f"synthesis failed: {synth_result['error']}")
                return 1
        assembly = Path(args.cdk_out) if args.cdk_out else synth_result["path"]
        cloud.deploy(assembly)
        if cloud.runtime is not None:
            cloud.runtime.prewarm()  # cold starts off the critical path
        outputs = cloud.outputs
        cloud.write_outputs()
        bucket = str(outputs["DataBucketName"])
        display.say(
            f"deployed {', '.join(cloud.deployment.stacks) if cloud.deployment else ''} "
            f"({time.monotonic() - started:.0f}s); data bucket {bucket}"
        )
        records = [
            dataclasses.replace(r, source_ref=f"s3://{bucket}/{IMAGE_PREFIX}/{r.path.name}") for r in drawn
        ]
        labeled = [r for r in records if not r.holdout]
        holdout = [r for r in records if r.holdout]
        upload_dataset(cloud, bucket, records)
        write_reference_labels(settings.reference_labels_path, labeled)
        manifest = write_input_manifest(labeled, data_dir / "demo.manifest")
        put = cloud.client("s3").put_object(Bucket=bucket, Key=MANIFEST_KEY, Body=manifest.read_bytes())
        display.say(
            f"uploaded {len(records)} images; dropped s3://{bucket}/{MANIFEST_KEY} "
            f"({len(labeled)} images to label, {len(holdout)} held out) at {time.monotonic() - started:.0f}s"
        )
        progress = follow_run(
            cloud.client("dynamodb"),
            cloud.client("stepfunctions"),
            str(outputs["RunsTableName"]),
            MANIFEST_KEY,
            put.get("VersionId"),
            timeout=args.timeout,
            on_progress=display.progress,
            started=started,
        )
        display.done()
        run = progress.run or {}
        display.say(f"run {progress.run_id}: {progress.run_status} (execution {progress.execution_status})")
        if progress.run_status != "SUCCEEDED":
            failure = run.get("failure") or {}
            display.say(f"  failed at {failure.get('step')}: {failure.get('error')}: {failure.get('cause')}")
            display.say(f"  logs: {outputs['LogDir']}")
            return 1
        api = PredictionApi(outputs)
        predictions, first_answer = predict_holdout(api, holdout)
        all_answers = time.monotonic() - started
        good = [(r, answer) for r, status, answer in predictions if status == 200]
        display.say(f"\npredictions over HTTPS ({api.url}):")
        for record, status, answer in predictions[:8]:
            if status == 200:
                display.say(
                    f"  {record.path.name}: {answer['label']:>6} ({answer['confidence']:.2f})  truth {record.class_name}"
                )
            else:
                display.say(f"  {record.path.name}: HTTP {status} {answer}")
        correct = sum(1 for record, answer in good if answer.get("label") == record.class_name)
        accuracy = correct / len(good) if good else 0.0
        statuses = Counter(status for _, status, _ in predictions)
        display.say(
            f"held-out accuracy over HTTPS: {accuracy:.3f} ({correct}/{len(good)} answered; statuses {dict(statuses)})"
        )
        display.say(f"validation metrics (ledger): {json.dumps(run.get('metrics', {}))}")
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
        if first_answer is not None:
            display.say(
                f"\nwall time: run complete and first prediction after {first_answer - started:.0f}s "
                f"(all {len(predictions)} held-out answers after {all_answers:.0f}s)"
            )
        display.say(f"\noutputs: {state_dir / 'outputs.json'}\ntry it by hand (while the cloud runs):")
        display.say(how_to(outputs, progress.run_id, holdout[0].path if holdout else None))
        ok = bool(good)
        if args.keep_running:
            display.say("\nthe local cloud keeps running; Ctrl-C stops it")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                display.say("stopping")
        return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m local.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="image-classification", help="task type (image-classification)")
    parser.add_argument("--images", type=int, default=1000, help="digits to use (max 1797)")
    parser.add_argument("--holdout", type=float, default=0.2, help="share held out for the HTTPS test")
    parser.add_argument("--epochs", type=int, default=None, help="override the demo's training epochs")
    parser.add_argument("--state-dir", default=".local", help="where the local cloud keeps its files")
    parser.add_argument("--cdk-out", default=None, help="deploy this cloud assembly instead of synthesizing")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the run")
    parser.add_argument("--keep-running", action="store_true", help="keep the cloud up after the demo")
    args = parser.parse_args(argv)
    display = Display()
    if args.task not in SUPPORTED_TASKS:
        display.say(
            f"task {args.task!r} is not supported by the local demo yet (supported: {', '.join(SUPPORTED_TASKS)}); "
            "the local SageMaker has no object-detection algorithm"
        )
        return 2
    return run_demo(args, display)


if __name__ == "__main__":
    sys.exit(main())
