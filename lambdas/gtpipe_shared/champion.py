"""Champion/challenger: which serving model a new one is compared with, and the gate's decision.

The champion is the model ``@serving`` names when it serves the same label set (task type and class names
in class-id order, as ``ledger.labeling_fingerprint`` defines it). Both models are scored on the new run's
validation images that the champion did not train on either, so the champion gets no advantage from
images it memorized; the challenger is refused when its score is below the champion's by more than the
margin (README "Quality gate: champion/challenger").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gtpipe_shared import ledger


@dataclass(frozen=True)
class Decision:
    """The gate's answer: ``passed`` and why (the reason is recorded in the ledger and the notification)."""

    passed: bool
    compared: bool
    reason: str


def champion_for(
    serving: Mapping[str, Any] | None, task_type: str, class_names: Sequence[str]
) -> dict[str, Any] | None:
    """``{"model_name", "source_run_id", "metric_value"}`` of the serving model when it predicts the same label
    set as the challenger, else None (nothing serves, or a different task type or class list)."""
    if not serving or not serving.get("model_name") or not serving.get("source_run_id"):
        return None
    served_classes = serving.get("class_names")
    if not isinstance(served_classes, list) or not served_classes:
        return None
    if ledger.labeling_fingerprint(str(serving.get("task_type") or ""), [str(c) for c in served_classes]) != (
        ledger.labeling_fingerprint(task_type, list(class_names))
    ):
        return None
    raw_metrics = serving.get("metrics")
    metrics: Mapping[str, Any] = raw_metrics if isinstance(raw_metrics, Mapping) else {}
    return {
        "model_name": str(serving["model_name"]),
        "source_run_id": str(serving["source_run_id"]),
        "metric_value": metrics.get("metric_value"),
    }


def decide(
    *,
    metric_name: str,
    challenger: float | None,
    champion: float | None,
    images: int,
    margin_points: float,
    min_images: int,
    what: str = "validation images",
) -> Decision:
    """Refuse the challenger when ``challenger < champion - margin_points / 100`` on ``images`` images that
    neither model trained on; with fewer than ``min_images`` of them no comparison is made (it passes: the
    fixed quality threshold already did). ``what`` names the images in the reason."""
    if images < min_images or challenger is None or champion is None:
        return Decision(
            passed=True,
            compared=False,
            reason=f"not compared with the serving model: {images} {what} neither model trained on "
            f"(at least {min_images} needed)",
        )
    margin = margin_points / 100.0
    # Rounded so that a float artefact (0.9 - 0.1 = 0.7999...) cannot decide a tie.
    if round(challenger, 9) < round(champion - margin, 9):
        return Decision(
            passed=False,
            compared=True,
            reason=f"worse than the serving model: {metric_name} {challenger:.4g} < {champion:.4g} - "
            f"{margin:.4g} margin (on {images} {what} neither model trained on)",
        )
    return Decision(
        passed=True,
        compared=True,
        reason=f"not worse than the serving model: {metric_name} {challenger:.4g} >= {champion:.4g} - "
        f"{margin:.4g} margin (on {images} {what} neither model trained on)",
    )
