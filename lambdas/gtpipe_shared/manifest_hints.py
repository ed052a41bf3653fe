"""Lines that look labeled but are not: a label attribute without its ``-metadata`` (or the reverse).

Ground Truth (and ``start_run``) treat a line as labeled only when it carries a label attribute ``K`` *and*
``K-metadata``. A line with just ``K`` is an unlabeled line: it is sent to (paid) labeling and its label is
ignored. These hints let ``start_run`` record a warning in the ledger and ``gtpipe submit`` print one
before the upload. Standard library only: the CLI loads this file from the source tree
(``gtpipe_cli/manifest_check.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

METADATA_SUFFIX = "-metadata"


def looks_like_label(value: Any) -> bool:
    """A class id (integer) or a bounding-box label (an object with an ``annotations`` list)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, Mapping) and isinstance(value.get("annotations"), list)


def half_labels(obj: Mapping[str, Any], label_attribute: str | None = None) -> list[str]:
    """What makes one unlabeled line look labeled, one phrase per attribute (empty when nothing does).

    ``K`` without ``K-metadata`` counts when ``K`` is the configured ``label_attribute`` or its value looks
    like a label; ``K-metadata`` without ``K`` always counts.
    """
    found = []
    for key, value in obj.items():
        if key == "source-ref":
            continue
        if key.endswith(METADATA_SUFFIX):
            attribute = key[: -len(METADATA_SUFFIX)]
            if attribute and attribute not in obj:
                found.append(f"'{key}' without '{attribute}'")
            continue
        if f"{key}{METADATA_SUFFIX}" in obj:
            continue
        if key == label_attribute or looks_like_label(value):
            found.append(f"label attribute '{key}' without '{key}{METADATA_SUFFIX}'")
    return found


@dataclass
class HalfLabelWarnings:
    """Collects :func:`half_labels` over a manifest: each phrase with its line count and first line."""

    label_attribute: str | None = None
    found: dict[str, list[int]] = field(default_factory=dict)

    def check(self, number: int, obj: Mapping[str, Any]) -> None:
        """Check one line (1-based ``number``)."""
        for phrase in half_labels(obj, self.label_attribute):
            seen = self.found.setdefault(phrase, [0, number])
            seen[0] += 1

    def messages(self) -> list[str]:
        """One warning per phrase: how many lines, the first, and what happens to them."""
        return [
            f"{count} line(s) (first: line {first}) have {phrase}: such lines are unlabeled, so the manifest "
            "is sent to labeling (paid, with Ground Truth) and their labels are ignored; a labeled line needs "
            "the attribute and its -metadata, as Ground Truth writes them"
            for phrase, (count, first) in self.found.items()
        ]
