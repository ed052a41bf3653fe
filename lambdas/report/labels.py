"""Labels and labeling cost from Ground Truth's output: pure functions over manifest lines and files.

* The labeled (augmented) manifest gives, per line, the label (a class id, or boxes), ``confidence``
  (classification) or ``objects[].confidence`` (boxes), ``human-annotated`` and ``creation-date``.
* ``annotations/consolidated-annotation/consolidation-response/iteration-N/<time>.json`` lists the
  objects people labeled in iteration N (one entry per object).
* ``activelearning/auto-annotation/N/output/auto_annotator_output.txt`` lists the objects automated
  labeling labeled in iteration N (one ``<datasetObjectId> <JSON>`` line each). When these files exist
  they decide the iteration of machine labels; otherwise a machine label is attributed to the first
  iteration whose last consolidation time is not before its ``creation-date``, and without times to the
  last iteration.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gtpipe_shared.manifest import is_blank, label_candidates
from gtpipe_shared.pricing import LabelingPrices, human_object_cost
from gtpipe_shared.tasks import task_spec

from report.model import ClassLabels, CostSummary, IterationCost, LabelSummary

CONSOLIDATION_DIR = "annotations/consolidated-annotation/consolidation-response/"
AUTO_ANNOTATION_DIR = "activelearning/auto-annotation/"
AUTO_ANNOTATION_FILE = "auto_annotator_output.txt"
AUTO_ANNOTATION_NOTE = "machine labels per iteration as automated labeling recorded them (activelearning/)"
_ITERATION_DIR = re.compile(r"iteration-([0-9]{1,6})/")
_AUTO_DIR = re.compile(r"auto-annotation/([0-9]{1,6})/")
_STAMP = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[_T ]([0-9]{2}:[0-9]{2}:[0-9]{2})")


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 time (``Z``, offset or naive UTC, as Ground Truth writes it) as aware UTC, else None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def job_root(output_manifest_uri: str) -> str:
    """``s3://b/labeling/<job>/`` from ``s3://b/labeling/<job>/manifests/output/output.manifest``."""
    marker = "/manifests/output/"
    if marker in output_manifest_uri:
        return output_manifest_uri.split(marker, 1)[0] + "/"
    return output_manifest_uri.rsplit("/", 1)[0] + "/"


@dataclass
class IterationRecord:
    """Human-labeled objects of one iteration and the time its last consolidation file was written."""

    iteration: int
    human_objects: int
    ended_at: datetime | None


def iteration_of(key: str) -> int | None:
    """The iteration number of a consolidation-response key (``.../iteration-3/<time>.json``)."""
    match = _ITERATION_DIR.search(key)
    return int(match.group(1)) if match else None


def stamp_of(key: str) -> datetime | None:
    """The time in a consolidation file name (``2024-01-02_03:04:05.json``), as UTC."""
    match = _STAMP.search(key.rsplit("/", 1)[-1])
    if not match:
        return None
    try:
        return datetime.fromisoformat(f"{match.group(1)}T{match.group(2)}").replace(tzinfo=UTC)
    except ValueError:
        return None


def count_consolidated(body: bytes) -> int:
    """Objects in one consolidation-response file (a JSON list, one entry per data object)."""
    data = json.loads(body)
    if not isinstance(data, list):
        raise ValueError("consolidation response is not a JSON list")
    objects = {
        str(entry.get("datasetObjectId", index)) if isinstance(entry, dict) else str(index)
        for index, entry in enumerate(data)
    }
    return len(objects)


def iterations_from_files(files: Iterable[tuple[str, int]]) -> list[IterationRecord]:
    """Per-iteration records from ``(key, objects in the file)`` pairs, sorted by iteration."""
    records: dict[int, IterationRecord] = {}
    for key, objects in files:
        iteration = iteration_of(key)
        if iteration is None:
            continue
        record = records.setdefault(iteration, IterationRecord(iteration, 0, None))
        record.human_objects += objects
        stamp = stamp_of(key)
        if stamp is not None and (record.ended_at is None or stamp > record.ended_at):
            record.ended_at = stamp
    return [records[i] for i in sorted(records)]


def count_auto_annotations(body: bytes) -> int:
    """Objects in one ``auto_annotator_output.txt`` (``<datasetObjectId> <JSON>`` lines)."""
    objects = {
        line.split(maxsplit=1)[0] for line in body.decode("utf-8", "replace").splitlines() if line.strip()
    }
    return len(objects)


def machine_rounds(files: Iterable[tuple[str, int]]) -> dict[int, int]:
    """Machine-labeled objects per iteration from ``(auto-annotation key, objects in the file)`` pairs."""
    rounds: dict[int, int] = {}
    for key, objects in files:
        match = _AUTO_DIR.search(key)
        if match:
            iteration = int(match.group(1))
            rounds[iteration] = rounds.get(iteration, 0) + objects
    return rounds


class IterationAttributor:
    """Maps a machine label's creation time to an iteration (see the module docstring)."""

    def __init__(self, iterations: list[IterationRecord]) -> None:
        self.numbers = [record.iteration for record in iterations] or [1]
        timed = [(r.ended_at, r.iteration) for r in iterations if r.ended_at is not None]
        self.by_time = len(timed) == len(iterations) and bool(timed)
        timed.sort()
        self.ends = [end for end, _ in timed]
        self.timed_numbers = [number for _, number in timed]
        self.untimed = 0

    def attribute(self, created: datetime | None) -> int:
        """The iteration of one machine label."""
        if not self.by_time or created is None:
            self.untimed += 1
            return self.numbers[-1]
        index = bisect.bisect_left(self.ends, created)
        return self.timed_numbers[min(index, len(self.timed_numbers) - 1)]

    def note(self, machine_total: int) -> str | None:
        """How machine labels were attributed, for the cost figure (None without machine labels)."""
        if machine_total == 0:
            return None
        if self.untimed == machine_total:
            return f"machine labels shown in iteration {self.numbers[-1]}: their iteration is not recorded"
        return "machine labels attributed by creation date to the first iteration ending after them"


def _confidence(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= float(value) <= 1.0:
        return float(value)
    return None


class LabelAggregator:
    """Streams labeled-manifest lines into a :class:`LabelSummary` (memory independent of line count)."""

    def __init__(
        self,
        *,
        manifest_uri: str,
        source: str,
        task_type: str,
        num_classes: int,
        label_attribute: str | None,
        attributor: IterationAttributor | None = None,
    ) -> None:
        self.detection = task_spec(task_type).boxes
        self.label_attribute = label_attribute
        self.attributor = attributor
        self.class_names_seen: dict[int, str] = {}
        self.summary = LabelSummary(
            manifest_uri=manifest_uri,
            source=source,
            unit="boxes" if self.detection else "images",
            per_class=[ClassLabels() for _ in range(num_classes)],
        )

    def _class(self, class_id: int) -> ClassLabels | None:
        if 0 <= class_id < len(self.summary.per_class):
            return self.summary.per_class[class_id]
        self.summary.unknown_class_labels += 1
        return None

    def feed(self, line: bytes | None) -> None:
        """Add one manifest line (None or invalid lines are counted as failed objects)."""
        if line is None:
            self.summary.failed_objects += 1
            return
        if is_blank(line):
            return
        self.summary.lines += 1
        try:
            obj = json.loads(line)
        except ValueError:
            self.summary.failed_objects += 1
            return
        if not isinstance(obj, dict):
            self.summary.failed_objects += 1
            return
        attribute = self.label_attribute
        if attribute is None or attribute not in obj:
            candidates = label_candidates(obj)
            if not candidates:
                self.summary.failed_objects += 1
                return
            attribute = self.label_attribute = candidates[0]
        value, metadata = obj.get(attribute), obj.get(f"{attribute}-metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        human = str(metadata.get("human-annotated", "yes")).lower() != "no"
        if self.detection:
            labeled = self._feed_boxes(value, metadata, human)
        else:
            labeled = self._feed_class(value, metadata, human)
        if not labeled:
            self.summary.failed_objects += 1
            return
        if human:
            self.summary.human_objects += 1
        else:
            self.summary.machine_objects += 1
            if self.attributor is not None:
                iteration = self.attributor.attribute(parse_time(metadata.get("creation-date")))
                by_iteration = self.summary.machine_by_iteration
                by_iteration[iteration] = by_iteration.get(iteration, 0) + 1

    def _feed_class(self, value: Any, metadata: Mapping[str, Any], human: bool) -> bool:
        if not isinstance(value, int) or isinstance(value, bool):
            return False
        name = metadata.get("class-name")
        if isinstance(name, str):
            self.class_names_seen.setdefault(value, name)
        stats = self._class(value)
        if stats is not None:
            stats.add(human, _confidence(metadata.get("confidence")))
        return True

    def _feed_boxes(self, value: Any, metadata: Mapping[str, Any], human: bool) -> bool:
        if not isinstance(value, dict) or not isinstance(value.get("annotations"), list):
            return False
        objects = metadata.get("objects")
        objects = objects if isinstance(objects, list) else []
        class_map = metadata.get("class-map")
        if isinstance(class_map, dict):
            for key, name in class_map.items():
                if str(key).isdigit() and isinstance(name, str):
                    self.class_names_seen.setdefault(int(key), name)
        for index, box in enumerate(value["annotations"]):
            class_id = box.get("class_id") if isinstance(box, dict) else None
            if not isinstance(class_id, int) or isinstance(class_id, bool):
                continue
            meta = objects[index] if index < len(objects) and isinstance(objects[index], dict) else {}
            stats = self._class(class_id)
            if stats is not None:
                stats.add(human, _confidence(meta.get("confidence")))
        return True

    def finish(self) -> LabelSummary:
        """The summary, with the attribution note."""
        if self.attributor is not None:
            self.summary.machine_iteration_note = self.attributor.note(self.summary.machine_objects)
        return self.summary


def summarize_labels(
    lines: Iterable[bytes | None],
    *,
    manifest_uri: str,
    source: str,
    task_type: str,
    num_classes: int,
    label_attribute: str | None,
    iterations: list[IterationRecord] | None = None,
) -> tuple[LabelSummary, dict[int, str]]:
    """Aggregate a labeled manifest; also returns the class names its metadata mentions."""
    aggregator = LabelAggregator(
        manifest_uri=manifest_uri,
        source=source,
        task_type=task_type,
        num_classes=num_classes,
        label_attribute=label_attribute,
        attributor=IterationAttributor(iterations or []),
    )
    for line in lines:
        aggregator.feed(line)
    return aggregator.finish(), aggregator.class_names_seen


def iteration_costs(
    iterations: list[IterationRecord],
    machine_by_iteration: Mapping[int, int],
    human_object_usd: float,
    machine_object_usd: float,
) -> list[IterationCost]:
    """Cost of each iteration: its human objects and the machine labels attributed to it."""
    numbers = sorted({record.iteration for record in iterations} | set(machine_by_iteration))
    human = {record.iteration: record.human_objects for record in iterations}
    rows = []
    for number in numbers:
        people, machine = human.get(number, 0), machine_by_iteration.get(number, 0)
        rows.append(
            IterationCost(
                iteration=number,
                human_objects=people,
                machine_objects=machine,
                human_usd=round(people * human_object_usd, 2),
                machine_usd=round(machine * machine_object_usd, 2),
            )
        )
    return rows


def cost_summary(
    *,
    iterations: list[IterationRecord],
    labels: LabelSummary | None,
    prices: LabelingPrices,
    task_type: str,
    workers_per_object: int,
    estimated_usd: float | None,
    estimate_note: str | None,
    actual_human_usd: float | None,
    actual_machine_usd: float | None,
    actual_note: str | None,
    budget_usd: float | None = None,
    human_object_usd: float | None = None,
) -> CostSummary:
    """Per-iteration and total cost; without consolidation files, one iteration from the manifest.
    ``human_object_usd`` prices a human-labeled object when Ground Truth's prices do not (builtin runs)."""
    human_price = (
        human_object_cost(workers_per_object, task_type, prices)
        if human_object_usd is None
        else human_object_usd
    )
    machine_price = float(prices.per_machine_label_usd)
    machine_by_iteration = dict(labels.machine_by_iteration) if labels else {}
    attribution = labels.machine_iteration_note if labels else None
    if not iterations and labels is not None:
        iterations = [IterationRecord(1, labels.human_objects, None)]
        machine_by_iteration = {1: labels.machine_objects} if labels.machine_objects else {}
        attribution = "one iteration shown: the job wrote no per-iteration consolidation files"
    rows = iteration_costs(iterations, machine_by_iteration, human_price, machine_price)
    if actual_human_usd is None and actual_machine_usd is None and rows:
        actual_human_usd = round(sum(row.human_usd for row in rows), 2)
        actual_machine_usd = round(sum(row.machine_usd for row in rows), 2)
        actual_note = "computed by the report from the labeling output"
    return CostSummary(
        iterations=rows,
        human_object_usd=human_price,
        machine_object_usd=machine_price,
        workers_per_object=workers_per_object,
        estimated_usd=estimated_usd,
        estimate_note=estimate_note,
        actual_human_usd=actual_human_usd,
        actual_machine_usd=actual_machine_usd,
        actual_note=actual_note,
        attribution_note=attribution,
        budget_usd=budget_usd,
    )
