"""What the demo says about a run's labels: who labeled how many objects, and the answers people gave against
people labeling everything (``make demo`` prints these lines after the predictions).

The figures come from the runs ledger's item of the run: ``label_counters`` (``human``, ``machine``,
``total``: the labeling job's counters, as the report shows them), and the answers people gave, as the
builtin labeling service measured them (``labeling_team.answers``, else ``labeling_cost.answers``). A run
labeled by the emulated Ground Truth job has no measured answers: each human-labeled object counts
``workersPerObject`` answers, as Ground Truth asks for them. "People labeling everything" is every object
labeled by ``workersPerObject`` people: the saving is what adaptive redundancy and automated labeling
(machine-labeled objects) spare of that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gtpipe_shared.config import LabelingConfig


def configured_workers_per_object(context: Mapping[str, Any]) -> int:
    """``gtpipe:labeling.workersPerObject`` of a synthesis context (the configuration's default if unset)."""
    labeling = context.get("gtpipe:labeling")
    value = labeling.get("workersPerObject") if isinstance(labeling, Mapping) else None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return int(LabelingConfig.model_fields["workers_per_object"].default)


def _count(mapping: Any, key: str) -> int | None:
    value = mapping.get(key) if isinstance(mapping, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return int(value)


def label_lines(run: Mapping[str, Any], workers_per_object: int) -> list[str]:
    """The demo's lines about the run's labels (see the module docstring)."""
    counters = run.get("label_counters")
    human, machine, total = (_count(counters, key) for key in ("human", "machine", "total"))
    if human is None or total is None:
        return ["labels: the runs ledger has no label counters for this run"]
    machine = machine or 0
    lines = [f"labels (runs ledger): {total} objects, {human} labeled by people, {machine} by the machine"]
    answers = _count(run.get("labeling_team"), "answers")
    if answers is None:
        answers = _count(run.get("labeling_cost"), "answers")
    measured = answers is not None
    if answers is None:
        answers = human * workers_per_object
    everything = total * workers_per_object
    per_object = f"{answers / human:.2f}" if human else "-"
    lines.append(
        f"human answers: {answers} ({per_object} per human-labeled object"
        + ("" if measured else f", {workers_per_object} each as Ground Truth asks")
        + ")"
    )
    if everything:
        saved = everything - answers
        lines.append(
            f"people labeling everything: {everything} answers ({total} objects x {workers_per_object}); "
            f"saved {saved} answers ({saved / everything:.1%})"
        )
    return lines
