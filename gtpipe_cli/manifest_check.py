"""Checks ``gtpipe submit`` makes before uploading a manifest, with ``start_run``'s own rules.

The rules live in :mod:`gtpipe_shared.manifest_hints` (standard library only), the installed package the
Lambda functions bundle.
"""

from __future__ import annotations

import json
from typing import Any

from gtpipe_shared import manifest_hints


def json_lines(body: bytes) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` of each line that is a JSON object (others are ``start_run``'s to report)."""
    found = []
    for number, line in enumerate(body.decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            found.append((number, record))
    return found


def is_labeled(record: dict[str, Any]) -> bool:
    """The line carries a label attribute with its ``-metadata`` (an augmented manifest's line)."""
    return any(f"{key}-metadata" in record for key in record if not key.endswith("-metadata"))


def half_label_warnings(body: bytes) -> list[str]:
    """``start_run``'s warnings about lines of an unlabeled manifest that look labeled (a label attribute
    without its ``-metadata``); the configured attribute name is not known here, so only values that look
    like labels count."""
    lines = json_lines(body)
    if not lines or is_labeled(lines[0][1]):
        return []
    warnings = manifest_hints.HalfLabelWarnings()
    for number, record in lines:
        warnings.check(number, record)
    return [str(message) for message in warnings.messages()]
