"""Typed errors, so callers can tell a caller's mistake from a bug.

Training follows the built-in algorithms' convention: the failure file starts with ``ClientError:``
when the input (data, hyperparameters) is at fault and ``AlgorithmError:`` otherwise. Serving errors
carry the HTTP status a model server should answer with.
"""

from __future__ import annotations


class TrainingClientError(Exception):
    """The training input (hyperparameters, channels, manifests, images) is invalid."""


class HyperparameterError(TrainingClientError, ValueError):
    """A hyperparameter is unknown, missing or has an invalid value."""


class DataError(TrainingClientError):
    """A channel, manifest, record or image cannot be used for training."""


class InferenceError(Exception):
    """Base class of errors a model server turns into a 4xx answer (see :attr:`status_code`)."""

    status_code = 400


class InvalidInputError(InferenceError, ValueError):
    """The request body is empty, corrupt or not a decodable image (HTTP 400)."""

    status_code = 400


class UnsupportedContentTypeError(InferenceError, ValueError):
    """The request's Content-Type is not one the model accepts (HTTP 415)."""

    status_code = 415


class UnsupportedAcceptError(InferenceError, ValueError):
    """The request's Accept type is not one the model can produce (HTTP 406)."""

    status_code = 406


class ModelArtifactError(ValueError):
    """A model directory is incomplete or was written by an incompatible version."""
