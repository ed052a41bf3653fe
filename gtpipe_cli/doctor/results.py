"""What a check answers (:class:`CheckResult`) and how a call that cannot be answered becomes a WARN."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

Status = Literal["OK", "WARN", "FAIL"]

# Error codes that mean "this caller or this endpoint cannot answer", not "the answer is no".
_UNCHECKABLE_CODES: Final = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "NoSuchResourceException",
        "ServiceException",
        "InternalFailure",
        "InternalServerError",
        "NotImplemented",
        "NotImplementedError",
        "TooManyRequestsException",
        "ThrottlingException",
        "UnknownOperationException",
        "InvalidAction",
        "404",
        "500",
        "501",
    }
)
CLIENT_CONFIG: Final = Config(retries={"mode": "standard", "max_attempts": 3})


@dataclass(frozen=True)
class CheckResult:
    """One line of the doctor's report; ``fix`` (and ``docs``) say what to do when not OK."""

    status: Status
    check: str
    finding: str
    fix: str | None = None
    docs: str | None = None

    def lines(self) -> list[str]:
        """``<STATUS>  <check>: <finding>`` and, when not OK, an indented ``fix:`` line."""
        lines = [f"{self.status:<4}  {self.check}: {self.finding}"]
        if self.status != "OK" and self.fix:
            lines.append(f"      fix: {self.fix}" + (f" ({self.docs})" if self.docs else ""))
        return lines


def error_code(error: ClientError) -> str:
    """The AWS error code of ``error``."""
    return str(error.response.get("Error", {}).get("Code", "Error"))


def uncheckable(error: Exception) -> str | None:
    """Why a call could not be answered (denied, not offered here), or None for an answer to act on."""
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return None  # the whole doctor cannot run: main() reports it once
    if isinstance(error, EndpointConnectionError):
        return f"no endpoint answers at {error.kwargs.get('endpoint_url')}"
    if isinstance(error, ClientError):
        code = error_code(error)
        status = str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        if code in _UNCHECKABLE_CODES or status in ("403", "404", "500", "501"):
            message = " ".join(str(error.response.get("Error", {}).get("Message", "")).split())
            if message.startswith("<"):  # an HTML error page: the endpoint does not offer the operation
                return f"HTTP {status or code}: the endpoint does not answer this operation"
            return f"{code}" + (f": {message[:160]}" if message else "")
        return None
    if isinstance(error, BotoCoreError):
        return type(error).__name__
    return None


def cannot_check(error: Exception, name: str, cannot: str, fix: str, docs: str) -> CheckResult:
    """WARN ``<cannot> (<why>)`` for a call that could not be answered; re-raises an error that stops the
    whole doctor (see ``uncheckable``)."""
    why = uncheckable(error)
    if why is None:
        raise error
    return CheckResult("WARN", name, f"{cannot} ({why})", fix, docs)
