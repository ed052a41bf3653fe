"""The local SageMaker's API errors: :class:`SageMakerServiceError` and the codes it raises."""

from __future__ import annotations


class SageMakerServiceError(Exception):
    """A SageMaker API error: ``code`` is the API error code (``ValidationException``,
    ``ResourceLimitExceeded``, ``ThrottlingException``, ``ResourceInUse`` ...)."""

    def __init__(self, code: str, message: str, *, status_code: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status_code = status_code


# sagemaker-runtime's model: ModelError is HTTP 424 (the container's own status is OriginalStatusCode).
MODEL_ERROR_STATUS = 424


class ModelError(SageMakerServiceError):
    """InvokeEndpoint's ``ModelError``: the model container answered with an error.

    ``original_status_code`` is the status the inference handlers chose (400 bad input, 415 content
    type, 406 accept, 500 a crash); ``original_message`` their message. The runtime API answers HTTP 424
    with these fields, as SageMaker does.
    """

    def __init__(
        self,
        message: str,
        *,
        original_status_code: int,
        original_message: str,
        log_stream_arn: str | None = None,
    ) -> None:
        super().__init__("ModelError", message, status_code=MODEL_ERROR_STATUS)
        self.original_status_code = original_status_code
        self.original_message = original_message
        self.log_stream_arn = log_stream_arn


def validation_error(message: str) -> SageMakerServiceError:
    """The ``sagemaker`` API's ValidationException."""
    return SageMakerServiceError("ValidationException", message)


def runtime_validation_error(message: str) -> SageMakerServiceError:
    """The ``sagemaker-runtime`` API's ValidationError (that API's modeled name for the same thing)."""
    return SageMakerServiceError("ValidationError", message)


def not_found(message: str) -> SageMakerServiceError:
    """ResourceNotFound (Describe*/Stop* of an unknown job)."""
    return SageMakerServiceError("ResourceNotFound", message)


def throttled(action: str) -> SageMakerServiceError:
    """ThrottlingException, as SageMaker answers when a caller exceeds the API rate."""
    return SageMakerServiceError("ThrottlingException", f"Rate exceeded ({action})")
