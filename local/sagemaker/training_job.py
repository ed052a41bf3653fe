"""Run one CreateTrainingJob locally: SageMaker's container contract with a subprocess instead.

Per job, under ``<work_dir>/training/<job>-<random>/`` (SageMaker's ``/opt/ml``)::

    input/config/hyperparameters.json    HyperParameters (strings)
    input/config/inputdataconfig.json    the channels' settings, as SageMaker writes them
    input/config/resourceconfig.json     {"current_host": "algo-1", "hosts": ["algo-1"], ...}
    input/data/<channel>/                the channel's data (see below)
    model/                               SM_MODEL_DIR, tarred into model.tar.gz on success
    output/failure                       the algorithm's failure reason
    output/data/                         SM_OUTPUT_DATA_DIR, uploaded as output.tar.gz if not empty
    logs/algo-1.log                      stdout and stderr of the process (CloudWatch's log stream)

When the backend has a CloudWatch Logs client, the log is also copied, line by line, to the log group
``/aws/sagemaker/TrainingJobs``, stream ``<job>/algo-1-<start epoch seconds>``, as SageMaker does (the
report step parses training curves from it). The copy is made when the process has ended and before the
job reaches Completed or Failed, so a step that follows the job finds the whole log.

Channels: ``AugmentedManifestFile`` downloads the manifest into ``<channel>/`` (named ``*.manifest``) and
every object referenced by an attribute ending in ``-ref`` (``source-ref``) to
``<channel>/<bucket>/<key>``; every line must hold every ``AttributeNames`` entry, as SageMaker requires.
``S3Prefix`` and ``ManifestFile`` download the objects keeping their path relative to the prefix.
Pipe and File input modes both become files.

Progress: ``Starting`` -> ``Downloading`` -> ``Training`` -> ``Uploading`` -> ``Completed``; failures end
``Failed`` with the ``output/failure`` text (or the exit code and last log line); StopTrainingJob ends
``Stopped``; ``StoppingCondition.MaxRuntimeInSeconds`` (counted from job creation) ends ``Stopped`` with
secondary status ``MaxRuntimeExceeded``, as on AWS. Processes get SIGTERM, then SIGKILL after a grace
period (AWS waits 120 s; locally ``stop_grace_seconds``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

import training
from training.artifact import package_model

from .algorithms import Algorithm, UnsupportedImage, resolve_image
from .faults import Faults
from .jobs import JobEnded, JobHandle, run_to_end, utcnow
from .s3 import S3Uri, download_many, list_data_source, read_bytes

LOG = logging.getLogger(__name__)

# The repository root, so that ``python -m training.train`` imports this checkout's package.
CODE_ROOT = Path(training.__file__).resolve().parent.parent
FAILURE_REASON_LIMIT = 1024
POLL_SECONDS = 0.1
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
# PutLogEvents limits: 10,000 events and 1,048,576 bytes per call (each event counts 26 bytes extra),
# 256 KB per event.
DEFAULT_ALGORITHM_THREADS = 2
"""CPU threads of a local algorithm process unless the backend is told otherwise: the cores of the
smallest machine the project supports (CI has 2), so a job's numbers are the same on a laptop and in
CI. More threads are faster on a larger machine but change the last bits of every sum, and a model at a
decision boundary (a confidence threshold, a quality gate) can land on the other side."""
LOG_BATCH_EVENTS = 10_000
LOG_BATCH_BYTES = 1_000_000
LOG_EVENT_CHARS = 200_000
RESOURCE_CONFIG: Mapping[str, Any] = {
    "current_host": "algo-1",
    "hosts": ["algo-1"],
    "network_interface_name": "eth0",
}

STATUS_MESSAGES: Mapping[str, str] = {
    "Starting": "Preparing the instances for training",
    "Downloading": "Downloading input data",
    "Training": "Training image download completed. Training in progress.",
    "Uploading": "Uploading generated training model",
    "Completed": "Training job completed",
    "Failed": "Training job failed",
    "Stopping": "Stopping the training job",
    "Stopped": "Training job stopped",
    "MaxRuntimeExceeded": "Training job exceeded MaxRuntimeInSeconds provided",
}


def parse_final_metrics(log_text: str, definitions: tuple[Mapping[str, str], ...]) -> list[dict[str, Any]]:
    """``FinalMetricDataList``: the last value each metric regex (group 1) finds in the log."""
    metrics = []
    now = utcnow()
    for definition in definitions:
        found = re.findall(definition["Regex"], log_text)
        if not found:
            continue
        last = found[-1]
        try:
            value = float(last[0] if isinstance(last, tuple) else last)
        except ValueError:
            continue
        if math.isfinite(value):  # NaN/inf cannot travel in the API's JSON
            metrics.append({"MetricName": definition["Name"], "Value": value, "Timestamp": now})
    return metrics


class LogEventsRejected(RuntimeError):
    """CloudWatch Logs accepted the call but dropped events (``rejectedLogEventsInfo``)."""


def put_log_events(logs: Any, group: str, stream: str, events: list[dict[str, Any]]) -> None:
    """PutLogEvents that raises :class:`LogEventsRejected` when any event was dropped.

    CloudWatch Logs (and moto) answer 200 and silently drop events older than 14 days or more than
    2 hours ahead, reporting them only in ``rejectedLogEventsInfo``
    (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html);
    a log that lost lines must not pass for a complete one."""
    answer = logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
    rejected = answer.get("rejectedLogEventsInfo")
    if rejected:
        raise LogEventsRejected(f"CloudWatch Logs rejected events of {group}/{stream}: {rejected}")


def publish_log(logs: Any, job_name: str, log_path: Path, started: dt.datetime) -> str | None:
    """Copy a training log to CloudWatch Logs (see the module docstring); return the stream name.

    Each line becomes one event; timestamps start at the job's start and grow by 1 ms per line, so the
    order survives. Returns None when the log file does not exist.
    """
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    stream = f"{job_name}/algo-1-{int(started.timestamp())}"
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=LOG_GROUP)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
    base = int(started.timestamp() * 1000)
    batch: list[dict[str, Any]] = []
    size = 0
    for index, line in enumerate(text.splitlines()):
        message = line[:LOG_EVENT_CHARS] or " "
        cost = len(message.encode("utf-8")) + 26
        if batch and (len(batch) >= LOG_BATCH_EVENTS or size + cost > LOG_BATCH_BYTES):
            put_log_events(logs, LOG_GROUP, stream, batch)
            batch, size = [], 0
        batch.append({"timestamp": base + index, "message": message})
        size += cost
    if batch:
        put_log_events(logs, LOG_GROUP, stream, batch)
    return stream


def _num_gpus() -> int:
    # Importing torch here would cost seconds per backend; only ask it when it is already loaded.
    torch = sys.modules.get("torch")
    try:
        return int(torch.cuda.device_count()) if torch is not None else 0
    except Exception:  # no driver, broken install: report none
        return 0


def write_job_config(
    input_dir: Path, hyperparameters: Mapping[str, Any], input_config: Mapping[str, Any]
) -> None:
    """Write SageMaker's ``input/config`` files: ``hyperparameters.json``, ``inputdataconfig.json`` and
    ``resourceconfig.json`` (one host, ``algo-1``)."""
    config_dir = input_dir / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "hyperparameters.json").write_text(
        json.dumps(dict(hyperparameters), indent=2), encoding="utf-8"
    )
    (config_dir / "inputdataconfig.json").write_text(
        json.dumps(dict(input_config), indent=2), encoding="utf-8"
    )
    (config_dir / "resourceconfig.json").write_text(json.dumps(RESOURCE_CONFIG), encoding="utf-8")


def script_mode_environment(
    *,
    job_name: str,
    job_arn: str,
    job_dir: Path,
    hyperparameters: Mapping[str, Any],
    channels: Mapping[str, Path],
    environment: Mapping[str, str] | None = None,
    threads: int | None = None,
) -> dict[str, str]:
    """The process environment of a training container in script mode: this process's variables (minus
    any ``SM_*``), ``OMP_NUM_THREADS=threads`` when given, the job's ``Environment``, then SageMaker's
    ``SM_*`` variables for ``job_dir`` laid out as ``/opt/ml`` (``input/``, ``model/``, ``output/``) and
    ``PYTHONPATH`` reaching this checkout. ``write_job_config`` must have written ``input/config`` first.

    ``threads`` fixes the algorithm's CPU thread count: the order of floating-point sums in torch's
    kernels depends on it, so the same job trains the same weights on every machine only with the
    same count (see :data:`DEFAULT_ALGORITHM_THREADS`)."""
    input_dir = job_dir / "input"
    output_dir = job_dir / "output"
    env = {key: value for key, value in os.environ.items() if not key.startswith("SM_")}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    env.update(environment or {})
    python_path = [str(CODE_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(python_path),
            "PYTHONUNBUFFERED": "1",
            "TRAINING_JOB_NAME": job_name,
            "TRAINING_JOB_ARN": job_arn,
            "SM_TRAINING_JOB_NAME": job_name,
            "SM_HPS": json.dumps(dict(hyperparameters)),
            "SM_CHANNELS": json.dumps(sorted(channels)),
            "SM_INPUT_DIR": str(input_dir),
            "SM_INPUT_CONFIG_DIR": str(input_dir / "config"),
            "SM_INPUT_DATA_CONFIG": (input_dir / "config" / "inputdataconfig.json").read_text(),
            "SM_MODEL_DIR": str(job_dir / "model"),
            "SM_OUTPUT_DIR": str(output_dir),
            "SM_OUTPUT_DATA_DIR": str(output_dir / "data"),
            "SM_OUTPUT_INTERMEDIATE_DIR": str(output_dir / "intermediate"),
            "SM_NUM_CPUS": str(cpus),
            "SM_NUM_GPUS": str(_num_gpus()),
            "SM_CURRENT_HOST": "algo-1",
            "SM_HOSTS": json.dumps(["algo-1"]),
            "SM_RESOURCE_CONFIG": json.dumps(RESOURCE_CONFIG),
            "SM_NETWORK_INTERFACE_NAME": "eth0",
            "SM_LOG_LEVEL": "20",
        }
    )
    for name, value in hyperparameters.items():
        env[f"SM_HP_{name.upper()}"] = str(value)
    for name, folder in channels.items():
        env[f"SM_CHANNEL_{name.upper()}"] = str(folder)
    return env


def failure_reason(output_dir: Path, log_text: str, exit_code: int) -> str:
    """A failed algorithm's FailureReason: ``output/failure`` if it wrote one, else the exit code and
    the last log line (at most 1,024 characters, as SageMaker keeps)."""
    failure = output_dir / "failure"
    if failure.is_file():
        text = failure.read_text(encoding="utf-8", errors="replace").strip()
        if text:
            return text[:FAILURE_REASON_LIMIT]
    lines = [line for line in log_text.splitlines() if line.strip()]
    tail = lines[-1].strip() if lines else "no output"
    return f"AlgorithmError: the training process exited with code {exit_code}; last log line: {tail}"[
        :FAILURE_REASON_LIMIT
    ]


ProcessEnd = Literal["exited", "stopped", "deadline", "killed"]


class AlgorithmProcess:
    """``python -m <module>`` in its own process group (a stop kills it and anything it spawned), its
    stdout and stderr in ``log_path``."""

    def __init__(
        self, python: str, module: str, job_dir: Path, env: Mapping[str, str], log_path: Path
    ) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [python, "-m", module],
                cwd=job_dir,
                env=dict(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def wait(
        self,
        stop_event: threading.Event,
        deadline: float,
        *,
        kill_at: float | None = None,
        stop_grace_seconds: float = 5.0,
    ) -> tuple[ProcessEnd, int | None]:
        """Wait for the exit; a stop request or ``deadline`` (``time.monotonic()``) terminates it (SIGTERM,
        then SIGKILL after the grace period); ``kill_at`` SIGKILLs it (fault injection). Returns why it
        ended and, for ``exited``, the exit code. The process never outlives this call."""
        try:
            while True:
                exit_code = self.process.poll()
                if exit_code is not None:
                    return "exited", exit_code
                now = time.monotonic()
                if stop_event.is_set():
                    self.terminate(stop_grace_seconds)
                    return "stopped", None
                if now >= deadline:
                    self.terminate(stop_grace_seconds)
                    return "deadline", None
                if kill_at is not None and now >= kill_at:
                    self.kill(signal.SIGKILL)
                    return "killed", None
                wake = min(deadline, kill_at or math.inf) - now
                stop_event.wait(max(0.0, min(POLL_SECONDS, wake)))
        finally:
            if self.process.poll() is None:  # an unexpected error above: never leave the process behind
                self.kill(signal.SIGKILL)

    def kill(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the process group and wait (up to 10 s) for the exit."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            LOG.warning("training process %s did not exit after %s", self.process.pid, sig.name)

    def terminate(self, grace_seconds: float) -> None:
        """SageMaker's stop: SIGTERM, a grace period for the algorithm to save, then SIGKILL."""
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=grace_seconds)
        except (ProcessLookupError, PermissionError):
            pass
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)


class TrainingRun:
    """One training job's worker (runs in its own thread; see the module docstring)."""

    def __init__(
        self,
        handle: JobHandle,
        s3: Any,
        job_dir: Path,
        algorithms: Mapping[str, Algorithm],
        faults: Faults,
        *,
        python: str = sys.executable,
        stop_grace_seconds: float = 5.0,
        keep_input_data: bool = False,
        logs: Any = None,
        threads: int | None = DEFAULT_ALGORITHM_THREADS,
    ) -> None:
        self.handle = handle
        self.threads = threads
        self.s3 = s3
        self.logs = logs
        self.job_dir = job_dir
        self.algorithms = algorithms
        self.faults = faults
        self.python = python
        self.stop_grace_seconds = stop_grace_seconds
        self.keep_input_data = keep_input_data
        request = handle.request
        self.max_runtime = float(request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", 86400))
        self.deadline = time.monotonic() + self.max_runtime
        self.log_path = job_dir / "logs" / "algo-1.log"

    # -- paths ------------------------------------------------------------------------------------

    @property
    def input_dir(self) -> Path:
        return self.job_dir / "input"

    @property
    def model_dir(self) -> Path:
        return self.job_dir / "model"

    @property
    def output_dir(self) -> Path:
        return self.job_dir / "output"

    def _set(self, secondary: str, **outputs: Any) -> None:
        self.handle.update(secondary=secondary, message=STATUS_MESSAGES.get(secondary), **outputs)

    def _check_stop(self) -> None:
        # Between phases: a Stop or an exceeded runtime ends the job before the next phase starts.
        if self.handle.stop_event.is_set():
            raise self.handle.stopped()
        if time.monotonic() >= self.deadline:
            raise self._max_runtime_exceeded()

    def _max_runtime_exceeded(self) -> JobEnded:
        return self.handle.stopped(
            secondary="MaxRuntimeExceeded",
            failure_reason=(
                f"MaxRuntimeExceeded: Training job exceeded MaxRuntimeInSeconds provided "
                f"({self.max_runtime:g} seconds)"
            ),
        )

    # -- the job ----------------------------------------------------------------------------------

    def run(self) -> None:
        """Run the job to a terminal state (never raises)."""
        try:
            run_to_end(self.handle, "training", self._run)
        finally:
            if not self.keep_input_data:
                shutil.rmtree(self.input_dir / "data", ignore_errors=True)

    def _run(self) -> None:
        injected = self.faults.take_failure("training")
        if injected is not None:
            raise self.handle.fail(injected)
        request = self.handle.request
        try:
            algorithm = resolve_image(
                request["AlgorithmSpecification"].get("TrainingImage", ""), self.algorithms
            )
        except UnsupportedImage as error:
            raise self.handle.fail(str(error)) from None
        if algorithm.training_module is None:
            raise self.handle.fail(
                f"ClientError: image {algorithm.name} has no local training implementation"
            )
        self._check_stop()
        self._set("Downloading", TrainingStartTime=utcnow())
        channels = self._download_channels()
        self._check_stop()
        self._set("Training")
        exit_code = self._train(algorithm, channels)
        if exit_code != 0:
            raise self.handle.fail(self._failure_reason(exit_code), **self._metrics(algorithm))
        self._check_stop()
        self._set("Uploading")
        artifacts = self._upload()
        self.handle.update(
            status="Completed",
            secondary="Completed",
            message=STATUS_MESSAGES["Completed"],
            ModelArtifacts={"S3ModelArtifacts": artifacts},
            **self._metrics(algorithm),
        )

    # -- Downloading ------------------------------------------------------------------------------

    def _download_channels(self) -> dict[str, Path]:
        request = self.handle.request
        self.model_dir.mkdir(parents=True, exist_ok=True)
        (self.output_dir / "data").mkdir(parents=True, exist_ok=True)
        input_config = {
            channel["ChannelName"]: {
                "ContentType": channel.get("ContentType"),
                "TrainingInputMode": channel.get("InputMode")
                or request["AlgorithmSpecification"].get("TrainingInputMode", "File"),
                "S3DistributionType": channel.get("DataSource", {})
                .get("S3DataSource", {})
                .get("S3DataDistributionType", "FullyReplicated"),
                "RecordWrapperType": channel.get("RecordWrapperType", "None"),
            }
            for channel in request.get("InputDataConfig", [])
        }
        write_job_config(self.input_dir, dict(request.get("HyperParameters", {})), input_config)
        channels: dict[str, Path] = {}
        for channel in request.get("InputDataConfig", []):
            name = channel["ChannelName"]
            folder = self.input_dir / "data" / name
            folder.mkdir(parents=True, exist_ok=True)
            source = channel.get("DataSource", {}).get("S3DataSource")
            if source is None:
                raise self.handle.fail(
                    f"ClientError: channel {name}: only S3DataSource channels are supported by the local SageMaker"
                )
            try:
                if source["S3DataType"] == "AugmentedManifestFile":
                    self._download_augmented(name, folder, source)
                else:
                    objects = list_data_source(self.s3, source["S3DataType"], source["S3Uri"])
                    if not objects:
                        raise ValueError(f"no objects under {source['S3Uri']}")
                    download_many(self.s3, [(obj.uri, folder / obj.relative) for obj in objects])
            except (ValueError, FileNotFoundError, ClientError, BotoCoreError) as error:
                raise self.handle.fail(
                    f"ClientError: Data download failed: channel {name}: {error}"
                ) from None
            channels[name] = folder
            self._check_stop()
        return channels

    def _download_augmented(self, channel: str, folder: Path, source: Mapping[str, Any]) -> None:
        manifest_uri = S3Uri.parse(source["S3Uri"])
        raw = read_bytes(self.s3, manifest_uri)
        attributes = list(source.get("AttributeNames") or ["source-ref"])
        downloads: dict[str, tuple[S3Uri, Path]] = {}
        lines = 0
        for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            lines += 1
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{manifest_uri} line {number} is not valid JSON ({error.msg})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{manifest_uri} line {number} is not a JSON object")
            missing = [name for name in attributes if name not in record]
            if missing:
                raise ValueError(
                    f"{manifest_uri} line {number}: attribute(s) {', '.join(missing)} from AttributeNames "
                    "not found in the record"
                )
            for name in attributes:
                if not name.endswith("-ref"):
                    continue
                uri = S3Uri.parse(str(record[name]))
                downloads.setdefault(str(uri), (uri, folder / uri.bucket / uri.key))
        if lines == 0:
            raise ValueError(f"manifest {manifest_uri} is empty")
        base = manifest_uri.key.rsplit("/", 1)[-1] or channel
        name = base if base.endswith(".manifest") else f"{base}.manifest"
        # Written byte for byte: the algorithm reads the manifest exactly as stored.
        (folder / name).write_bytes(raw)
        download_many(self.s3, list(downloads.values()))

    # -- Training ---------------------------------------------------------------------------------

    def _train(self, algorithm: Algorithm, channels: Mapping[str, Path]) -> int:
        assert algorithm.training_module is not None
        request = self.handle.request
        env = script_mode_environment(
            job_name=self.handle.name,
            job_arn=self.handle.arn,
            job_dir=self.job_dir,
            hyperparameters=dict(request.get("HyperParameters", {})),
            channels=channels,
            environment=request.get("Environment", {}),
            threads=self.threads,
        )
        kill_after = self.faults.take_kill_after()
        kill_at = time.monotonic() + kill_after if kill_after is not None else None
        started = dt.datetime.now(dt.UTC)
        process = AlgorithmProcess(self.python, algorithm.training_module, self.job_dir, env, self.log_path)
        try:
            end, exit_code = process.wait(
                self.handle.stop_event,
                self.deadline,
                kill_at=kill_at,
                stop_grace_seconds=self.stop_grace_seconds,
            )
        finally:
            # Before the job reaches a terminal state, so the step after it finds the whole log.
            self._publish_log(started)
        if end == "stopped":
            raise self.handle.stopped()
        if end == "deadline":
            raise self._max_runtime_exceeded()
        if end == "killed":
            raise self.handle.fail(
                "InternalServerError: the training instance failed (the algorithm process was "
                f"killed after {kill_after:g} s by fault injection)"
            )
        assert exit_code is not None
        return exit_code

    def _publish_log(self, started: dt.datetime) -> None:
        if self.logs is None:
            return
        try:
            publish_log(self.logs, self.handle.name, self.log_path, started)
        except (ClientError, BotoCoreError, LogEventsRejected) as error:
            # The job's outcome does not depend on its log copy; a loud warning says what is missing.
            LOG.warning("training job %s: log not copied to CloudWatch Logs: %s", self.handle.name, error)

    def _log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def _metrics(self, algorithm: Algorithm) -> dict[str, Any]:
        metrics = parse_final_metrics(self._log_text(), algorithm.metric_definitions)
        return {"FinalMetricDataList": metrics} if metrics else {}

    def _failure_reason(self, exit_code: int) -> str:
        return failure_reason(self.output_dir, self._log_text(), exit_code)

    # -- Uploading --------------------------------------------------------------------------------

    def _upload(self) -> str:
        output = S3Uri.parse(self.handle.request["OutputDataConfig"]["S3OutputPath"]).join(
            self.handle.name, "output"
        )
        try:
            model_tar = package_model(self.model_dir, self.job_dir / "upload" / "model.tar.gz")
            model_uri = output.join("model.tar.gz")
            self.s3.upload_file(str(model_tar), model_uri.bucket, model_uri.key)
            data_dir = self.output_dir / "data"
            if data_dir.is_dir() and any(data_dir.iterdir()):
                data_tar = package_model(data_dir, self.job_dir / "upload" / "output.tar.gz")
                data_uri = output.join("output.tar.gz")
                self.s3.upload_file(str(data_tar), data_uri.bucket, data_uri.key)
        except (ValueError, OSError, ClientError, BotoCoreError) as error:
            raise self.handle.fail(
                f"ClientError: could not upload the model artifacts to {output}: {error}"
            ) from None
        return str(model_uri)
