"""A simulated labeling crowd for the builtin labeling service: workers that use the same task API as people.

Each :class:`SimulatedLabeler` is a thread acting like a person in the web app, over the same published
endpoints:

1. signs in through Cognito (``InitiateAuth``, ``USER_PASSWORD_AUTH``, against the local AWS endpoint)
   as its own user (created by the local cloud in the group ``labelers``, permanent password), and signs
   in again when the API answers 401 (expired token);
2. ``GET <api>/api/jobs``; for each open job ``POST .../lease`` until the API answers ``{"task": null}``;
3. answers each leased task (``POST .../tasks/<index>/answer``) from the reference answers
   (``CloudSettings.reference_labels_path``, the format of
   :class:`local.sagemaker.workforce.WorkforceSettings`) with the noise models of the simulated Ground
   Truth workforce (:func:`local.sagemaker.workforce.simulate_answers` for classes,
   :func:`local.sagemaker.box_workforce.simulate_boxes` for boxes), after ``seconds_per_task``;
4. an object missing from the reference answers is released (``.../release``), and the worker leaves that
   job until its next poll (the job then closes at the end of its lifetime without the object); it is
   logged as a warning and noted in ``unanswered.json`` next to the reference answers, which
   ``gtpipe follow --local`` and ``make demo`` show on the progress line
   (:func:`gtpipe_shared.unanswered.record_unanswered`);
5. a 409 (the job closed while it worked, or its lease expired) makes it move on to the next job;
6. when nothing is left for it, it polls the job list every ``poll_seconds`` (runs start later) until the
   crowd is stopped.

Answers are deterministic per (seed, worker, job, object), whatever the order in which threads lease.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gtpipe_shared.tasks import task_spec
from gtpipe_shared.unanswered import record_unanswered

from local.sagemaker.box_workforce import BoxNoise, reference_boxes, simulate_boxes
from local.sagemaker.workforce import reference_label, simulate_answers

from .cognito import LocalUser, sign_in

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class CrowdSettings:
    """How the simulated labelers behave (noise as in ``WorkforceSettings``)."""

    reference_labels: Path
    error_rate: float = 0.1
    box_noise: BoxNoise = field(default_factory=BoxNoise)
    seed: int = 0
    seconds_per_task: float = 0.0
    # Idle workers poll the job list this often (each poll is an API call: a Lambda invocation).
    poll_seconds: float = 2.0
    # Careless labelers (class answers): every ``careless_every``-th labeler (numbers careless_every - 1,
    # 2 x careless_every - 1, ...; 5: one in five) errs at ``careless_error_rate`` instead; 0: none.
    careless_every: int = 0
    careless_error_rate: float = 0.4

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate must be in [0, 1], got {self.error_rate}")
        if not 0.0 <= self.careless_error_rate <= 1.0:
            raise ValueError(f"careless_error_rate must be in [0, 1], got {self.careless_error_rate}")
        if self.careless_every < 0:
            raise ValueError(f"careless_every must be >= 0, got {self.careless_every}")
        if self.seconds_per_task < 0 or self.poll_seconds <= 0:
            raise ValueError("seconds_per_task must be >= 0 and poll_seconds > 0")

    def is_careless(self, worker: int) -> bool:
        """Whether labeler number ``worker`` (0-based) is one of the careless ones."""
        return self.careless_every > 0 and worker % self.careless_every == self.careless_every - 1

    def error_rate_of(self, worker: int) -> float:
        """The class error rate of labeler number ``worker``."""
        return self.careless_error_rate if self.is_careless(worker) else self.error_rate


class ApiError(Exception):
    """The labeling API answered an error (status and body in the message)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class LabelingApiClient:
    """``GET``/``POST`` JSON on the labeling API (``<stage url>/api/...``) with an ID token.

    Each thread (each simulated person) keeps one HTTPS connection open between requests, as a browser
    does with the web app (HTTP/1.1 keep-alive; the local API Gateway serves it): a TLS handshake per
    request cost the local cloud more CPU than some answers. A request that meets a kept connection the
    server closed meanwhile (its idle timeout) is sent again on a new one; a failure on a new connection
    is raised.
    """

    def __init__(self, stage_url: str, ca_path: str | Path, *, timeout: float = 30.0) -> None:
        self.base = stage_url.rstrip("/") + "/"
        parts = urllib.parse.urlsplit(self.base)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"the labeling API must be an https:// URL, got {stage_url!r}")
        self._host, self._port, self._prefix = parts.hostname, parts.port or 443, parts.path
        self.context = ssl.create_default_context(cafile=str(ca_path))
        self.timeout = timeout
        self._local = threading.local()

    def _connection(self) -> tuple[http.client.HTTPSConnection, bool]:
        """This thread's connection, and whether it served requests before."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            return connection, True
        connection = http.client.HTTPSConnection(
            self._host, self._port, context=self.context, timeout=self.timeout
        )
        self._local.connection = connection
        return connection, False

    def _exchange(
        self, method: str, path: str, headers: dict[str, str], data: bytes | None
    ) -> tuple[int, bytes]:
        for _attempt in range(2):
            connection, reused = self._connection()
            try:
                connection.request(method, self._prefix + path.lstrip("/"), body=data, headers=headers)
                response = connection.getresponse()
                raw = response.read()
            except (http.client.HTTPException, OSError) as error:
                connection.close()
                self._local.connection = None
                if reused and not isinstance(error, TimeoutError):
                    continue  # the server closed the kept connection: a new one
                raise
            if response.will_close:
                connection.close()
                self._local.connection = None
            return response.status, raw
        raise ConnectionError(f"{method} {path}: the labeling API closed two connections in a row")

    def call(self, method: str, path: str, token: str, body: Any = None) -> Any:
        """The JSON answer; :class:`ApiError` on a 4xx/5xx."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": token, "Content-Type": "application/json"}
        status, raw = self._exchange(method, path, headers, data)
        if status >= 400:
            try:
                detail: Any = json.loads(raw)
            except ValueError:
                detail = raw[:300].decode("utf-8", "replace")
            raise ApiError(status, detail)
        return json.loads(raw or b"null")


class ReferenceAnswers:
    """The reference answers file, re-read when it changes (the demo writes it after deploying)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._lines: dict[str, Mapping[str, Any]] = {}

    def line(self, source_ref: str) -> Mapping[str, Any] | None:
        """The reference line of one object (None when the file or the object is missing)."""
        with self._lock:
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                return None
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp:
                lines: dict[str, Mapping[str, Any]] = {}
                for number, text in enumerate(self.path.read_text().splitlines(), start=1):
                    if text.strip():
                        entry = json.loads(text)
                        if not isinstance(entry, dict) or not isinstance(entry.get("source-ref"), str):
                            raise ValueError(
                                f"{self.path}:{number}: not a reference line with a 'source-ref'"
                            )
                        lines[entry["source-ref"]] = entry
                self._lines, self._stamp = lines, stamp
            return self._lines.get(source_ref)


def simulated_answer(
    task: Mapping[str, Any],
    reference: Mapping[str, Any],
    settings: CrowdSettings,
    rng: random.Random,
    worker: int = 0,
) -> dict[str, Any]:
    """The answer body (``{"label"}`` or ``{"boxes", "image_size"}``) simulated labeler number ``worker``
    gives a task (class answers at that labeler's error rate: :meth:`CrowdSettings.error_rate_of`)."""
    class_names = [str(name) for name in task.get("class_names") or []]
    where = f"reference answer of {task.get('source_ref')}"
    if task_spec(task.get("task_type")).boxes:
        _, truth = reference_boxes(reference, len(class_names), where)
        boxes = simulate_boxes(truth, len(class_names), settings.box_noise, rng)
        return {
            "boxes": [box.as_annotation() for box in boxes],
            "image_size": {"width": truth.width, "height": truth.height},
        }
    _, label = reference_label(reference, class_names, where)
    (answered,) = simulate_answers(label, len(class_names), ["worker"], settings.error_rate_of(worker), rng)
    return {"label": answered.label}


class SimulatedLabeler(threading.Thread):
    """One simulated worker (see module docstring)."""

    def __init__(
        self,
        number: int,
        user: LocalUser,
        *,
        api: LabelingApiClient,
        cognito: Callable[[], Any],
        client_id: str,
        references: ReferenceAnswers,
        settings: CrowdSettings,
        stop: threading.Event,
    ) -> None:
        super().__init__(name=f"labeler-{number}", daemon=True)
        self.number = number
        self.user = user
        self.api = api
        self.cognito = cognito
        self.client_id = client_id
        self.references = references
        self.settings = settings
        self.stop_event = stop
        self.answers = 0
        self.errors: list[str] = []
        self._token = ""
        self._skipped: set[tuple[str, int]] = set()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        for attempt in range(2):
            if not self._token:
                self._token = sign_in(self.cognito(), self.client_id, self.user.username, self.user.password)[
                    "IdToken"
                ]
            try:
                return self.api.call(method, path, self._token, body)
            except ApiError as error:
                if error.status == 401 and attempt == 0:
                    self._token = ""  # expired: sign in again
                    continue
                raise
        raise AssertionError("unreachable")

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                worked = self.work_once()
            except Exception as error:
                # The same failure repeats on every poll: log it once, keep the latest few.
                if not self.errors or self.errors[-1] != str(error):
                    LOG.warning("%s: %s", self.name, error)
                self.errors = [*self.errors[-19:], str(error)]
                worked = False
            if not worked:
                self.stop_event.wait(self.settings.poll_seconds)

    def work_once(self) -> bool:
        """Lease and answer tasks of every open job until none is left for this worker; True if any."""
        worked = False
        for job in self._call("GET", "api/jobs").get("jobs", []):
            if job.get("status", "OPEN") != "OPEN":
                continue
            while not self.stop_event.is_set():
                try:
                    leased = self._call("POST", f"api/jobs/{job['job_name']}/lease")
                    task = leased.get("task")
                    if not task:
                        break
                    if not self._answer(task):
                        break  # released (no reference answer): leasing again would return the same object
                except ApiError as error:
                    if error.status == 409:
                        break  # the job closed meanwhile, or the lease expired: a person would move on
                    raise
                worked = True
        return worked

    def _answer(self, task: Mapping[str, Any]) -> bool:
        job, index = str(task["job_name"]), int(task["index"])
        reference = self.references.line(str(task.get("source_ref")))
        if reference is None:
            if (job, index) not in self._skipped:
                count = record_unanswered(self.references.path, job, str(task.get("source_ref")))
                LOG.warning(
                    "%s: job %s: no reference answer for %s in %s: released its task (%d object(s) of the job "
                    "have none; the job stays open until its lifetime ends). Add answers: gtpipe submit "
                    "--local --reference-answers FILE",
                    self.name,
                    job,
                    task.get("source_ref"),
                    self.references.path,
                    count,
                )
            self._skipped.add((job, index))
            self._call("POST", f"api/jobs/{job}/tasks/{index}/release", {"lease_id": task["lease_id"]})
            return False
        rng = random.Random(f"crowd:{self.settings.seed}:{self.number}:{job}:{index}")
        started = time.monotonic()
        answer = simulated_answer(task, reference, self.settings, rng, self.number)
        if self.settings.seconds_per_task:
            self.stop_event.wait(self.settings.seconds_per_task)
        self._call(
            "POST",
            f"api/jobs/{job}/tasks/{index}/answer",
            {"lease_id": task["lease_id"], "answer": answer, "seconds": round(time.monotonic() - started, 3)},
        )
        self.answers += 1
        return True


class SimulatedCrowd:
    """The simulated labelers of a local cloud: started and stopped together."""

    def __init__(
        self,
        users: Sequence[LocalUser],
        *,
        stage_url: str,
        ca_path: str | Path,
        cognito: Callable[[], Any],
        client_id: str,
        settings: CrowdSettings,
    ) -> None:
        self.stop_event = threading.Event()
        references = ReferenceAnswers(settings.reference_labels)
        api = LabelingApiClient(stage_url, ca_path)
        self.labelers = [
            SimulatedLabeler(
                number,
                user,
                api=api,
                cognito=cognito,
                client_id=client_id,
                references=references,
                settings=settings,
                stop=self.stop_event,
            )
            for number, user in enumerate(users)
        ]

    def start(self) -> SimulatedCrowd:
        """Start every labeler's thread."""
        for labeler in self.labelers:
            labeler.start()
        return self

    def stop(self) -> None:
        """Stop the labelers (each finishes the request it is making)."""
        self.stop_event.set()
        for labeler in self.labelers:
            if labeler.is_alive():
                labeler.join(timeout=10)

    @property
    def answers(self) -> int:
        """Answers submitted so far by all labelers."""
        return sum(labeler.answers for labeler in self.labelers)
