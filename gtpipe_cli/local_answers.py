"""The local cloud's simulated labelers and their reference answers.

On the local cloud nobody labels: simulated labelers answer each object from a reference-answer file
(``WorkforceReferenceLabels`` in ``.local/outputs.json``; JSON Lines ``{"source-ref", "label"}`` for
classification, ``{"source-ref", "image_size", "annotations"}`` for boxes). An object missing from it
cannot be labeled: the emulated Ground Truth job fails it (and the run fails at labeling); the builtin
service's simulated labelers release its task, and the job stays open until its lifetime ends
(``taskAvailabilityLifetimeSeconds``, 10 days by default).

- ``gtpipe submit --local --reference-answers FILE`` appends answers to that file
  (:func:`append_reference_answers`) before the manifest is dropped;
- the simulated labelers record each object they release for lack of an answer in ``unanswered.json``
  next to it (:mod:`gtpipe_shared.unanswered`, the file's one home), which ``gtpipe follow --local`` and ``make demo`` show on the
  progress line (:func:`unanswered_notes`).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from gtpipe_shared.unanswered import read_unanswered

from gtpipe_cli.errors import CliError, Exit

_LOCK = threading.Lock()


def unanswered_notes(reference_labels: str | Path, run_id: str | None) -> list[str]:
    """Progress-line notes for ``run_id``: its labeling jobs' objects that nobody can answer."""
    if not run_id:
        return []
    notes = []
    for job, refs in sorted(read_unanswered(reference_labels).items()):
        if job.startswith(f"{run_id}-") and isinstance(refs, list) and refs:
            notes.append(
                f"WARNING: {len(refs)} object(s) without a reference answer, released by the simulated "
                "labelers (the job stays open until its lifetime ends; add answers: gtpipe submit --local "
                "--reference-answers FILE)"
            )
    return notes


def reference_sources(reference_labels: str | Path) -> set[str]:
    """The ``source-ref`` of every answer in the file (empty when it does not exist)."""
    try:
        text = Path(reference_labels).read_text()
    except FileNotFoundError:
        return set()
    sources = set()
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("source-ref"), str):
            sources.add(entry["source-ref"])
    return sources


def check_reference_answers(body: bytes, name: str) -> int:
    """CliError unless every non-blank line is a reference answer; returns how many there are."""
    count = 0
    for number, line in enumerate(body.decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as error:
            raise CliError(f"{name} line {number}: not JSON ({error})", Exit.USAGE) from None
        ok = isinstance(entry, dict) and isinstance(entry.get("source-ref"), str)
        label = entry.get("label") if ok else None
        has_label = (isinstance(label, int) and not isinstance(label, bool)) or isinstance(label, str)
        if not ok or not (has_label or isinstance(entry.get("annotations"), list)):
            raise CliError(
                f'{name} line {number}: a reference answer is {{"source-ref", "label": <class index or '
                'name>} or {"source-ref", "image_size", "annotations": [...]}',
                Exit.USAGE,
            )
        count += 1
    if not count:
        raise CliError(f"{name} has no reference answers", Exit.USAGE)
    return count


def append_reference_answers(reference_labels: str | Path, body: bytes) -> None:
    """Append checked answer lines to the local cloud's reference-answer file (created when missing)."""
    path = Path(reference_labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [line.strip() for line in body.decode("utf-8").splitlines() if line.strip()]
    with _LOCK, path.open("a+b") as file:
        file.seek(0, os.SEEK_END)
        if file.tell():
            file.seek(-1, os.SEEK_END)
            if file.read(1) != b"\n":
                file.write(b"\n")
        file.write(("\n".join(lines) + "\n").encode("utf-8"))
