"""The values the tasks table's functions take and return (frozen dataclasses; no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LabelingObject:
    """One manifest line to label: its 0-based index among the data lines, source-ref and JSON text."""

    index: int
    source_ref: str
    line: str
    # Pre-annotation: the line's model suggestion, JSON text (jobs.split_suggestions); None: none.
    suggestion: str | None = None


@dataclass(frozen=True)
class JobSpec:
    """Everything a new job item records (docs/labeling-service.md, job item)."""

    job_name: str
    run_id: str
    task_type: str
    task_token: str
    class_names: tuple[str, ...]
    label_attribute: str
    manifest_uri: str
    output_path: str
    data_bucket: str
    workers_per_object: int
    lease_seconds: int
    expires_at: int
    min_labeled_share: float
    title: str = ""
    description: str = ""
    instructions: str = ""
    # The web app's key per class name (config.labeling.hotkeys); empty: the app's default keys.
    hotkeys: Mapping[str, str] = field(default_factory=dict)
    # Adaptive redundancy (gtpipe_shared.adaptive_redundancy): the confidence an object's answers must reach
    # before it stops asking for more, workers_per_object being the maximum; None: every object gets
    # workers_per_object answers.
    adaptive_threshold: float | None = None
    # The review stage (gtpipe_shared.labeling_review.ReviewSettings.as_mapping()); None: no review.
    review: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class OpenOutcome:
    """``created`` False: the job existed (a retried open); its token was replaced."""

    created: bool
    job: dict[str, Any]


@dataclass(frozen=True)
class Lease:
    """A task leased to a worker."""

    job_name: str
    index: int
    lease_id: str
    lease_expires_at: int
    source_ref: str
    resumed: bool = False
    # Pre-annotation: the object's model suggestion (gtpipe_shared.labeling_suggestions); None: none.
    suggestion: dict[str, Any] | None = None


@dataclass(frozen=True)
class Progress:
    """A job's progress; ``my_answers`` is None when no worker was named."""

    job_name: str
    status: str
    objects: int
    objects_done: int
    answers_done: int
    answers_needed: int
    expires_at: int
    my_answers: int | None = None
    # Adaptive redundancy only: the most answers the job can take (objects x workers_per_object), while
    # answers_needed is what the objects ask for so far (one each at first, growing as objects ask for more).
    answers_max: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (``my_answers`` and ``answers_max`` left out when None)."""
        data = {
            "job_name": self.job_name,
            "status": self.status,
            "objects": self.objects,
            "objects_done": self.objects_done,
            "answers_done": self.answers_done,
            "answers_needed": self.answers_needed,
            "expires_at": self.expires_at,
        }
        if self.my_answers is not None:
            data["my_answers"] = self.my_answers
        if self.answers_max is not None:
            data["answers_max"] = self.answers_max
        return data


@dataclass(frozen=True)
class AnswerOutcome:
    """What an accepted answer did: ``job_completed`` is True for exactly one answer per job."""

    object_completed: bool
    job_completed: bool
    progress: Progress


@dataclass(frozen=True)
class StoredObject:
    """An object item without its lease map."""

    index: int
    source_ref: str
    line: str
    answer_count: int
    image_size: tuple[int, int] | None = None
    # Adaptive redundancy only: the answers the object asks for (answer_count when it asks for no more).
    answers_wanted: int | None = None
    # Jobs with gold objects: a gold object's known answer (stored form), a data object's manifest line
    # number (``index`` is then the place in the queue); None without gold.
    gold: dict[str, Any] | None = None
    data_index: int | None = None
    # Pre-annotation: the model's suggestion shown to the labelers (gtpipe_shared.labeling_suggestions).
    suggestion: dict[str, Any] | None = None


@dataclass(frozen=True)
class Answering:
    """Who answers which task with what: the input of :func:`answer`. ``worker_id`` is the stable user id
    (Cognito ``sub``), ``email`` the address shown beside it; ``seconds`` as reported (None: measured);
    ``image_size``: the server's ``(width, height)`` of the image, when known (box answers must match)."""

    job_name: str
    index: int
    worker_id: str
    lease_id: str
    answer: Any
    seconds: Any = None
    email: str = ""
    image_size: tuple[int, int] | None = None
    # The labeler's comment for the reviewers (checked text, at most 500 characters; empty: none).
    comment: str = ""
