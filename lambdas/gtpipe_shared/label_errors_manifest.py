"""Label-error finding on manifests: the pipeline's pure steps around :mod:`gtpipe_shared.label_errors`.

Image classification only (one class index per line). Manifest lines are passed without their line ends
(as :func:`gtpipe_shared.manifest.iter_lines` yields them); blank lines are skipped, and line indices count
the non-blank lines. The steps, in pipeline order:

1. :func:`fold_manifests`: the training manifest's lines dealt into stratified folds; per fold, the other
   folds' lines (the fold's training channel, copied byte for byte) and the held-out images as a batch
   transform ``ManifestFile`` (``[{"prefix": "s3://bucket/dir/"}, "relative/key", ...]``).
2. :func:`flag_objects`: the held-out transform outputs (``{"prediction": [...]}`` per image, read into a
   mapping by source-ref) joined with the given labels, flagged by
   :func:`~gtpipe_shared.label_errors.find_label_errors`; each flagged line becomes a review object whose
   ``<attr>-metadata`` carries ``label-error`` (its line index in the training manifest, the model's
   suggestion and the probabilities), so a reviewer sees what the model suggests.
3. :func:`corrected_manifest`: the review's output lines (the review stage's format,
   :func:`gtpipe_shared.labeling_review.reviewed_line`: the decided label replaces the given one) put back
   at their line index; every other line is kept byte for byte. Returns the summary for ledger and report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gtpipe_shared.label_errors import (
    LabelErrorsInputError,
    LabelIssue,
    assign_folds,
    find_label_errors,
    review_summary,
)
from gtpipe_shared.metrics import PredictionError, parse_prediction
from gtpipe_shared.split import SplitError, common_prefix, manifest_prefix, relative_to

LABEL_ERROR_KEY = "label-error"


@dataclass(frozen=True)
class Fold:
    """One fold: the lines its model trains on and the held-out images it predicts."""

    number: int
    train_lines: list[bytes]
    held_out_refs: list[str]

    def images_manifest(self) -> list[Any]:
        """The held-out images as batch transform's ``ManifestFile`` JSON (one bucket, as split's)."""
        common: str | None = None
        for ref in self.held_out_refs:
            common = common_prefix(common, ref)
        try:
            prefix = manifest_prefix(common or "", len(self.held_out_refs))
            return [{"prefix": prefix}, *(relative_to(prefix, ref) for ref in self.held_out_refs)]
        except SplitError as exc:
            raise LabelErrorsInputError(f"fold {self.number}'s held-out images: {exc}") from None


def _labeled(lines: Sequence[bytes], attribute: str) -> list[tuple[dict[str, Any], int]]:
    """Each line parsed, with its class index; names the first line that is not a labeled image."""
    parsed = []
    for number, line in enumerate(lines, start=1):
        try:
            obj = json.loads(line)
        except ValueError:
            raise LabelErrorsInputError(f"training manifest line {number} is not JSON") from None
        label = obj.get(attribute) if isinstance(obj, dict) else None
        if (
            isinstance(label, bool)
            or not isinstance(label, int)
            or not isinstance(obj.get("source-ref"), str)
        ):
            raise LabelErrorsInputError(
                f"training manifest line {number} has no source-ref and class index in {attribute!r} "
                "(label-error finding supports image classification only)"
            )
        parsed.append((obj, label))
    return parsed


def fold_manifests(lines: Sequence[bytes], attribute: str, folds: int, seed: int) -> list[Fold]:
    """The training manifest's non-blank lines dealt into ``folds`` stratified folds (seeded)."""
    kept = [line for line in lines if line.strip()]
    labeled = _labeled(kept, attribute)
    assignment = assign_folds([label for _, label in labeled], folds, seed)
    return [
        Fold(
            number=fold,
            train_lines=[line for line, f in zip(kept, assignment, strict=True) if f != fold],
            held_out_refs=[
                obj["source-ref"] for (obj, _), f in zip(labeled, assignment, strict=True) if f == fold
            ],
        )
        for fold in range(folds)
    ]


@dataclass(frozen=True)
class Flagged:
    """What :func:`flag_objects` found: the issues (line indices of the non-blank lines), the review
    objects (manifest lines) and the source-refs without a usable transform output (not assessed)."""

    issues: list[LabelIssue]
    review_lines: list[dict[str, Any]]
    unassessed: list[str]


def flag_objects(
    lines: Sequence[bytes],
    attribute: str,
    class_names: Sequence[str],
    outputs: Mapping[str, bytes | None],
    max_share: float,
) -> Flagged:
    """Flag the training manifest's likely label errors from out-of-fold transform outputs by source-ref.

    Objects whose output is missing or unreadable are not assessed (listed); when none can be assessed, or
    an output's class count differs from ``class_names``, :class:`LabelErrorsInputError` names the problem.
    ``max_share`` caps the flagged share of the assessed objects."""
    labeled = _labeled([line for line in lines if line.strip()], attribute)
    positions: list[int] = []
    probabilities: list[list[float]] = []
    unassessed: list[str] = []
    for position, (obj, _) in enumerate(labeled):
        body = outputs.get(obj["source-ref"])
        try:
            row = parse_prediction(body) if body is not None else None
        except (PredictionError, ValueError):
            row = None
        if row is None:
            unassessed.append(obj["source-ref"])
            continue
        if len(row) != len(class_names):
            raise LabelErrorsInputError(
                f"the prediction for {obj['source-ref']} has {len(row)} classes, the label set {len(class_names)}"
            )
        positions.append(position)
        probabilities.append(row)
    if not positions:
        raise LabelErrorsInputError(f"no usable out-of-fold prediction for any of {len(labeled)} objects")
    found = find_label_errors(probabilities, [labeled[p][1] for p in positions], max_share)
    issues = [
        LabelIssue(positions[i.index], i.given, i.suggested, i.given_probability, i.suggested_probability)
        for i in found
    ]
    review_lines = [_review_line(labeled[issue.index][0], attribute, class_names, issue) for issue in issues]
    return Flagged(issues, review_lines, unassessed)


def _review_line(
    obj: Mapping[str, Any], attribute: str, class_names: Sequence[str], issue: LabelIssue
) -> dict[str, Any]:
    meta = dict(obj.get(f"{attribute}-metadata") or {})
    meta[LABEL_ERROR_KEY] = {
        **issue.as_dict(),
        "suggested-class-name": class_names[issue.suggested],
        "given-class-name": class_names[issue.given],
    }
    return {**obj, f"{attribute}-metadata": meta}


def corrected_manifest(
    lines: Sequence[bytes], attribute: str, issues: Sequence[LabelIssue], reviewed_lines: Sequence[bytes]
) -> tuple[list[bytes], dict[str, int | float]]:
    """The training manifest with each reviewed object's line replaced by its review output line (placed by
    the ``label-error`` index it carries), and the review summary
    (:func:`~gtpipe_shared.label_errors.review_summary`). Review lines without a label (undecided) leave
    the given line as it is; an index outside the manifest is refused."""
    kept = [line for line in lines if line.strip()]
    flagged = {issue.index for issue in issues}
    replaced: dict[int, bytes] = {}
    decided: dict[int, int] = {}
    for number, line in enumerate((line for line in reviewed_lines if line.strip()), start=1):
        obj = json.loads(line)
        index = (obj.get(f"{attribute}-metadata") or {}).get(LABEL_ERROR_KEY, {}).get("index")
        if index not in flagged:
            raise LabelErrorsInputError(f"review output line {number} is not one of the flagged objects")
        label = obj.get(attribute)
        if isinstance(label, int) and not isinstance(label, bool):
            replaced[index] = json.dumps(obj, separators=(",", ":")).encode()
            decided[index] = label
    corrected = [replaced.get(i, line) for i, line in enumerate(kept)]
    return corrected, review_summary(issues, decided, len(kept))
