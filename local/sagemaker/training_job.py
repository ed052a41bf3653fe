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

import datetime as dt
import json
import logging
import math
import re
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from training.artifact import package_model

from .algorithm_process import (
    DEFAULT_ALGORITHM_THREADS,
    AlgorithmProcess,
    failure_reason,
    script_mode_environment,
    write_job_config,
)
from .algorithms import Algorithm, UnsupportedImage, resolve_image
from .faults import Faults
from .framework_job import (
    SUBMIT_DIRECTORY,
    FrameworkJobError,
    command_arguments,
    decode_hyperparameters,
    framework_code,
    framework_environment,
    install_code,
    user_hyperparameters,
    write_pipe_stream,
)
from .jobs import JobEnded, JobHandle, run_to_end, utcnow
from .s3 import S3Uri, download_many, list_data_source, read_bytes
from .training_logs import LogEventsRejected, publish_log

LOG = logging.getLogger(__name__)

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


def pipe_manifest_channel(name: str, uri: str, attribute_names: list[str]) -> dict[str, Any]:
    """One InputDataConfig channel as the pipeline's Train state sends it: an augmented manifest streamed in
    Pipe mode as RecordIO (for the requests benches and tests build by hand)."""
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "AugmentedManifestFile",
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
                "AttributeNames": list(attribute_names),
            }
        },
        "ContentType": "application/x-recordio",
        "RecordWrapperType": "RecordIO",
        "InputMode": "Pipe",
        "CompressionType": "None",
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
        if algorithm.training_module is None and algorithm.framework != "training":
            raise self.handle.fail(
                f"ClientError: image {algorithm.name} has no local training implementation"
            )
        self._check_stop()
        self._set("Downloading", TrainingStartTime=utcnow())
        channels = self._download_channels(algorithm)
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

    def _download_channels(self, algorithm: Algorithm) -> dict[str, Path]:
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
                mode = channel.get("InputMode") or request["AlgorithmSpecification"].get("TrainingInputMode")
                if source["S3DataType"] == "AugmentedManifestFile" and algorithm.framework and mode == "Pipe":
                    # A framework container reads the Pipe-mode stream itself (framework_job.write_pipe_stream).
                    pipe = self.input_dir / "data" / f"{name}_0"
                    self._download_augmented(
                        name, folder, source, pipe=pipe, wrapper=channel.get("RecordWrapperType")
                    )
                elif source["S3DataType"] == "AugmentedManifestFile":
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

    def _download_augmented(
        self,
        channel: str,
        folder: Path,
        source: Mapping[str, Any],
        *,
        pipe: Path | None = None,
        wrapper: str | None = None,
    ) -> None:
        """The channel's manifest and its ``-ref`` objects as files in ``folder``; with ``pipe``, instead, the
        Pipe-mode stream SageMaker sends (one record per attribute, in order) written to ``pipe``."""
        manifest_uri = S3Uri.parse(source["S3Uri"])
        raw = read_bytes(self.s3, manifest_uri)
        attributes = list(source.get("AttributeNames") or ["source-ref"])
        downloads: dict[str, tuple[S3Uri, Path]] = {}
        records: list[dict[str, Any]] = []
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
            records.append(record)
            for name in attributes:
                if not name.endswith("-ref"):
                    continue
                uri = S3Uri.parse(str(record[name]))
                downloads.setdefault(str(uri), (uri, folder / uri.bucket / uri.key))
        if lines == 0:
            raise ValueError(f"manifest {manifest_uri} is empty")
        if pipe is not None:
            write_pipe_stream(self.s3, records, attributes, wrapper, pipe)
            return
        base = manifest_uri.key.rsplit("/", 1)[-1] or channel
        name = base if base.endswith(".manifest") else f"{base}.manifest"
        # Written byte for byte: the algorithm reads the manifest exactly as stored.
        (folder / name).write_bytes(raw)
        download_many(self.s3, list(downloads.values()))

    # -- Training ---------------------------------------------------------------------------------

    def _train(self, algorithm: Algorithm, channels: Mapping[str, Path]) -> int:
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
        module, command, cwd = algorithm.training_module or "", None, None
        if algorithm.framework == "training":
            env, command, cwd = self._framework_command(env)
        kill_after = self.faults.take_kill_after()
        kill_at = time.monotonic() + kill_after if kill_after is not None else None
        started = dt.datetime.now(dt.UTC)
        process = AlgorithmProcess(
            self.python, module, self.job_dir, env, self.log_path, command=command, cwd=cwd
        )
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

    def _framework_command(self, env: dict[str, str]) -> tuple[dict[str, str], list[str], Path]:
        """A framework container's process (:mod:`.framework_job`): its environment, command and folder."""
        decoded = decode_hyperparameters(self.handle.request.get("HyperParameters", {}))
        try:
            script = install_code(self.s3, framework_code(decoded), self.job_dir / "code" / "src")
        except FrameworkJobError as error:
            raise self.handle.fail(str(error)) from None
        except (ClientError, BotoCoreError) as error:
            raise self.handle.fail(
                f"ClientError: could not download {SUBMIT_DIRECTORY} {decoded.get(SUBMIT_DIRECTORY)}: {error}"
            ) from None
        user = user_hyperparameters(decoded)
        command = [self.python, script.name, *command_arguments(user)]
        return framework_environment(env, script, user), command, script.parent

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
        # The request's MetricDefinitions, else the built-in's own (a framework container has none).
        requested = self.handle.request["AlgorithmSpecification"].get("MetricDefinitions")
        definitions = tuple(requested) if requested else algorithm.metric_definitions
        metrics = parse_final_metrics(self._log_text(), definitions)
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
