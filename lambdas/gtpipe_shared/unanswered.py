"""The local cloud's ``unanswered.json``: objects its simulated labelers released for lack of a reference
answer.

One file contract between a writer and a reader that may not import each other: the local cloud's
simulated crowd (:mod:`local.labeling_crowd`) writes it next to the reference answers
(:func:`record_unanswered`); ``gtpipe follow --local`` and ``make demo`` read it
(:func:`read_unanswered`, shown by :func:`gtpipe_cli.local_answers.unanswered_notes`). No Lambda function
uses it. Content: ``{"<labeling job name>": ["<source-ref>", ...]}``.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

UNANSWERED_FILE = "unanswered.json"
_LOCK = threading.Lock()


def unanswered_path(reference_labels: str | Path) -> Path:
    """Where the simulated labelers list what they released: ``unanswered.json`` next to the answers."""
    return Path(reference_labels).with_name(UNANSWERED_FILE)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_unanswered(reference_labels: str | Path) -> dict[str, Any]:
    """The file's content (empty when it is missing or unreadable: nothing was released yet)."""
    return _read(unanswered_path(reference_labels))


def record_unanswered(reference_labels: str | Path, job: str, source_ref: str) -> int:
    """Note that ``job``'s object ``source_ref`` was released for lack of a reference answer; returns how
    many objects of ``job`` are noted (written atomically: readers never see half a file)."""
    path = unanswered_path(reference_labels)
    with _LOCK:
        data = _read(path)
        refs = data.setdefault(job, [])
        if source_ref not in refs:
            refs.append(source_ref)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temporary.write_text(json.dumps(data))
            temporary.replace(path)
        return len(refs)
