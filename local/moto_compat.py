"""The one moto version guard of the local cloud.

Every module that patches or subclasses moto internals (:mod:`local.sfn.moto_patches`,
:mod:`local.sagemaker.moto_api`, :mod:`local.eventbridge`, :mod:`local.lambda_api` ...) was written
against :data:`MOTO_VERSION` and checks its own patch points at install time; a check that finds a moved
or changed internal raises :class:`MotoInternalsChanged` through :func:`raise_if_changed`, so a moto
upgrade fails loudly instead of silently running moto's own behaviour.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import moto

MOTO_VERSION: Final[str] = "5.2.5"
"""The moto release the local cloud's patch points were written and tested against (pinned)."""


class MotoInternalsChanged(RuntimeError):
    """moto no longer has the shape a local patch relies on (see :data:`MOTO_VERSION`)."""


def raise_if_changed(patcher: str, problems: Sequence[str]) -> None:
    """Raise :class:`MotoInternalsChanged` naming ``patcher`` (``local.sfn``) if ``problems`` is not empty."""
    if problems:
        raise MotoInternalsChanged(
            f"moto {moto.__version__} differs from {MOTO_VERSION}, which {patcher} patches: "
            + "; ".join(problems)
        )
