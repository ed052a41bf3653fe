"""``gtpipe report``: download a run's report (``reports/<run_id>/``: ``index.html`` and its figures)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from gtpipe_cli.errors import CliError, Exit

REPORTS_PREFIX = "reports/"
DEFAULT_REPORTS_DIR = Path(".gtpipe") / "reports"
INDEX = "index.html"


def report_prefix(run_id: str) -> str:
    """``reports/<run_id>/`` (docs/design.md, "Data bucket prefixes")."""
    return f"{REPORTS_PREFIX}{run_id}/"


@dataclass(frozen=True)
class DownloadedReport:
    """A report copied to a local folder."""

    uri: str
    folder: Path
    files: list[Path]

    @property
    def index(self) -> Path | None:
        """The local ``index.html`` (None when the report has none)."""
        path = self.folder / INDEX
        return path if path in self.files else None


def report_keys(s3: Any, bucket: str, run_id: str) -> list[str]:
    """Every object key under ``reports/<run_id>/``."""
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=report_prefix(run_id)):
        keys += [str(entry["Key"]) for entry in page.get("Contents", [])]
    return keys


def download_report(s3: Any, bucket: str, run_id: str, folder: Path) -> DownloadedReport | None:
    """Copy ``reports/<run_id>/`` to ``folder`` (same relative paths); None when there is no report."""
    prefix = report_prefix(run_id)
    keys = report_keys(s3, bucket, run_id)
    if not keys:
        return None
    files = []
    for key in keys:
        relative = PurePosixPath(key[len(prefix) :])
        if not relative.parts or ".." in relative.parts or key.endswith("/"):
            continue  # folder markers, and nothing may escape the target folder
        path = folder.joinpath(*relative.parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        files.append(path)
    if not files:
        raise CliError(f"s3://{bucket}/{prefix} holds no report files", Exit.NOT_YET)
    return DownloadedReport(uri=f"s3://{bucket}/{prefix}", folder=folder, files=files)
