"""Synthesizes the CDK app for the local cloud, the way ``cdk synth`` does.

The CDK CLI runs the ``app`` command of ``cdk.json`` with two environment variables: ``CDK_OUTDIR`` (where
to write the cloud assembly) and ``CDK_CONTEXT_JSON`` (``cdk.json``'s context merged with ``-c`` values and
the CLI's own defaults). :func:`synthesize` does exactly that, so the assembly is what ``cdk synth``
produces, with one difference that matters here: context values may be JSON objects and lists (the CLI's
``-c key=value`` passes strings only), which the local configuration needs for ``gtpipe:hyperparameters``.

An assembly is reused when its stamp (context plus size/mtime of every source file the app reads) still
matches, so repeated ``local.cli up``/``local.demo`` runs skip the ~15-30 s synthesis. Processes that share
an assembly directory (the test suite's pytest-xdist workers) take turns through a lock file beside it
(``<dir>.lock``, filelock): one synthesizes, the others then find its stamp fresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from filelock import FileLock

PROJECT_ROOT: Final = Path(__file__).resolve().parents[1]
STAMP_FILE: Final = ".gtpipe-local-stamp"
SOURCE_DIRS: Final = ("infra", "lambdas", "state_machines", "training")
SOURCE_FILES: Final = ("app.py", "cdk.json")

# What the CDK CLI adds to every synthesis (cdk synth's defaults), so asset and path metadata match.
CLI_CONTEXT: Final[dict[str, Any]] = {
    "aws:cdk:enable-path-metadata": True,
    "aws:cdk:enable-asset-metadata": True,
    "aws:cdk:version-reporting": True,
    "aws:cdk:bundling-stacks": ["**"],
}


class SynthError(RuntimeError):
    """The CDK app failed to synthesize (the message holds its output)."""


def project_context(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The ``context`` of ``cdk.json``."""
    return dict(json.loads((root / "cdk.json").read_text()).get("context", {}))


def _fingerprint(root: Path) -> list[tuple[str, int, int]]:
    entries: list[tuple[str, int, int]] = []
    paths = [root / name for name in SOURCE_FILES]
    for folder in SOURCE_DIRS:
        paths.extend(sorted((root / folder).rglob("*")))
    for path in paths:
        if (
            path.is_file()
            and "__pycache__" not in path.parts
            and path.suffix in (".py", ".json", "", ".js", ".css", ".html")
        ):
            stat = path.stat()
            entries.append((str(path.relative_to(root)), stat.st_size, stat.st_mtime_ns))
    return entries


def assembly_stamp(context: Mapping[str, Any], root: Path = PROJECT_ROOT) -> str:
    """A digest of the synthesis inputs: the context and the app's source files."""
    payload = json.dumps({"context": context, "sources": _fingerprint(root)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def synthesize(
    out_dir: str | Path,
    overrides: Mapping[str, Any] | None = None,
    *,
    root: Path = PROJECT_ROOT,
    force: bool = False,
    timeout: float = 300.0,
) -> Path:
    """Synthesize the app into ``out_dir`` with ``cdk.json``'s context plus ``overrides`` (reused when
    fresh). Returns ``out_dir``; raises :class:`SynthError` with the app's output on failure."""
    out = Path(out_dir).resolve()
    context = {**project_context(root), **CLI_CONTEXT, **dict(overrides or {})}
    stamp = assembly_stamp(context, root)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Without the lock two processes that find no assembly both remove and recreate the directory, and one
    # fails (FileExistsError) or deploys a half-written assembly.
    with FileLock(f"{out}.lock"):
        return _synthesize_unlocked(out, context, stamp, root=root, force=force, timeout=timeout)


def _synthesize_unlocked(
    out: Path, context: dict[str, Any], stamp: str, *, root: Path, force: bool, timeout: float
) -> Path:
    stamp_path = out / STAMP_FILE
    if (
        not force
        and (out / "manifest.json").is_file()
        and stamp_path.is_file()
        and stamp_path.read_text() == stamp
    ):
        return out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    command = shlex.split(json.loads((root / "cdk.json").read_text())["app"])
    env = {
        **os.environ,
        "CDK_OUTDIR": str(out),
        "CDK_CONTEXT_JSON": json.dumps(context),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    try:
        result = subprocess.run(
            command, cwd=root, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise SynthError(f"cdk synth did not finish within {timeout:.0f} s") from error
    if result.returncode != 0 or not (out / "manifest.json").is_file():
        raise SynthError(
            f"cdk synth failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    stamp_path.write_text(stamp)
    return out
