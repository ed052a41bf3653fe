"""Helpers of the ``gtpipe`` CLI tests: run the CLI in-process and capture what it prints."""

from __future__ import annotations

import io
from dataclasses import dataclass

from gtpipe_cli.main import main


@dataclass
class CliResult:
    """Exit code and output of one ``gtpipe`` invocation."""

    code: int
    out: str
    err: str


def gtpipe(*argv: str) -> CliResult:
    """Run ``gtpipe argv...`` in this process (non-TTY output)."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return CliResult(code, out.getvalue(), err.getvalue())
