"""The tool's errors and exit codes (documented in the README, "Command-line tool")."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    """Exit codes of ``gtpipe``.

    Run outcomes (``follow``, ``submit --follow``) use 0-4; problems of the tool or its target use the
    BSD ``sysexits.h`` numbers, so a script can tell "the run failed" from "gtpipe could not ask".
    """

    OK = 0
    RUN_FAILED = 1
    RUN_REJECTED = 2
    """The quality gate rejected the model, or the execution ended otherwise (aborted, timed out)."""
    UNKNOWN_RUN = 3
    NOT_YET = 4
    """``follow --timeout`` passed while the run was still running; ``report``: no report yet."""
    NO_MODEL = 5
    """``predict``: the API answered 503 NoModel (no run has deployed a model yet)."""
    REFUSED = 6
    """``predict``: the API refused at least one image (4xx/5xx other than NoModel)."""
    PREFLIGHT_FAILED = 7
    """``doctor``: at least one check FAILed (a blocker for ``cdk deploy`` or a run)."""
    DEPLOY_REFUSED = 8
    """``deploy --package``: the package may not be deployed (not Approved, another stack's group, another
    label set than the serving endpoint, nothing serving yet)."""
    USAGE = 64
    INPUT_MISSING = 66
    """A local file is missing: manifest, image, images folder, ``.local/outputs.json``."""
    UNAVAILABLE = 69
    """The target is not there: stack not found, the local cloud not running or not answering."""
    AWS_ERROR = 70
    """An AWS API call failed for another reason (the message names the call and the error)."""
    NO_CREDENTIALS = 77


class CliError(Exception):
    """A problem the tool reports as one line on stderr, exiting with :attr:`code` (no traceback)."""

    def __init__(self, message: str, code: Exit = Exit.AWS_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
