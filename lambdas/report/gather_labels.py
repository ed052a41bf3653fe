"""Gathering the labeling parts of a report: the labels, the labeling cost and the labeling team.

Labels are read by streaming the labeled manifest (aggregates only, at most ``MAX_MANIFEST_LINES``);
iterations come from the labeling job's consolidation files.
"""

from __future__ import annotations

from collections.abc import Mapping

from botocore.exceptions import BotoCoreError, ClientError
from gtpipe_shared.aws import error_code
from gtpipe_shared.pricing import (
    BuiltinPricing,
    LabelingPrices,
    estimate_labeling_cost,
    labeling_cost,
    measured_work,
)
from gtpipe_shared.s3uri import S3UriError, parse_s3_uri, s3_uri

from report.fields import as_float, as_int, as_map, as_text, dig, error_text
from report.gather_base import RunSource
from report.labels import (
    AUTO_ANNOTATION_DIR,
    AUTO_ANNOTATION_FILE,
    AUTO_ANNOTATION_NOTE,
    CONSOLIDATION_DIR,
    cost_summary,
    count_auto_annotations,
    count_consolidated,
    iterations_from_files,
    job_root,
    machine_rounds,
    summarize_labels,
)
from report.model import (
    COST,
    LABELS,
    TEAM,
)
from report.team import parse_team

MAX_MANIFEST_LINES = 1_000_000
MAX_CONSOLIDATION_FILES = 2000
DEFAULT_WORKERS_PER_OBJECT = 3


class LabelParts(RunSource):
    """The labels, cost and team parts (see the module docstring)."""

    def _prices(self) -> LabelingPrices:
        """The prices this run was planned with (execution input, ledger), else the stack's."""
        for where, candidate in (
            ("config.labeling.prices", dig(self.state, "config", "labeling", "prices")),
            ("labeling_cost.prices", dig(self.ledger, "labeling_cost", "prices")),
        ):
            if isinstance(candidate, Mapping):
                try:
                    return LabelingPrices.from_mapping(candidate)
                except (ValueError, TypeError, AttributeError) as exc:
                    self.data.warn(f"{where} is not a valid price table ({exc}); the stack's prices are used")
        return self.settings.prices

    # -- labels and cost --------------------------------------------------------------------------

    def _labeling_job_root(self) -> str | None:
        output = as_text(dig(self.state, "labeling", "output_uri"))
        if output:
            return job_root(output)
        job_name = as_text(dig(self.ledger, "steps", "label", "job_name"))
        output_path = as_text(dig(self.state, "config", "labeling", "output_path"))
        if job_name and output_path:
            return output_path.rstrip("/") + "/" + job_name + "/"
        return None

    def _labels_source(self) -> tuple[str, str] | None:
        root = self._labeling_job_root()
        if root is not None:
            return (
                as_text(dig(self.state, "labeling", "output_uri"))
                or root + "manifests/output/output.manifest",
                "labeling job output",
            )
        if self.data.headline.manifest_kind == "augmented":
            uri = as_text(dig(self.state, "augmented", "manifest_uri")) or self.data.headline.input_uri
            if uri:
                return uri, "dropped augmented manifest"
        return None

    def _read_iterations(self) -> None:
        root = self._labeling_job_root()
        if root is None:
            return
        bucket, prefix = parse_s3_uri(root + CONSOLIDATION_DIR)
        keys = [key for key in self._list(bucket, prefix, MAX_CONSOLIDATION_FILES) if key.endswith(".json")]

        def count(key: str) -> tuple[str, int]:
            try:
                return key, count_consolidated(self._read(s3_uri(bucket, key)))
            except (ValueError, ClientError) as exc:
                self.data.warn(f"consolidation file s3://{bucket}/{key} is unreadable ({error_text(exc)})")
                return key, 0

        self.iterations = iterations_from_files(self._parallel(count, keys))
        bucket, prefix = parse_s3_uri(root + AUTO_ANNOTATION_DIR)
        auto_keys = [
            k for k in self._list(bucket, prefix, MAX_CONSOLIDATION_FILES) if k.endswith(AUTO_ANNOTATION_FILE)
        ]

        def count_auto(key: str) -> tuple[str, int]:
            return key, count_auto_annotations(self._read(s3_uri(bucket, key)))

        self.machine_rounds = machine_rounds(self._parallel(count_auto, auto_keys))

    def _labels(self) -> None:
        source = self._labels_source()
        if source is None:
            reason = "the run has no labeled manifest"
            if self.data.failure and self.data.failure.get("step") == "labeling":
                reason = "labeling failed before it wrote an output manifest"
            self.data.missing(LABELS, reason)
            return
        uri, what = source
        try:
            self._read_iterations()
        except (ClientError, BotoCoreError, S3UriError) as exc:
            self.data.warn(f"labeling iterations could not be listed ({error_text(exc)})")
        label_attribute = as_text(dig(self.state, "manifest", "label_attribute")) or as_text(
            dig(self.state, "config", "labeling", "label_attribute")
        )
        num_classes = len(self.data.class_names)
        try:
            summary, names_seen = summarize_labels(
                self._lines(uri, MAX_MANIFEST_LINES),
                manifest_uri=uri,
                source=what,
                task_type=self.data.task_type,
                num_classes=num_classes if num_classes else 1000,
                label_attribute=label_attribute,
                iterations=self.iterations,
            )
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404", "AccessDenied", "403"):
                self.data.missing(LABELS, f"the labeled manifest {uri} does not exist ({error_code(exc)})")
                return
            raise
        if not num_classes:
            # No class list in the execution state: take the names the labels carry.
            top = max(names_seen, default=-1)
            used = max((i for i, c in enumerate(summary.per_class) if c.total), default=-1)
            count = max(top, used) + 1
            self.data.class_names = [names_seen.get(i, f"class {i}") for i in range(count)]
            summary.per_class = summary.per_class[:count]
            self.data.warn("the execution state has no class names; names were taken from the labels")
        if self.machine_rounds:
            summary.machine_by_iteration = dict(self.machine_rounds)
            summary.machine_iteration_note = AUTO_ANNOTATION_NOTE
        if summary.unknown_class_labels:
            self.data.warn(
                f"{summary.unknown_class_labels} labels name a class id outside the configured classes"
            )
        if summary.lines == 0:
            self.data.missing(LABELS, f"the labeled manifest {uri} is empty")
            return
        if not summary.per_class:
            self.data.missing(LABELS, f"the labeled manifest {uri} has no usable label")
            return
        self.data.labels = summary

    def _labeling_ran(self) -> bool:
        return (
            self._labeling_job_root() is not None
            or isinstance(self.ledger.get("labeling"), Mapping)
            or self.data.headline.manifest_kind == "input"
        )

    def _team(self) -> None:
        """The builtin labeling service's team statistics: the ledger's ``labeling_team`` (notify
        ``labeled``), else the state's ``labeling.team``; otherwise why there are none."""
        for raw, source in (
            (self.ledger.get("labeling_team"), "runs ledger (labeling_team)"),
            (dig(self.state, "labeling", "team"), "state machine's labeling result (labeling.team)"),
        ):
            if raw is not None:
                self.data.team = parse_team(raw, source)
                return
        backend = as_text(dig(self.state, "config", "labeling", "backend")) or as_text(
            dig(self.state, "labeling", "backend")
        )
        if not self._labeling_ran():
            reason = "no labeling job ran: the dropped manifest already carried labels"
        elif backend == "builtin":
            reason = "the labeling service recorded no team statistics for this run (labeling did not finish)"
        else:
            reason = (
                "the labels come from SageMaker Ground Truth, which does not publish per-worker statistics "
                "(the builtin labeling backend does)"
            )
        self.data.missing(TEAM, reason)

    def _builtin(self) -> BuiltinPricing | None:
        """The builtin labeling service's cost model when the run labeled on it (its ``config.labeling``),
        else None: Ground Truth's prices apply."""
        settings = dict(as_map(dig(self.state, "config", "labeling")))
        settings["backend"] = settings.get("backend") or as_text(dig(self.state, "labeling", "backend"))
        try:
            return BuiltinPricing.from_settings(settings)
        except ValueError as exc:
            self.data.warn(f"the builtin labeling cost settings are not valid ({exc}); the defaults are used")
            return BuiltinPricing()

    def _estimate(
        self, workers: int, prices: LabelingPrices, builtin: BuiltinPricing | None
    ) -> tuple[float | None, str | None]:
        """The cost guard's estimate (ledger, execution input), else the report's own from the object count."""
        recorded = as_map(self.ledger.get("labeling_cost")) or as_map(
            dig(self.state, "labeling_record", "labeling_cost")
        )
        estimated = as_float(recorded.get("estimated_usd"))
        if estimated is None:
            estimated = as_float(dig(self.state, "config", "labeling", "estimated_cost_usd"))
        if estimated is not None:
            return estimated, "the cost guard's estimate before labeling"
        objects = as_int(dig(self.state, "manifest", "line_count")) or as_int(self.ledger.get("line_count"))
        if objects is None:
            return None, None
        if builtin is not None:
            return builtin.estimate(objects, workers), (
                f"computed by the report: {objects} objects x {workers} answers on the builtin labeling service"
            )
        return (
            estimate_labeling_cost(objects, workers, self.data.task_type, prices),
            f"computed by the report: {objects} objects, all labeled by people",
        )

    def _computed_actual(
        self, workers: int, prices: LabelingPrices, builtin: BuiltinPricing | None
    ) -> tuple[float | None, float | None, str | None]:
        """The actual cost when the ledger has none: the builtin service's measured answers and seconds, else
        the job's label counters at Ground Truth's prices."""
        if builtin is not None:
            for raw in (self.ledger.get("labeling_team"), dig(self.state, "labeling", "team")):
                measured = measured_work(as_map(raw) or None)
                if measured is not None:
                    cost = builtin.cost(*measured)
                    return (
                        cost.human_usd,
                        cost.machine_usd,
                        (
                            f"computed by the report from the {measured[0]} answers and {measured[1]:,.0f} seconds "
                            "the builtin labeling service measured"
                        ),
                    )
        head = self.data.headline
        if head.human_labeled is None:
            return None, None, None
        if builtin is not None:
            answers = head.human_labeled * workers
            cost = builtin.cost(answers, answers * builtin.seconds_per_task)
        else:
            cost = labeling_cost(
                head.human_labeled, head.machine_labeled or 0, workers, self.data.task_type, prices
            )
        return cost.human_usd, cost.machine_usd, "computed by the report from the job's label counters"

    def _cost(self) -> None:
        if not self._labeling_ran():
            self.data.missing(COST, "no labeling job ran: the dropped manifest already carried labels")
            return
        prices = self._prices()
        builtin = self._builtin()
        workers = as_int(dig(self.state, "config", "labeling", "workers_per_object"))
        if workers is None or workers < 1:
            workers = DEFAULT_WORKERS_PER_OBJECT
            self.data.warn(f"workers per object unknown; the cost assumes {workers}")
        recorded = as_map(self.ledger.get("labeling_cost")) or as_map(
            dig(self.state, "labeling_record", "labeling_cost")
        )
        estimated, estimate_note = self._estimate(workers, prices, builtin)
        budget = as_float(recorded.get("budget_usd"))
        if budget is None:
            budget = as_float(dig(self.state, "config", "labeling", "budget_usd"))
        # labeling_cost holds human_usd/machine_usd next to actual_usd (a total); accept them nested too.
        actual = as_map(recorded.get("actual_usd")) or recorded
        actual_human, actual_machine = as_float(actual.get("human_usd")), as_float(actual.get("machine_usd"))
        actual_note = (
            "recorded in the runs ledger" if actual_human is not None or actual_machine is not None else None
        )
        if actual_note is None:
            actual_human, actual_machine, actual_note = self._computed_actual(workers, prices, builtin)
        if not self.iterations and self.data.labels is None and actual_note is None:
            self.data.missing(COST, "the labeling job left no output to count labels from")
            return
        self.data.cost = cost_summary(
            iterations=self.iterations,
            labels=self.data.labels
            if self.data.labels and self.data.labels.source == "labeling job output"
            else None,
            prices=prices,
            task_type=self.data.task_type,
            workers_per_object=workers,
            estimated_usd=estimated,
            estimate_note=estimate_note,
            actual_human_usd=actual_human,
            actual_machine_usd=actual_machine,
            actual_note=actual_note,
            budget_usd=budget,
            human_object_usd=self._builtin_object_usd(builtin, workers, actual_human),
        )

    def _builtin_object_usd(
        self, builtin: BuiltinPricing | None, workers: int, actual_human: float | None
    ) -> float | None:
        """One human-labeled object's cost on the builtin service (the actual human cost shared by the
        human-labeled objects when both are known, else the model's); None for Ground Truth's prices."""
        if builtin is None:
            return None
        people = self.data.headline.human_labeled
        if actual_human is not None and people:
            return actual_human / people
        return workers * (builtin.aws_answer_usd + builtin.labeler_usd(builtin.seconds_per_task))
