"""CPython 3.12 and a copy of the Lambda runtime's packages, for importing every function as deployed.

Functions deploy on ``python3.12`` (infra/constructs/lambda_function.py) with the public Powertools v3 layer
for python3.12; the local cloud runs them on this venv's Python 3.11. ``find_python312`` locates a 3.12
interpreter (``$GTPIPE_PYTHON312``, then pyenv's ``~/.pyenv/versions/3.12*/bin/python3.12``, then
``python3.12`` on PATH); ``python -m infra.layers.runtime312 build`` (``make lambda-runtime``) installs
``runtime-requirements.txt`` for Lambda's platform into ``build/lambda-runtime-py312`` (wheels only, as for
the report layer); ``python -m infra.layers.runtime312 python`` prints the interpreter or says how to get one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from infra.layers import LAMBDA_PLATFORM, ROOT

RUNTIME_REQUIREMENTS = Path(__file__).resolve().parent / "runtime-requirements.txt"
RUNTIME_DIR = ROOT / "build" / "lambda-runtime-py312"
_STAMP = RUNTIME_DIR / ".requirements"
PYTHON312_ENV = "GTPIPE_PYTHON312"
HOW_TO_GET_PYTHON312 = (
    f"no CPython 3.12 found: set {PYTHON312_ENV} to a python3.12 executable, or install one with pyenv "
    "(`pyenv install 3.12`; `make python312` finds ~/.pyenv/versions/3.12*), or put python3.12 on PATH. "
    "Debian bookworm has no python3.12 package."
)


def _is_python312(candidate: str) -> bool:
    try:
        probe = subprocess.run(
            [candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 12)"],
            capture_output=True,
            timeout=60,
        )
    except OSError:
        return False
    return probe.returncode == 0


def find_python312() -> str | None:
    """A CPython 3.12 that runs, from ``$GTPIPE_PYTHON312``, pyenv, or PATH (in that order), or None."""
    candidates = [
        os.environ.get(PYTHON312_ENV),
        *sorted(map(str, Path.home().glob(".pyenv/versions/3.12*/bin/python3.12")), reverse=True),
        shutil.which("python3.12"),
    ]
    return next((c for c in candidates if c and _is_python312(c)), None)


def runtime_is_current() -> bool:
    """Whether ``build/lambda-runtime-py312`` holds the current requirements' packages."""
    return _STAMP.is_file() and _STAMP.read_text() == RUNTIME_REQUIREMENTS.read_text()


def build_runtime(python: str = sys.executable) -> Path:
    """Install the runtime requirements for CPython 3.12 manylinux x86_64 into :data:`RUNTIME_DIR`."""
    shutil.rmtree(RUNTIME_DIR, ignore_errors=True)
    pip = [python, "-m", "pip", "install", "--quiet", "--no-compile", "--only-binary=:all:", *LAMBDA_PLATFORM]
    subprocess.run(
        [*pip, "--target", str(RUNTIME_DIR), "--requirement", str(RUNTIME_REQUIREMENTS)], check=True
    )
    _STAMP.write_text(RUNTIME_REQUIREMENTS.read_text())
    return RUNTIME_DIR


def main(argv: list[str]) -> int:
    """``build``: install the runtime packages; ``python``: print the 3.12 interpreter (exit 1 without one)."""
    command = argv[0] if argv else "build"
    if command == "build":
        print(build_runtime().relative_to(ROOT))
        return 0
    if command == "python":
        found = find_python312()
        print(found or HOW_TO_GET_PYTHON312, file=sys.stdout if found else sys.stderr)
        return 0 if found else 1
    print(f"usage: python -m infra.layers.runtime312 [build|python]; got {command!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
