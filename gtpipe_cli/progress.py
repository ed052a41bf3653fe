"""Following pipeline runs through the runs ledger and Step Functions, as an operator would.

Everything here reads the deployed resources (the ledger table, the state machine's executions and
definition) through boto3 clients passed in, so it works the same against AWS and the local cloud
(``local.drivers.runs`` re-exports it for the demo, the benchmarks and the tests).

Progress over the steps: the state machine's definition orders its states by their longest distance
from ``StartAt`` along the success path (``Next``, ``Default`` and ``Choices`` edges; ``Catch`` edges lead
to failure handling and are left out), so the fraction of a run done is the rank of the state it is in
over the rank of its last state. It follows the definition, whatever states it has.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gtpipe_shared.ledger import from_low_level_item

TERMINAL_RUN_STATUSES = frozenset({"SUCCEEDED", "FAILED", "REJECTED"})
TERMINAL_EXECUTION_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


def get_run(dynamodb: Any, table: str, run_id: str) -> dict[str, Any] | None:
    """One ledger item (consistent read), or None."""
    raw = dynamodb.get_item(TableName=table, Key={"run_id": {"S": run_id}}, ConsistentRead=True).get("Item")
    return from_low_level_item(raw) if raw else None


def find_run(dynamodb: Any, table: str, key: str, version_id: str | None = None) -> dict[str, Any] | None:
    """The ledger item of the run started by manifest ``key`` (that version, when given)."""
    pages = dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    for page in pages:
        for raw in page.get("Items", []):
            run = from_low_level_item(raw)
            if run.get("input_key") == key and (
                version_id is None or run.get("input_version_id") == version_id
            ):
                return run
    return None


def parse_time(value: Any) -> dt.datetime | None:
    """An ISO-8601 ledger timestamp as an aware datetime (None when absent or unreadable)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def step_durations(run: Mapping[str, Any]) -> list[tuple[str, str, float | None]]:
    """``(step, status, seconds)`` for each step of a ledger item, in start order."""
    rows = []
    for name, step in (run.get("steps") or {}).items():
        started, ended = parse_time(step.get("started_at")), parse_time(step.get("ended_at"))
        seconds = (ended - started).total_seconds() if started and ended else None
        rows.append(
            (started or dt.datetime.max.replace(tzinfo=dt.UTC), name, str(step.get("status")), seconds)
        )
    rows.sort(key=lambda row: row[0])
    return [(name, status, seconds) for _, name, status, seconds in rows]


def state_durations(history: Sequence[Mapping[str, Any]]) -> list[tuple[str, float]]:
    """``(state, seconds)`` from an execution history (entered -> exited), in order."""
    entered: dict[str, dt.datetime] = {}
    rows: list[tuple[str, float]] = []
    for event in history:
        if "stateEnteredEventDetails" in event:
            entered[event["stateEnteredEventDetails"]["name"]] = event["timestamp"]
        elif "stateExitedEventDetails" in event:
            name = event["stateExitedEventDetails"]["name"]
            if name in entered:
                rows.append((name, (event["timestamp"] - entered.pop(name)).total_seconds()))
    return rows


def execution_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """The whole history of an execution, oldest first."""
    events: list[dict[str, Any]] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        if token:
            kwargs["nextToken"] = token
        page = sfn.get_execution_history(**kwargs)
        events.extend(page.get("events", []))
        token = page.get("nextToken")
        if not token:
            return events


def current_state(history: Sequence[Mapping[str, Any]]) -> str | None:
    """The state most recently entered."""
    for event in reversed(history):
        if "stateEnteredEventDetails" in event:
            return str(event["stateEnteredEventDetails"]["name"])
    return None


def success_edges(state: Mapping[str, Any]) -> list[str]:
    """The states one state can go to when nothing fails (``Next``, ``Default``, each choice's ``Next``)."""
    targets = [state.get("Next"), state.get("Default")]
    targets += [choice.get("Next") for choice in state.get("Choices") or []]
    return [str(target) for target in targets if target]


def state_ranks(definition: Mapping[str, Any]) -> dict[str, int]:
    """Each state reachable from ``StartAt`` along success edges, ranked by its longest distance from it.

    A loop in the definition (the builtin automated-labeling rounds) must not make ranks grow: its back edges
    (an edge to a state still on the depth-first path from ``StartAt``) are left out, so a loop's states are
    ranked by their first pass and what follows the loop after them. A state that can only lead to a failure
    (a Choice's default for an unexpected answer, say) is not on the success path: only states from which a
    ``Succeed`` state is reachable are ranked.
    """
    states: Mapping[str, Any] = definition.get("States") or {}
    start = definition.get("StartAt")
    if start not in states:
        return {}
    forward = _forward_edges(states, str(start))
    every = {name: [t for t in success_edges(states.get(name) or {}) if t in forward] for name in forward}
    succeeding = _reaching_success(states, every)
    forward = {name: [t for t in targets if t in succeeding] for name, targets in forward.items()}
    ranks: dict[str, int] = {}
    for name in _topological(forward, str(start)):
        rank = ranks.setdefault(name, 0)
        for target in forward.get(name, ()):
            ranks[target] = max(ranks.get(target, 0), rank + 1)
    return ranks


def _forward_edges(states: Mapping[str, Any], start: str) -> dict[str, list[str]]:
    """The success edges reachable from ``start`` without the back edges of a depth-first walk."""
    forward: dict[str, list[str]] = {}
    on_path: set[str] = set()
    stack: list[tuple[str, Iterator[str]]] = [(start, iter(success_edges(states.get(start) or {})))]
    on_path.add(start)
    forward[start] = []
    while stack:
        name, targets = stack[-1]
        target = next(targets, None)
        if target is None:
            stack.pop()
            on_path.discard(name)
            continue
        if target not in states or target in on_path:
            continue
        forward[name].append(target)
        if target not in forward:
            forward[target] = []
            on_path.add(target)
            stack.append((target, iter(success_edges(states.get(target) or {}))))
    return forward


def _reaching_success(states: Mapping[str, Any], edges: Mapping[str, list[str]]) -> set[str]:
    """The states of ``edges`` (loops included) from which a state of type ``Succeed`` can be reached."""
    reaching = {name for name in edges if (states.get(name) or {}).get("Type") == "Succeed"}
    changed = True
    while changed:
        before = len(reaching)
        reaching |= {name for name, targets in edges.items() if reaching.intersection(targets)}
        changed = len(reaching) != before
    return reaching


def _topological(forward: Mapping[str, list[str]], start: str) -> list[str]:
    """The states of the acyclic ``forward`` graph, each after every state with an edge to it."""
    incoming = {name: 0 for name in forward}
    for targets in forward.values():
        for target in targets:
            incoming[target] += 1
    ready, order = [start], []
    while ready:
        name = ready.pop()
        order.append(name)
        for target in forward[name]:
            incoming[target] -= 1
            if incoming[target] == 0:
                ready.append(target)
    return order


def definition_ranks(sfn: Any, state_machine_arn: str) -> dict[str, int]:
    """:func:`state_ranks` of a deployed state machine's definition (``DescribeStateMachine``)."""
    definition = sfn.describe_state_machine(stateMachineArn=state_machine_arn)["definition"]
    return state_ranks(json.loads(definition))


def fraction_done(ranks: Mapping[str, int], state: str | None) -> float | None:
    """The share of the success path before ``state`` (None when ``state`` is not on it)."""
    if not ranks or state is None or state not in ranks:
        return None
    last = max(ranks.values())
    return ranks[state] / last if last else 0.0


@dataclass
class RunProgress:
    """A snapshot of a run for progress displays.

    ``fraction`` is the share of the pipeline's success path done (see module docstring; None when the
    state machine's definition was not given), never lower than an earlier snapshot's of the same follow.
    """

    run_id: str | None
    run_status: str | None
    execution_status: str | None
    state: str | None
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    elapsed: float = 0.0
    run: dict[str, Any] | None = None
    fraction: float | None = None
    notes: list[str] = field(default_factory=list)
    """Said at the end of the line (e.g. the local cloud's simulated labelers lacking answers)."""

    @property
    def warnings(self) -> list[str]:
        """The ledger's warnings about the run (``start_run``'s, about its manifest)."""
        found = (self.run or {}).get("warnings") or []
        return [str(warning) for warning in found] if isinstance(found, list) else [str(found)]

    @property
    def finished(self) -> bool:
        """The ledger says the run ended (and so does its execution, when it has one)."""
        if self.run_status not in TERMINAL_RUN_STATUSES:
            return False
        return self.execution_status is None or self.execution_status in TERMINAL_EXECUTION_STATUSES

    def run_seconds(self, now: dt.datetime | None = None) -> float | None:
        """Seconds from the ledger's ``created_at`` to ``ended_at`` (or to ``now`` while it runs)."""
        created = parse_time((self.run or {}).get("created_at"))
        if created is None:
            return None
        ended = parse_time((self.run or {}).get("ended_at")) if self.finished else None
        return ((ended or now or dt.datetime.now(dt.UTC)) - created).total_seconds()

    def jobs(self) -> str:
        """Each ledger step as ``name=status[/secondary status]``, then the labeling team's progress while
        it labels."""
        jobs = []
        for name, step in self.steps.items():
            text = f"{name}={step.get('status')}"
            secondary = step.get("secondary_status")
            if secondary and secondary != step.get("status"):
                text += f"/{secondary}"
            jobs.append(text)
        labeling = (self.run or {}).get("labeling_progress")
        # The builtin labeling service's progress (docs/labeling-service.md), shown while people label.
        if isinstance(labeling, dict) and labeling.get("objects_done", 0) < labeling.get("objects", 0):
            jobs.append(
                f"labeled={labeling.get('objects_done')}/{labeling.get('objects')} objects "
                f"({labeling.get('answers_done')}/{labeling.get('answers_needed')} answers)"
            )
        package = (self.run or {}).get("model_package")
        # gtpipe:approval manual: the run waits for a person (README "Model registry and approval").
        if isinstance(package, dict) and package.get("approval_status") == "PendingManualApproval":
            jobs.append(f"package={package.get('arn')} awaits approval: gtpipe approve|reject {self.run_id}")
        return " ".join([*jobs, *self.notes])

    def line(self) -> str:
        """One line: elapsed time, state, and each SageMaker job's status/secondary status."""
        state = self.state or ("waiting for the run to start" if not self.run_id else "-")
        return f"[{self.elapsed:6.1f}s] {self.execution_status or self.run_status or 'PENDING':9} {state:22} {self.jobs()}"


def follow_run(
    dynamodb: Any,
    sfn: Any,
    table: str,
    key: str | None,
    version_id: str | None,
    *,
    timeout: float = 900.0,
    interval: float = 1.0,
    on_progress: Callable[[RunProgress], None] | None = None,
    started: float | None = None,
    run_id: str | None = None,
    start_timeout: float | None = None,
    ranks: Mapping[str, int] | None = None,
    settle: float | None = None,
    notes: Callable[[str | None], list[str]] | None = None,
) -> RunProgress:
    """Poll until a run ends (or ``timeout``); returns the last snapshot.

    The run is ``run_id`` when given, otherwise the one started by manifest ``key`` (at ``version_id``).
    ``start_timeout``: give up (returning a snapshot without ``run``) when the run has not appeared in the
    ledger by then. ``ranks`` (:func:`definition_ranks`) fills :attr:`RunProgress.fraction`. ``settle``:
    stop when the execution has ended (aborted, timed out, or failed before recording an outcome) and the
    ledger still says ``RUNNING`` that many seconds later. ``notes(run_id)``: what to add to the line
    (:attr:`RunProgress.notes`) while the run has not finished.
    """
    begin = started if started is not None else time.monotonic()
    now = time.monotonic()
    deadline = now + timeout
    appear_by = now + start_timeout if start_timeout is not None else None
    progress = RunProgress(run_id, None, None, None)
    best: float | None = None
    execution_ended_at: float | None = None
    while True:
        if run_id:
            run = get_run(dynamodb, table, run_id)
        elif key is not None:
            run = find_run(dynamodb, table, key, version_id)
        else:
            raise ValueError("follow_run needs a run_id or a manifest key")
        execution_status = state = None
        if run is not None:
            run_id = str(run["run_id"])
            arn = run.get("execution_arn")
            if arn:
                execution_status = sfn.describe_execution(executionArn=arn)["status"]
                state = current_state(execution_history(sfn, arn))
        progress = RunProgress(
            run_id=run_id,
            run_status=run.get("status") if run else None,
            execution_status=execution_status,
            state=state,
            steps=dict((run or {}).get("steps") or {}),
            elapsed=time.monotonic() - begin,
            run=run,
        )
        if notes is not None and run is not None and not progress.finished:
            progress.notes = list(notes(run_id))
        if ranks is not None:
            fraction = fraction_done(ranks, state)
            if progress.finished and progress.run_status in ("SUCCEEDED", "REJECTED"):
                fraction = 1.0
            if fraction is not None and (best is None or fraction > best):
                best = fraction
            progress.fraction = best if best is not None else 0.0
        if on_progress is not None:
            on_progress(progress)
        if progress.finished or time.monotonic() > deadline:
            return progress
        if execution_status in TERMINAL_EXECUTION_STATUSES:
            execution_ended_at = execution_ended_at or time.monotonic()
            if settle is not None and time.monotonic() - execution_ended_at >= settle:
                return progress
        if run is None and appear_by is not None and time.monotonic() > appear_by:
            return progress
        time.sleep(interval)
