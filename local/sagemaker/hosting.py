"""Hosting models in-process: download and extract ``model.tar.gz``, load it with the algorithm's
inference handlers (``model_fn``/``input_fn``/``predict_fn``/``output_fn``), and answer requests.

Used by endpoints (one :class:`LoadedModel` per production variant) and by batch transform (one per
job). No HTTP server: a request is a function call, which keeps the latency at the model's own.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import logging
import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from training.artifact import extract_model

from .algorithms import Algorithm, UnsupportedImage, resolve_image
from .errors import ModelError
from .s3 import S3Uri, download_file

LOG = logging.getLogger(__name__)

HANDLER_NAMES = ("model_fn", "input_fn", "predict_fn", "output_fn")


class ModelLoadError(RuntimeError):
    """A model could not be downloaded, extracted or loaded; the message is a usable FailureReason."""


def primary_container(model: Mapping[str, Any]) -> Mapping[str, Any]:
    """A CreateModel request's container (``PrimaryContainer``, else the first of ``Containers``)."""
    container = model.get("PrimaryContainer") or next(iter(model.get("Containers") or []), None)
    if not container:
        raise ModelLoadError(f"model {model.get('ModelName')} has no container")
    return container


# The PyTorch inference toolkit's defaults when the container's Environment names no program or folder.
DEFAULT_PROGRAM = "inference.py"
CONTAINER_MODEL_DIR = "/opt/ml/model"
DEFAULT_SUBMIT_DIRECTORY = f"{CONTAINER_MODEL_DIR}/code"


def import_model_handlers(container: Mapping[str, Any], model_dir: Path, name: str) -> ModuleType:
    """A framework container's handlers: ``SAGEMAKER_PROGRAM`` in ``SAGEMAKER_SUBMIT_DIRECTORY`` (the model
    artifact's ``code/inference.py`` by default), ``/opt/ml/model`` being the extracted artifact.

    The script is imported from the artifact; the ``training`` package it re-exports resolves to this
    process's own copy (one interpreter serves every local model)."""
    environment = container.get("Environment") or {}
    program = str(environment.get("SAGEMAKER_PROGRAM") or DEFAULT_PROGRAM)
    folder = str(environment.get("SAGEMAKER_SUBMIT_DIRECTORY") or DEFAULT_SUBMIT_DIRECTORY)
    if not folder.startswith(CONTAINER_MODEL_DIR):
        raise ModelLoadError(
            f"ClientError: model {name}: SAGEMAKER_SUBMIT_DIRECTORY {folder!r} is not inside {CONTAINER_MODEL_DIR} "
            "(the local SageMaker serves code from the model artifact only)"
        )
    script = model_dir / folder[len(CONTAINER_MODEL_DIR) :].strip("/") / program
    if not script.is_file():
        raise ModelLoadError(
            f"ClientError: model {name}: the serving script {program} (SAGEMAKER_PROGRAM) is not in "
            f"{folder} of the model artifact"
        )
    module_name = "gtpipe_model_" + hashlib.sha256(str(script).encode()).hexdigest()[:16]
    spec = importlib.util.spec_from_file_location(module_name, script)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"ClientError: model {name}: cannot import {program}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    missing = [handler for handler in HANDLER_NAMES if not callable(getattr(module, handler, None))]
    if missing:
        raise ModelLoadError(f"ClientError: model {name}: {program} does not define {', '.join(missing)}")
    return module


def import_handlers(algorithm: Algorithm) -> ModuleType:
    """The algorithm's serving module, checked for the four inference handlers."""
    if not algorithm.inference_module:
        raise ModelLoadError(f"ClientError: image {algorithm.name} has no local inference implementation")
    module = importlib.import_module(algorithm.inference_module)
    missing = [name for name in HANDLER_NAMES if not callable(getattr(module, name, None))]
    if missing:
        raise ModelLoadError(f"{algorithm.inference_module} does not define {', '.join(missing)}")
    return module


@dataclass
class LoadedModel:
    """A model ready to answer: the handlers module, the object ``model_fn`` returned, its files."""

    model_name: str
    algorithm: Algorithm
    handlers: ModuleType
    model: Any
    model_dir: Path
    _batch_output: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        # training.inference's output_fn takes batch=True for the batch-transform form; other handler
        # modules may not, and then rely on the Accept type alone.
        try:
            self._batch_output = "batch" in inspect.signature(self.handlers.output_fn).parameters
        except (TypeError, ValueError):
            self._batch_output = False

    def predict(
        self, body: bytes, content_type: str | None, accept: str | None, *, batch: bool = False
    ) -> tuple[bytes, str]:
        """Run ``input_fn -> predict_fn -> output_fn``; returns ``(body, content type)``.

        Handler errors become :class:`ModelError`: ``status_code`` attributes (the inference errors'
        HTTP status) are kept as ``original_status_code``; anything else is a 500.
        """
        try:
            data = self.handlers.input_fn(body, content_type)
            prediction = self.handlers.predict_fn(data, self.model)
            if batch and self._batch_output:
                output = self.handlers.output_fn(prediction, accept, batch=True)
            else:
                output = self.handlers.output_fn(prediction, accept)
            response_type = self._content_type(accept)
        except Exception as error:
            status = getattr(error, "status_code", 500)
            status = status if isinstance(status, int) and 400 <= status < 600 else 500
            kind = "client" if status < 500 else "server"
            text = str(error) or type(error).__name__
            raise ModelError(
                f'Received {kind} error ({status}) from primary with message "{text}". '
                "See the endpoint's log for more information.",
                original_status_code=status,
                original_message=text,
            ) from error
        data_bytes = output.encode("utf-8") if isinstance(output, str) else bytes(output)
        return data_bytes, response_type

    def _content_type(self, accept: str | None) -> str:
        chooser = getattr(self.handlers, "output_content_type", None)
        if callable(chooser):
            return str(chooser(accept))
        return accept.split(",")[0].strip() if accept and accept != "*/*" else "application/json"

    def unload(self) -> None:
        """Forget the model and delete its extracted files."""
        self.model = None
        shutil.rmtree(self.model_dir, ignore_errors=True)


_IMPORT_LOCK = threading.Lock()


def load_model(
    model: Mapping[str, Any],
    s3: Any,
    work_dir: Path,
    algorithms: Mapping[str, Algorithm],
) -> LoadedModel:
    """Download ``ModelDataUrl``, extract it into a fresh folder under ``work_dir`` and call ``model_fn``.

    Raises :class:`ModelLoadError` with a message fit for a FailureReason.
    """
    container = primary_container(model)
    name = str(model.get("ModelName"))
    try:
        algorithm = resolve_image(str(container.get("Image", "")), algorithms)
    except UnsupportedImage as error:
        raise ModelLoadError(str(error)) from None
    url = container.get("ModelDataUrl")
    if not url:
        raise ModelLoadError(f"ClientError: model {name} has no ModelDataUrl")
    work_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work_dir))
    try:
        tar = download_file(s3, S3Uri.parse(str(url)), folder / "model.tar.gz")
        model_dir = extract_model(tar, folder / "model")
        tar.unlink()
        with _IMPORT_LOCK:  # importing torch from several threads at once is slow and fragile
            if algorithm.framework == "inference":
                handlers = import_model_handlers(container, model_dir, name)
            else:
                handlers = import_handlers(algorithm)
        loaded = handlers.model_fn(str(model_dir))
    except ModelLoadError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    except (ClientError, BotoCoreError) as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise ModelLoadError(f"ClientError: could not download model data {url}: {error}") from None
    except Exception as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise ModelLoadError(f"model_fn failed for {url}: {type(error).__name__}: {error}") from None
    return LoadedModel(name, algorithm, handlers, loaded, folder)
