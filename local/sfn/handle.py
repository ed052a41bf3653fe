"""The installed extensions of local.sfn: which Lambda registry and SageMaker answer the interpreter.

:func:`local.sfn.install` activates one :class:`Handle` per process; the task states read it through
:func:`active_handle` when they run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from local.sagemaker.api import SageMakerService

from .iam import Authorizer
from .lambdas import LambdaRegistry

# --------------------------------------------------------------------------------------------------
# Installation state
# --------------------------------------------------------------------------------------------------


@dataclass
class Handle:
    """The installed extensions; also a context manager that uninstalls on exit."""

    lambdas: LambdaRegistry
    sagemaker: SageMakerService
    poll_interval: float
    retry_interval_scale: float
    principals: Authorizer | None = None
    """Authorizes each integration call with the state machine's role (None: not evaluated)."""

    def uninstall(self) -> None:
        """Restore moto's interpreter (same as :func:`local.sfn.uninstall`)."""
        # Deferred: moto_patches installs handles, so it imports this module.
        from .moto_patches import uninstall

        uninstall()

    def __enter__(self) -> Handle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.uninstall()


LOCK = threading.Lock()
"""Held by :func:`local.sfn.install` / :func:`local.sfn.uninstall` while they patch and activate."""
_ACTIVE: Handle | None = None


def active_handle() -> Handle:
    """The installed :class:`Handle`; raises ``RuntimeError`` if :func:`local.sfn.install` was not called."""
    handle = _ACTIVE
    if handle is None:
        raise RuntimeError("local.sfn is not installed: call local.sfn.install() first")
    return handle


def is_installed() -> bool:
    """Whether :func:`local.sfn.install` is in effect."""
    return _ACTIVE is not None


def set_active(handle: Handle | None) -> None:
    """Make ``handle`` the installed one (None: nothing installed); the caller holds :data:`LOCK`."""
    global _ACTIVE
    _ACTIVE = handle
