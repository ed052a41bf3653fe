"""Run one CreateTransformJob locally: the model's inference handlers over every input object.

Inputs: ``S3DataType`` ``ManifestFile`` (a JSON array: ``{"prefix": "s3://bucket/prefix/"}`` then keys
relative to it) or ``S3Prefix``. Each object is one request (``SplitType`` ``None``): ``model_fn`` once per
job, then ``input_fn(body, ContentType)``, ``predict_fn``, ``output_fn(prediction, Accept)`` in the batch
form (``{"prediction": [...]}``), written to ``<S3OutputPath>/<relative key>.out``. The first record that
fails fails the job, and the FailureReason names it.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .algorithms import Algorithm
from .errors import ModelError
from .faults import Faults
from .hosting import LoadedModel, ModelLoadError, load_model
from .jobs import JobHandle, run_to_end, utcnow
from .s3 import S3Uri, list_data_source, read_bytes, write_bytes

LOG = logging.getLogger(__name__)

MEGABYTE = 1024 * 1024


class TransformRun:
    """One transform job's worker (runs in its own thread)."""

    def __init__(
        self,
        handle: JobHandle,
        model: Mapping[str, Any],
        s3: Any,
        job_dir: Path,
        algorithms: Mapping[str, Algorithm],
        faults: Faults,
    ) -> None:
        self.handle = handle
        self.model = model
        self.s3 = s3
        self.job_dir = job_dir
        self.algorithms = algorithms
        self.faults = faults

    def run(self) -> None:
        """Run the job to a terminal state (never raises)."""
        try:
            run_to_end(self.handle, "transform", self._run)
        finally:
            shutil.rmtree(self.job_dir, ignore_errors=True)

    def _run(self) -> None:
        injected = self.faults.take_failure("transform")
        if injected is not None:
            raise self.handle.fail(injected)
        request = self.handle.request
        job_input = request["TransformInput"]
        source = job_input["DataSource"]["S3DataSource"]
        split = job_input.get("SplitType", "None")
        if split != "None":
            raise self.handle.fail(
                f"ClientError: SplitType {split} is not supported by the local SageMaker (use None)"
            )
        compression = job_input.get("CompressionType", "None")
        if compression != "None":
            raise self.handle.fail(
                f"ClientError: CompressionType {compression} is not supported locally (use None)"
            )
        try:
            objects = list_data_source(self.s3, source["S3DataType"], source["S3Uri"])
        except (ValueError, ClientError, BotoCoreError) as error:
            raise self.handle.fail(f"ClientError: cannot read the input {source['S3Uri']}: {error}") from None
        if not objects:
            raise self.handle.fail(f"ClientError: no input objects found at {source['S3Uri']}")
        self.handle.update(TransformStartTime=utcnow())
        try:
            loaded = load_model(self.model, self.s3, self.job_dir, self.algorithms)
        except ModelLoadError as error:
            raise self.handle.fail(f"ClientError: the model could not be loaded: {error}") from None
        try:
            output = request["TransformOutput"]
            accept = output.get("Accept")
            content_type = job_input.get("ContentType")
            limit = int(request.get("MaxPayloadInMB", 6)) * MEGABYTE
            destination = S3Uri.parse(output["S3OutputPath"])
            for obj in objects:
                if self.handle.stop_event.is_set():
                    raise self.handle.stopped(TransformEndTime=utcnow())
                self._transform_one(
                    loaded, obj.uri, destination.join(obj.relative + ".out"), content_type, accept, limit
                )
            self.handle.update(status="Completed", TransformEndTime=utcnow())
        finally:
            loaded.unload()

    def _transform_one(
        self,
        loaded: LoadedModel,
        source: S3Uri,
        target: S3Uri,
        content_type: str | None,
        accept: str | None,
        limit: int,
    ) -> None:
        try:
            body = read_bytes(self.s3, source)
        except (ClientError, BotoCoreError) as error:
            raise self.handle.fail(
                f"ClientError: record {source} could not be read: {error}", TransformEndTime=utcnow()
            ) from None
        if len(body) > limit:
            raise self.handle.fail(
                f"ClientError: record {source} is {len(body)} bytes, over MaxPayloadInMB ({limit // MEGABYTE} MB)",
                TransformEndTime=utcnow(),
            )
        try:
            data, response_type = loaded.predict(body, content_type, accept, batch=True)
        except ModelError as error:
            kind = "ClientError" if error.original_status_code < 500 else "AlgorithmError"
            raise self.handle.fail(
                f"{kind}: record {source} failed ({error.original_status_code}): {error.original_message}",
                TransformEndTime=utcnow(),
            ) from None
        try:
            write_bytes(self.s3, target, data, response_type)
        except (ClientError, BotoCoreError) as error:
            raise self.handle.fail(
                f"ClientError: could not write {target}: {error}", TransformEndTime=utcnow()
            ) from None
