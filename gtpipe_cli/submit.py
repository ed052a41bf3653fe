"""``gtpipe submit``: upload a folder of images and drop a manifest under ``incoming/``.

Images go to ``images/<name>/<path relative to the folder>`` (``<name>``: the folder's name unless given).
``source-ref`` values in the manifest may be ``s3://`` URIs (kept as they are) or, with ``--images``, paths
of files in that folder (relative to it, or absolute inside it): those are rewritten to the URIs the
images were uploaded to, in the copy that is dropped. The user's manifest file is never changed, and a
manifest that needs no rewriting is uploaded byte for byte.

Local cloud only: ``reference_answers`` (a JSON Lines file of answers for the simulated labelers, refs
rewritten the same way) is appended to the cloud's reference-answer file before the manifest is dropped
(:mod:`gtpipe_cli.local_answers`); objects of an unlabeled manifest still without an answer are counted.
Lines of an unlabeled manifest that look labeled (a label attribute without its ``-metadata``) are
reported as warnings (:mod:`gtpipe_cli.manifest_check`).
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from gtpipe_cli.errors import CliError, Exit
from gtpipe_cli.local_answers import append_reference_answers, check_reference_answers, reference_sources
from gtpipe_cli.manifest_check import half_label_warnings, is_labeled, json_lines
from gtpipe_cli.naming import run_id_for

MANIFEST_SUFFIXES = (".manifest", ".jsonl")
"""What ``start_run`` accepts under ``incoming/`` (the EventBridge rule's suffix filter)."""
IMAGES_PREFIX = "images/"
UPLOAD_THREADS = 8


@dataclass(frozen=True)
class Submission:
    """What ``submit`` did."""

    bucket: str
    key: str
    version_id: str | None
    run_id: str
    images_uploaded: int
    images_prefix: str | None
    refs_rewritten: int
    warnings: tuple[str, ...] = ()
    references_added: int = 0
    unanswered: int | None = None
    """Local cloud: objects of an unlabeled manifest without a reference answer (None: not checked)."""

    @property
    def manifest_uri(self) -> str:
        """``s3://bucket/incoming/...``."""
        return f"s3://{self.bucket}/{self.key}"


def images_name(folder: Path, name: str | None = None) -> str:
    """The ``<name>`` of ``images/<name>/``: ``name`` or the folder's name, as ``[A-Za-z0-9._-]``."""
    raw = name or folder.resolve().name
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-.")
    if not cleaned:
        raise CliError(f"cannot name the images prefix after {raw!r}: pass --images-name", Exit.USAGE)
    return cleaned


def image_files(folder: Path) -> list[Path]:
    """Every regular file under ``folder`` (recursively, hidden files and folders left out), sorted."""
    if not folder.is_dir():
        raise CliError(f"images folder {folder} not found", Exit.INPUT_MISSING)
    files = [
        path
        for path in folder.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    ]
    if not files:
        raise CliError(f"images folder {folder} has no files", Exit.INPUT_MISSING)
    return sorted(files)


def manifest_key(manifest: Path, incoming_prefix: str, key: str | None = None) -> str:
    """``incoming/<file name>`` (or ``incoming/<key>``); CliError unless it ends in .manifest/.jsonl."""
    name = key or manifest.name
    if not name.endswith(MANIFEST_SUFFIXES):
        raise CliError(
            f"{name} does not end in {' or '.join(MANIFEST_SUFFIXES)}: only those start a run "
            "(rename the file or pass --key NAME.manifest)",
            Exit.USAGE,
        )
    if name.startswith("/") or ".." in PurePosixPath(name).parts:
        raise CliError(f"--key {name!r} must be a relative name", Exit.USAGE)
    return incoming_prefix.rstrip("/") + "/" + name


def rewrite_source_refs(
    body: bytes, folder: Path | None, uri_for: Callable[[Path], str], what: str = "manifest"
) -> tuple[bytes, int]:
    """The manifest with local ``source-ref`` paths replaced by ``uri_for(file)``, and how many were.

    ``s3://`` refs stay. Without ``folder``, a local ref is an error (nothing would upload it); with one,
    the ref must name a file inside it. Lines that are not JSON objects are left for ``start_run`` to
    report. When nothing is rewritten the original bytes come back unchanged.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CliError(f"the {what} is not UTF-8 text: {error}", Exit.USAGE) from None
    root = folder.resolve() if folder else None
    lines = text.splitlines(keepends=True)
    rewritten = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record: Any = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        ref = record.get("source-ref")
        if not isinstance(ref, str) or ref.startswith("s3://"):
            continue
        if root is None:
            raise CliError(
                f"{what} line {number}: source-ref {ref!r} is not an s3:// URI: pass --images DIR to "
                "upload local images",
                Exit.USAGE,
            )
        path = Path(ref.removeprefix("file://"))
        path = (path if path.is_absolute() else root / path).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise CliError(
                f"{what} line {number}: source-ref {ref!r} is neither an s3:// URI nor a file in {root}",
                Exit.INPUT_MISSING,
            )
        record["source-ref"] = uri_for(path)
        ending = line[len(line.rstrip("\r\n")) :]
        lines[number - 1] = json.dumps(record) + (ending or "")
        rewritten += 1
    if not rewritten:
        return body, 0
    return "".join(lines).encode("utf-8"), rewritten


def referenced_files(files: list[Path], folder: Path, body: bytes) -> list[Path]:
    """The ``files`` that lines of the manifest ``body`` name (``source-ref`` relative to ``folder``)."""
    root = folder.resolve()
    refs = {root / str(record.get("source-ref")) for _, record in json_lines(body)}
    return [path for path in files if path.resolve() in refs]


def upload_images(s3: Any, bucket: str, folder: Path, prefix: str, files: list[Path]) -> int:
    """PUT each file to ``<prefix><path relative to folder>`` (parallel); returns the count."""
    root = folder.resolve()

    def put(path: Path) -> None:
        key = prefix + path.resolve().relative_to(root).as_posix()
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=content_type)

    with ThreadPoolExecutor(max_workers=UPLOAD_THREADS) as pool:
        list(pool.map(put, files))
    return len(files)


def submit(
    s3: Any,
    bucket: str,
    incoming_prefix: str,
    manifest: Path,
    *,
    images: Path | None = None,
    name: str | None = None,
    key: str | None = None,
    reference_answers: Path | None = None,
    reference_labels: Path | None = None,
    converted: bytes | None = None,
) -> Submission:
    """Upload the images (when given), then the manifest (rewritten as the module docstring says); the
    run id is the one ``start_run`` derives from the manifest object's bucket, key and version.

    ``reference_labels``: the local cloud's reference-answer file (``WorkforceReferenceLabels``; None for
    AWS), where ``reference_answers`` are appended. ``converted``: the manifest's content, converted from
    another format (``manifest`` then only names it); only the images it refers to are uploaded."""
    if converted is None and not manifest.is_file():
        raise CliError(f"manifest {manifest} not found", Exit.INPUT_MISSING)
    target_key = manifest_key(manifest, incoming_prefix, key)
    body = manifest.read_bytes() if converted is None else converted
    prefix = None
    files: list[Path] = []
    if images is not None:
        files = image_files(images)
        if converted is not None:
            files = referenced_files(files, images, converted)
        prefix = IMAGES_PREFIX + images_name(images, name) + "/"
    root = images.resolve() if images is not None else None

    def uri_for(path: Path) -> str:
        assert root is not None and prefix is not None
        return f"s3://{bucket}/{prefix}{path.relative_to(root).as_posix()}"

    # Check the whole manifest (and the reference answers) before anything is uploaded.
    body, rewritten = rewrite_source_refs(body, images, uri_for)
    answers = b""
    if reference_answers is not None:
        if reference_labels is None:
            raise CliError(
                "--reference-answers is for the local cloud's simulated labelers (--local); on AWS people label",
                Exit.USAGE,
            )
        if not reference_answers.is_file():
            raise CliError(f"reference answers {reference_answers} not found", Exit.INPUT_MISSING)
        answers, _ = rewrite_source_refs(
            reference_answers.read_bytes(),
            images,
            uri_for,
            what=f"reference answers {reference_answers.name}",
        )
        check_reference_answers(answers, str(reference_answers))
    warnings = half_label_warnings(body)
    uploaded = upload_images(s3, bucket, images, prefix, files) if images is not None and prefix else 0
    unanswered = None
    if reference_labels is not None:
        if answers:
            append_reference_answers(reference_labels, answers)
        lines = json_lines(body)
        if lines and not is_labeled(lines[0][1]):
            known = reference_sources(reference_labels)
            unanswered = sum(1 for _, record in lines if record.get("source-ref") not in known)
    put = s3.put_object(Bucket=bucket, Key=target_key, Body=body, ContentType="application/x-ndjson")
    version_id = put.get("VersionId")
    return Submission(
        bucket=bucket,
        key=target_key,
        version_id=version_id,
        run_id=run_id_for(bucket, target_key, version_id),
        images_uploaded=uploaded,
        images_prefix=prefix,
        refs_rewritten=rewritten,
        warnings=tuple(warnings),
        references_added=len(json_lines(answers)),
        unanswered=unanswered,
    )
