"""Run ids exactly as the ``start_run`` Lambda derives them (``lambdas/gtpipe_shared/naming.py``).

The shared module is the one source of the rule. Tests and the Lambda import it as ``gtpipe_shared``
(``lambdas/`` is on their path); the installed ``gtpipe`` script does not have ``lambdas/`` on its path,
so the module file is loaded from the source tree next to this package (the project is installed in
editable mode by ``make install``). It only needs the standard library.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

from gtpipe_cli.errors import CliError, Exit

SHARED_DIR = Path(__file__).resolve().parents[1] / "lambdas" / "gtpipe_shared"
SHARED_NAMING = SHARED_DIR / "naming.py"


def load_shared(module: str, what: str) -> ModuleType:
    """The ``gtpipe_shared.<module>`` module (imported, or loaded from the source tree); ``what`` (``the
    run-id rule``) names it when it cannot be loaded."""
    try:
        return importlib.import_module(f"gtpipe_shared.{module}")
    except ImportError:
        pass
    path = SHARED_DIR / f"{module}.py"
    name = f"gtpipe_cli._shared_{module}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None or not path.is_file():
        raise CliError(
            f"cannot load {what} from {path}: install gtpipe from its source tree (make install)",
            Exit.INPUT_MISSING,
        )
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded  # dataclasses look their module up while the class is built
    spec.loader.exec_module(loaded)
    return loaded


@cache
def shared_naming() -> ModuleType:
    """The ``gtpipe_shared.naming`` module (imported, or loaded from the source tree)."""
    return load_shared("naming", "the run-id rule")


def run_id_for(bucket: str, key: str, version_id: str | None) -> str:
    """The run id ``start_run`` gives the manifest object ``bucket``/``key`` at ``version_id``."""
    return str(shared_naming().run_id_for(bucket, key, version_id))


def is_run_id(text: str) -> bool:
    """Whether ``text`` has the shape of a gtpipe run id (``<slug>-<16 hex>``)."""
    return bool(shared_naming().RUN_ID_PATTERN.match(text))
