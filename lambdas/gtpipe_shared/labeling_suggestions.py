"""Pre-annotation: a model's suggestion for an object of the builtin labeling service (pure).

An object may carry a **suggestion**: a model's answer that the labeling app shows preselected (the class)
or drawn (the boxes), for the person to accept unchanged or correct. It arrives on the object's input
manifest line under :data:`SUGGESTION_KEY`, in the stored answer form plus the model's confidence:

- image classification: ``{"label": <class id>, "confidence": 0..1}``;
- bounding boxes: ``{"boxes": [{"class_id", "left", "top", "width", "height", "score"?}], "image_size":
  {"width", "height"}}`` (pixels of the image as served, as a worker's answer).

Automated labeling writes it for the uncertain objects it sends to people (the labeling model's batch
transform prediction, :func:`from_prediction`); any manifest may carry one. The job keeps it on the object
item (the line it stores and writes back loses the key) and hands it out with the object's lease.

A suggestion is **never an answer**: consolidation, the answer counts and the team statistics see people's
answers only. Each answer on an object with a suggestion records ``suggestion_accepted``
(:func:`accepted`: the answer equals the suggestion unchanged); the output shows per object how many
answers accepted it (``<attr>-metadata.suggestion``) and the team statistics how many in all
(:func:`with_suggestions`). Adaptive redundancy takes the suggestion as its model hook
(:func:`as_answer`: an answer that disagrees with the model asks for another).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .images import MAX_IMAGE_PIXELS
from .labeling_answers import MAX_BOXES, AnswerRules, is_number, validate_answer
from .labeling_errors import InvalidAnswer
from .labeling_output import OUTPUT_MANIFEST_KEY, TEAM_STATS_KEY, LabelingOutput, json_bytes, manifest_bytes
from .tasks import task_spec

SUGGESTION_KEY = "gtpipe-suggestion"
# A suggestion is checked as a worker's answer, except that a box overshooting the image is clipped (a
# model's box may reach past an edge); more boxes than an answer may have could never be accepted unchanged.
SUGGESTION_RULES = AnswerRules(MAX_BOXES, None, MAX_IMAGE_PIXELS)


def parse(task_type: str, raw: Any, class_names: Sequence[str]) -> dict[str, Any]:
    """The suggestion in its kept form (the stored answer form plus ``confidence`` or each box's
    ``score``, both 0..1 when given), or ValueError naming the problem."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{SUGGESTION_KEY} must be a JSON object")
    try:
        answer = validate_answer(task_type, raw, class_names, rules=SUGGESTION_RULES)
    except InvalidAnswer as error:
        raise ValueError(f"{SUGGESTION_KEY}: {error}") from None
    if not task_spec(task_type).boxes:
        return {**answer, **_confidence(raw.get("confidence"), "confidence")}
    # validate_answer keeps the boxes' order: the scores follow their boxes.
    boxes = [
        {**box, **_confidence(given.get("score"), f"boxes[{n}].score", key="score")}
        for n, (box, given) in enumerate(zip(answer["boxes"], raw["boxes"], strict=True))
    ]
    return {**answer, "boxes": boxes}


def _confidence(value: Any, where: str, key: str = "confidence") -> dict[str, float]:
    if value is None:
        return {}
    if not is_number(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{SUGGESTION_KEY} {where} must be a number from 0 to 1")
    return {key: round(float(value), 4)}


def split_line(
    task_type: str, line: Mapping[str, Any], class_names: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``(the line without SUGGESTION_KEY, its parsed suggestion or None)``; ValueError for a bad one."""
    if SUGGESTION_KEY not in line:
        return dict(line), None
    kept = {key: value for key, value in line.items() if key != SUGGESTION_KEY}
    return kept, parse(task_type, line[SUGGESTION_KEY], class_names)


def as_answer(suggestion: Mapping[str, Any]) -> dict[str, Any]:
    """The suggestion in the stored answer form (no confidence, no scores): what a person's answer is
    compared with."""
    if "boxes" not in suggestion:
        return {"label": suggestion["label"]}
    boxes = [{k: v for k, v in box.items() if k != "score"} for box in suggestion["boxes"]]
    return {
        "boxes": boxes,
        **({"image_size": suggestion["image_size"]} if "image_size" in suggestion else {}),
    }


def _box_key(box: Mapping[str, Any]) -> tuple[int, float, float, float, float]:
    return (
        int(box["class_id"]),
        float(box["left"]),
        float(box["top"]),
        float(box["width"]),
        float(box["height"]),
    )


def accepted(answer: Mapping[str, Any], suggestion: Mapping[str, Any]) -> bool:
    """Whether a person's stored answer is the suggestion unchanged: the same class; or the same boxes
    (class and whole-pixel edges, in any order), nothing added, moved or removed."""
    model = as_answer(suggestion)
    if "boxes" not in model:
        return answer.get("label") == model["label"]
    if "boxes" not in answer:
        return False
    return sorted(map(_box_key, answer["boxes"])) == sorted(map(_box_key, model["boxes"]))


def from_prediction(label: int, confidence: float) -> dict[str, Any]:
    """A classification suggestion from a labeling model's prediction (automated labeling's transform)."""
    return {"label": int(label), "confidence": round(min(max(float(confidence), 0.0), 1.0), 4)}


def from_boxes(boxes: Sequence[tuple[Any, float]], image_size: Sequence[int]) -> dict[str, Any]:
    """A bounding-box suggestion from a labeling model's prediction: ``(Box, score)`` pairs in pixels of an
    image of ``image_size`` (width, height, ...), whole-pixel edges as a worker's answer has them."""
    return {
        "boxes": [
            {**box.as_annotation(), "score": round(min(max(float(score), 0.0), 1.0), 4)}
            for box, score in boxes[:MAX_BOXES]
        ],
        "image_size": {"width": int(image_size[0]), "height": int(image_size[1])},
    }


def dumps(suggestion: Mapping[str, Any]) -> str:
    """The suggestion as the object item keeps it (compact JSON text)."""
    return json.dumps(suggestion, separators=(",", ":"))


@dataclass(frozen=True)
class Suggested:
    """One object of the output that had a suggestion: its number in the output manifest, the suggestion,
    and ``suggestion_accepted`` of each of its answers."""

    number: int
    suggestion: Mapping[str, Any]
    accepted: tuple[bool, ...]


def with_suggestions(
    output: LabelingOutput, attribute: str, suggested: Sequence[Suggested]
) -> LabelingOutput:
    """The output with each suggested object's ``<attr>-metadata.suggestion`` (``{"accepted": answers that
    took it unchanged, "answers": answers given, "confidence"?}``; labeled objects only: an unlabeled
    line keeps its failure shape) and the team statistics' ``suggestions`` (``objects``, ``answers``,
    ``accepted``, ``accepted_share``). Unchanged when no object had a suggestion."""
    if not suggested:
        return output
    files = dict(output.files)
    manifest_key = next(key for key in files if key.endswith(OUTPUT_MANIFEST_KEY))
    prefix = manifest_key[: -len(OUTPUT_MANIFEST_KEY)]
    lines = [json.loads(raw) for raw in files[manifest_key].splitlines() if raw.strip()]
    for item in suggested:
        if not 0 <= item.number < len(lines) or attribute not in lines[item.number]:
            continue
        meta = dict(lines[item.number].get(f"{attribute}-metadata") or {})
        confidence = item.suggestion.get("confidence")
        meta["suggestion"] = {
            "accepted": sum(item.accepted),
            "answers": len(item.accepted),
            **({"confidence": confidence} if confidence is not None else {}),
        }
        lines[item.number] = {**lines[item.number], f"{attribute}-metadata": meta}
    files[manifest_key] = manifest_bytes(lines)
    answers = sum(len(item.accepted) for item in suggested)
    taken = sum(sum(item.accepted) for item in suggested)
    team = dict(output.team)
    team["suggestions"] = {
        "objects": len(suggested),
        "answers": answers,
        "accepted": taken,
        "accepted_share": round(taken / answers, 4) if answers else None,
    }
    files[prefix + TEAM_STATS_KEY] = json_bytes(team)
    return replace(output, files=files, team=team)


def merge_statistics(teams: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The ``suggestions`` statistics of several jobs' team statistics summed (automated labeling's human
    batches); None when none had any."""
    parts = [team["suggestions"] for team in teams if isinstance(team, Mapping) and team.get("suggestions")]
    if not parts:
        return None
    answers = sum(int(part.get("answers") or 0) for part in parts)
    taken = sum(int(part.get("accepted") or 0) for part in parts)
    return {
        "objects": sum(int(part.get("objects") or 0) for part in parts),
        "answers": answers,
        "accepted": taken,
        "accepted_share": round(taken / answers, 4) if answers else None,
    }
