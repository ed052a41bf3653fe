"""Run ids exactly as the ``start_run`` Lambda derives them (:mod:`gtpipe_shared.naming`).

The shared module is the one source of the rule: ``gtpipe_shared`` is an installed package of this project
(pyproject maps it from ``lambdas/gtpipe_shared``), so the ``gtpipe`` script, the tests and the Lambda
functions import the same module. It only needs the standard library.
"""

from __future__ import annotations

from gtpipe_shared import naming


def run_id_for(bucket: str, key: str, version_id: str | None) -> str:
    """The run id ``start_run`` gives the manifest object ``bucket``/``key`` at ``version_id``."""
    return str(naming.run_id_for(bucket, key, version_id))


def is_run_id(text: str) -> bool:
    """Whether ``text`` has the shape of a gtpipe run id (``<slug>-<16 hex>``)."""
    return bool(naming.RUN_ID_PATTERN.match(text))
