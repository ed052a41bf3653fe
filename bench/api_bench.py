"""Benchmark: predictions over the local HTTPS API vs the inference handlers called directly.

    .venv/bin/python -m bench.api_bench [--requests 300] [--levels 1,8,64] [--seconds 60]

Setup (the cheapest path that still serves through the real chain HTTPS API -> predict Lambda ->
SageMaker endpoint): the CDK app is synthesized with the demo's context and high stage throttling
(``gtpipe:apiRateLimit`` 10000/s, ``gtpipe:apiBurstLimit`` 5000, so the API never answers 429 here),
deployed into a :class:`local.cloud.LocalCloud`; a small digits model is trained with
``python -m training.train`` (SageMaker's script-mode environment), uploaded as ``model.tar.gz`` and
hosted with CreateModel / CreateEndpointConfig / CreateEndpoint on the local SageMaker; the ``@serving``
ledger item that the pipeline's Publish step would write names the endpoint. Labeling, the state
machine, batch transform and evaluation are skipped (see ``bench.demo_bench`` for the whole run).

Measured side by side in one run:

* ``direct``: ``training.inference.model_fn`` once, then ``input_fn -> predict_fn -> output_fn`` per
  image, one at a time;
* ``sagemaker-runtime``: InvokeEndpoint through boto3 and the local AWS endpoint (moto's server with the
  local SageMaker behind it), one at a time: the middle layer, without API Gateway and Lambda;
* ``api cN``: ``N`` client threads (in this process, one keep-alive HTTPS connection each, TLS verified
  against the local CA, SigV4-signed as ``local.drivers.client.PredictionApi`` does) sending PNGs to
  ``POST <ApiUrl>/predict`` until ``--requests`` requests (300 at 1 and 8 clients, 500 at 64) or
  ``--seconds`` elapsed; ``accuracy`` is the share of answers naming the image's true class.

The overhead ratio is API p50 (concurrency 1) / direct p50. Everything runs on 127.0.0.1 only.
``main()`` prints a table and returns the figures as a dict.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from boto3.dynamodb.types import TypeSerializer
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bench import ROOT, percentile, print_figures, stage_training_job, time_calls

ASSEMBLY_CACHE = ROOT / ".local" / "cdk.out-api-bench"
"""Where the benchmark's assembly is synthesized and reused (while sources and context are unchanged)."""
RATE_LIMIT = 10000
BURST_LIMIT = 5000
IMAGE_URI = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
MODEL_NAME = "bench-model"
LEVELS = {1: 300, 8: 300, 64: 500}
"""Client threads -> answers to collect at that concurrency (each level is also time-limited)."""


def bench_context(epochs: int) -> dict[str, Any]:
    """The demo's synthesis context with throttling high enough that no benchmark or load test hits it."""
    from local.drivers.demo import demo_context

    return {
        **demo_context(epochs=epochs),
        "gtpipe:apiRateLimit": RATE_LIMIT,
        "gtpipe:apiBurstLimit": BURST_LIMIT,
    }


@dataclass
class ServedModel:
    """A running local cloud with a model behind its HTTPS API."""

    cloud: Any
    outputs: dict[str, Any]
    model_dir: Path
    images: list[bytes]
    labels: list[str]
    timings: dict[str, float] = field(default_factory=dict)


def _start_training(workdir: Path, images: int, epochs: int) -> tuple[subprocess.Popen[str], list[Any]]:
    """Stage channels and start ``python -m training.train``; returns the process and the held-out records."""
    from training import DEMO_HYPERPARAMETERS
    from training.datasets import write_digits_dataset

    records = write_digits_dataset(workdir / "source", holdout_fraction=0.2, limit=images, seed=0)
    train = [r for r in records if not r.holdout]
    holdout = [r for r in records if r.holdout]
    hyperparameters = {
        **DEMO_HYPERPARAMETERS,
        "epochs": str(epochs),
        "num_classes": "10",
        "num_training_samples": str(len(train)),
    }
    env = stage_training_job(workdir, train, holdout, hyperparameters)
    process = subprocess.Popen(
        [sys.executable, "-m", "training.train"],
        env=env,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, holdout


def sagemaker_role_arn(cloud: Any) -> str:
    """The deployed pipeline's SageMaker execution role: the local cloud enforces IAM, so the hosted model reads
    its artifact with the role the pipeline's own models get (models/ prefix, the data key), as on AWS."""
    roles = cloud.principals.roles_source() if cloud.principals.roles_source else {}
    matches = sorted(arn for arn in roles if "SageMakerExecutionRole" in arn)
    if len(matches) != 1:
        raise RuntimeError(f"expected one deployed SageMaker execution role, found {matches}")
    return matches[0]


def host_model(cloud: Any, model_dir: Path, class_names: Sequence[str], timeout: float = 60.0) -> None:
    """Upload ``model_dir`` as model.tar.gz, host it at the stack's endpoint name and publish ``@serving``
    (what the pipeline's CreateModel, DeployEndpoint and Publish steps do)."""
    from gtpipe_shared.ledger import serving_item
    from gtpipe_shared.tasks import TaskType

    from training.artifact import package_model

    outputs = cloud.outputs
    bucket = str(outputs["DataBucketName"])
    endpoint = str(outputs["EndpointName"])
    tar = package_model(model_dir, model_dir.parent / "model.tar.gz")
    key = f"models/{MODEL_NAME}/model.tar.gz"
    cloud.client("s3").upload_file(str(tar), bucket, key)
    sagemaker = cloud.client("sagemaker")
    sagemaker.create_model(
        ModelName=MODEL_NAME,
        PrimaryContainer={"Image": IMAGE_URI, "ModelDataUrl": f"s3://{bucket}/{key}"},
        ExecutionRoleArn=sagemaker_role_arn(cloud),
    )
    config_name = f"{MODEL_NAME}-epc"
    sagemaker.create_endpoint_config(
        EndpointConfigName=config_name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": MODEL_NAME,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.xlarge",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=config_name)
    described = cloud.sagemaker.wait_for_endpoint(endpoint, timeout=timeout)
    if described["EndpointStatus"] != "InService":
        raise RuntimeError(
            f"endpoint {endpoint}: {described['EndpointStatus']} {described.get('FailureReason')}"
        )
    item = serving_item(
        endpoint_name=endpoint,
        endpoint_config_name=config_name,
        model_name=MODEL_NAME,
        class_names=list(class_names),
        source_run_id="bench",
        metrics=None,
        task_type=TaskType.IMAGE_CLASSIFICATION.value,
        now=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    serializer = TypeSerializer()
    cloud.client("dynamodb").put_item(
        TableName=str(outputs["RunsTableName"]),
        Item={name: serializer.serialize(value) for name, value in item.items()},
    )


@contextmanager
def served_model(workdir: Path, *, images: int = 400, epochs: int = 2) -> Iterator[ServedModel]:
    """A local cloud (state under ``workdir``) serving a freshly trained digits model over HTTPS.

    Training runs in a subprocess while the app is synthesized (cached in ``.local/cdk.out-api-bench``)
    and the cloud starts and deploys.
    """
    from local.cloud import CloudSettings, LocalCloud
    from local.synth import synthesize
    from training.datasets import CLASS_NAMES

    timings: dict[str, float] = {}
    begin = time.perf_counter()
    process, holdout = _start_training(workdir / "training", images, epochs)
    try:
        started = time.perf_counter()
        assembly = synthesize(ASSEMBLY_CACHE, bench_context(epochs))
        timings["synth seconds"] = time.perf_counter() - started
        with LocalCloud(CloudSettings(state_dir=workdir / "cloud")) as cloud:
            started = time.perf_counter()
            cloud.deploy(assembly)
            if cloud.runtime is not None:
                cloud.runtime.prewarm()
            timings["deploy seconds"] = time.perf_counter() - started
            started = time.perf_counter()
            output, _ = process.communicate(timeout=300)
            if process.returncode != 0:
                raise RuntimeError(f"training failed ({process.returncode}):\n{output[-4000:]}")
            timings["training wait seconds"] = time.perf_counter() - started
            model_dir = workdir / "training" / "model"
            started = time.perf_counter()
            host_model(cloud, model_dir, CLASS_NAMES)
            timings["endpoint seconds"] = time.perf_counter() - started
            timings["setup seconds"] = time.perf_counter() - begin
            yield ServedModel(
                cloud=cloud,
                outputs=dict(cloud.outputs),
                model_dir=model_dir,
                images=[r.path.read_bytes() for r in holdout],
                labels=[r.class_name for r in holdout],
                timings=timings,
            )
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


class ApiClient:
    """One keep-alive HTTPS connection to ``POST <ApiUrl>/predict`` (SigV4-signed or with the API key,
    as :class:`local.drivers.client.PredictionApi` authenticates). Loopback only: the URL must be 127.0.0.1."""

    def __init__(self, outputs: dict[str, Any], timeout: float = 35.0) -> None:
        self.url = str(outputs["ApiUrl"]).rstrip("/") + "/predict"
        parts = urlsplit(self.url)
        if parts.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError(f"refusing a non-loopback API URL: {self.url}")
        self.host = str(parts.hostname)
        self.port = int(parts.port or 443)
        self.path = parts.path
        self.region = str(outputs["Region"])
        self.api_key = outputs.get("ApiKey")
        self.credentials = Credentials(str(outputs["AccessKeyId"]), str(outputs["SecretAccessKey"]))
        self.context = ssl.create_default_context(cafile=str(outputs["CaCertPath"]))
        self.timeout = timeout
        self._connection: http.client.HTTPSConnection | None = None

    def _headers(self, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "image/png"}
        if self.api_key:
            headers["x-api-key"] = str(self.api_key)
            return headers
        signed = AWSRequest(method="POST", url=self.url, data=body, headers=headers)
        SigV4Auth(self.credentials, "execute-api", self.region).add_auth(signed)
        return dict(signed.headers.items())

    def post(self, body: bytes) -> tuple[int, bytes]:
        """Send one image; ``(status, body)``. Transport errors raise (the connection is then dropped)."""
        if self._connection is None:
            self._connection = http.client.HTTPSConnection(
                self.host, self.port, context=self.context, timeout=self.timeout
            )
        try:
            self._connection.request("POST", self.path, body=body, headers=self._headers(body))
            response = self._connection.getresponse()
            data = response.read()
            if response.will_close:
                self.close()
            return response.status, data
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Drop the connection."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@dataclass
class LoadResult:
    """What a bounded load run saw."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    invalid_json: int = 0
    wrong_labels: int = 0
    seconds: float = 0.0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + sum(self.transport_errors.values())

    @property
    def errors(self) -> int:
        """Answers other than 200, transport errors and non-JSON bodies."""
        bad = sum(count for status, count in self.statuses.items() if status != 200)
        return bad + sum(self.transport_errors.values()) + self.invalid_json


def run_load(
    outputs: dict[str, Any],
    images: Sequence[bytes],
    *,
    clients: int,
    max_requests: int,
    seconds: float,
    labels: Sequence[str] | None = None,
) -> LoadResult:
    """``clients`` threads, each with its own connection, send images until ``max_requests`` have been
    sent in total or ``seconds`` have passed (each client stops at the deadline)."""
    result = LoadResult()
    lock = threading.Lock()
    issued = [0]
    start_gate = threading.Barrier(clients + 1)
    deadline = [0.0]

    def worker(index: int) -> None:
        client = ApiClient(outputs)
        start_gate.wait()
        position = index
        try:
            while time.monotonic() < deadline[0]:
                with lock:
                    if issued[0] >= max_requests:
                        return
                    issued[0] += 1
                image = images[position % len(images)]
                started = time.perf_counter()
                try:
                    status, body = client.post(image)
                except (OSError, http.client.HTTPException) as error:
                    with lock:
                        result.transport_errors[type(error).__name__] += 1
                    continue
                elapsed = (time.perf_counter() - started) * 1000
                try:
                    answer = json.loads(body)
                    valid = isinstance(answer, dict)
                except ValueError:
                    answer, valid = None, False
                with lock:
                    result.statuses[status] += 1
                    if not valid:
                        result.invalid_json += 1
                    if status == 200:
                        result.latencies_ms.append(elapsed)
                        if labels is not None and answer["label"] != labels[position % len(labels)]:
                            result.wrong_labels += 1
                position += clients
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = time.monotonic() + seconds
    start_gate.wait()
    for thread in threads:
        thread.join(seconds + 60)
    result.seconds = time.perf_counter() - began
    return result


def measure_direct(model_dir: Path, images: Sequence[bytes], requests: int) -> list[float]:
    """Milliseconds per image through ``input_fn -> predict_fn -> output_fn`` (``model_fn`` once)."""
    from training.inference import input_fn, model_fn, output_fn, predict_fn

    model = model_fn(model_dir)

    def call(body: bytes) -> str:
        return output_fn(predict_fn(input_fn(body, "image/png"), model), "application/json")

    return time_calls(call, images, requests)


def measure_runtime(
    cloud: Any, outputs: dict[str, Any], images: Sequence[bytes], requests: int
) -> list[float]:
    """Milliseconds per InvokeEndpoint through boto3 and the local AWS endpoint (no API, no Lambda):
    the middle layer between the handlers and the whole HTTPS chain."""
    runtime = cloud.client("sagemaker-runtime")
    endpoint = str(outputs["EndpointName"])

    def call(body: bytes) -> bytes:
        response = runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="application/x-image", Accept="application/json", Body=body
        )
        return bytes(response["Body"].read())

    return time_calls(call, images, requests)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print a table, return the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--requests", type=int, default=None, help="requests per level (default: 300/300/500)"
    )
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)), help="client counts")
    parser.add_argument("--seconds", type=float, default=60.0, help="time limit per level")
    parser.add_argument("--images", type=int, default=500, help="digits to train on and send (20%% sent)")
    parser.add_argument("--epochs", type=int, default=3)
    # Called as main() by `python -m bench`: use the defaults, not that runner's command line.
    args = parser.parse_args(argv if argv is not None else [])
    levels = [int(level) for level in args.levels.split(",") if level]
    workdir = Path(tempfile.mkdtemp(prefix="gtpipe-api-bench-"))
    figures: dict[str, Any] = {}
    try:
        with served_model(workdir, images=args.images, epochs=args.epochs) as served:
            figures["cpu cores"] = len(os.sched_getaffinity(0))
            for name, seconds in served.timings.items():
                figures[f"setup: {name}"] = round(seconds, 1)
            direct = measure_direct(served.model_dir, served.images, args.requests or 300)
            figures["direct requests"] = len(direct)
            figures["direct p50 ms"] = round(statistics.median(direct), 2)
            figures["direct p99 ms"] = round(percentile(direct, 99), 2)
            runtime = measure_runtime(served.cloud, served.outputs, served.images, args.requests or 300)
            figures["sagemaker-runtime c1 p50 ms"] = round(statistics.median(runtime), 2)
            figures["sagemaker-runtime c1 p99 ms"] = round(percentile(runtime, 99), 2)
            # Warm-up: every Lambda worker and the endpoint path, then the @serving cache is hot.
            run_load(served.outputs, served.images, clients=4, max_requests=40, seconds=30)
            p50_c1 = None
            for clients in levels:
                result = run_load(
                    served.outputs,
                    served.images,
                    clients=clients,
                    max_requests=args.requests or LEVELS.get(clients, 300),
                    seconds=args.seconds,
                    labels=served.labels,
                )
                p50 = statistics.median(result.latencies_ms) if result.latencies_ms else 0.0
                if clients == 1:
                    p50_c1 = p50
                prefix = f"api c{clients}"
                figures[f"{prefix} requests"] = result.requests
                figures[f"{prefix} p50 ms"] = round(p50, 2)
                figures[f"{prefix} p99 ms"] = round(percentile(result.latencies_ms, 99), 2)
                figures[f"{prefix} requests/s"] = round(len(result.latencies_ms) / result.seconds, 1)
                figures[f"{prefix} errors"] = result.errors
                if result.errors:
                    figures[f"{prefix} statuses"] = dict(sorted(result.statuses.items()))
                    figures[f"{prefix} transport errors"] = dict(result.transport_errors)
                figures[f"{prefix} accuracy"] = round(
                    1 - result.wrong_labels / max(1, len(result.latencies_ms)), 3
                )
            if p50_c1 is not None:
                figures["overhead ratio (api c1 p50 / direct p50)"] = round(
                    p50_c1 / statistics.median(direct), 1
                )
            figures["stage throttle (rate/s, burst)"] = f"{RATE_LIMIT}, {BURST_LIMIT}"
            figures["lambda workers per function"] = served.cloud.settings.lambda_concurrency
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_figures(figures)
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
