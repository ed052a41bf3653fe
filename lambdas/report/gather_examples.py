"""Gathering the evaluation and the validation examples: ``metrics.json``, the validation manifest
joined with the batch-transform outputs, and the images shown.

At most ``MAX_VALIDATION_LINES`` validation lines and ``MAX_OUTPUTS`` transform outputs are read; up to
``FULL_JOIN_LIMIT`` validation images every output is read, so the metrics can be recomputed when the
run has no evaluation report. Images are fetched only for the examples shown, downscaled on arrival.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError
from gtpipe_shared.aws import error_code
from gtpipe_shared.metrics import (
    PredictionError,
    argmax,
    classification_metrics,
    detection_metrics,
    ground_truth_boxes,
    output_uri_for,
    parse_detections,
    parse_prediction,
)
from gtpipe_shared.naming import metrics_key
from gtpipe_shared.s3uri import S3UriError, parse_s3_uri, s3_uri
from gtpipe_shared.split import SplitError, common_prefix, manifest_prefix

from report.examples import Prediction, choose_classification, choose_detection_rows, choose_detection_samples
from report.fields import as_float, as_text, dig, error_text, evaluation_from_report
from report.gather_base import RunSource
from report.model import (
    EVALUATION,
    EXAMPLES,
    Box,
    ClassificationExample,
    DetectionExample,
)

MAX_VALIDATION_LINES = 200_000
FULL_JOIN_LIMIT = 2000  # up to this many validation images, every output is read (metrics recomputable)
CANDIDATES_PER_CLASS = 24  # beyond it, this many outputs per class are read to pick examples from
MAX_OUTPUTS = 4000
CLASSIFICATION_PER_CLASS = 8
DETECTION_PER_CLASS = 6
DETECTION_SAMPLES = 8
THUMBNAIL_PX = 128
DETECTION_IMAGE_PX = 320


class ExampleParts(RunSource):
    """The evaluation and examples parts (see the module docstring)."""

    # -- evaluation -------------------------------------------------------------------------------

    def _evaluation(self) -> None:
        uri = as_text(dig(self.state, "evaluation", "metrics_uri")) or s3_uri(
            self.settings.data_bucket, metrics_key(self.data.run_id)
        )
        body = self._maybe_read(uri)
        if body is None:
            self.data.missing(EVALUATION, self._no_evaluation_reason())
            return
        report = json.loads(body)
        if not isinstance(report, dict) or as_float(report.get("metric_value")) is None:
            self.data.missing(EVALUATION, f"{uri} has no metric_value")
            self.data.warn(f"{uri} is not an evaluation report")
            return
        self.data.evaluation = evaluation_from_report(report, source="metrics.json")

    def _no_evaluation_reason(self) -> str:
        failure = self.data.failure or {}
        if failure.get("step"):
            return f"the run failed at {failure['step']} before evaluation"
        return "the run has no evaluation (metrics.json does not exist)"

    # -- validation examples ----------------------------------------------------------------------

    def _validation_prefix(self, refs_common: str | None, count: int) -> str:
        images_uri = as_text(dig(self.state, "split", "validation_images_uri"))
        if images_uri:
            try:
                bucket, key = parse_s3_uri(images_uri)
                response = self.clients.s3.get_object(Bucket=bucket, Key=key, Range="bytes=0-65535")
                with response["Body"] as stream:
                    head = bytes(stream.read()).decode("utf-8", "replace").lstrip()
                if head.startswith("["):
                    first, _ = json.JSONDecoder().raw_decode(head[1:].lstrip())
                    prefix = first.get("prefix") if isinstance(first, dict) else None
                    if isinstance(prefix, str) and prefix.startswith("s3://"):
                        return prefix
            except (ClientError, ValueError, S3UriError) as exc:
                self.data.warn(
                    f"validation images manifest unreadable ({error_text(exc)}); prefix recomputed"
                )
        return manifest_prefix(refs_common or "", count)

    def _examples(self) -> None:
        validation_uri = as_text(dig(self.state, "split", "validation_uri"))
        output_uri = as_text(dig(self.state, "split", "transform_output_uri"))
        if not validation_uri or not output_uri:
            self.data.missing(EXAMPLES, self._no_split_reason())
            return
        if not as_text(dig(self.state, "transform", "job_name")) and not self._has_outputs(output_uri):
            failure = self.data.failure or {}
            where = f" (it failed at {failure['step']})" if failure.get("step") else ""
            self.data.missing(
                EXAMPLES, f"no predictions: the run ended before batch transform wrote outputs{where}"
            )
            return
        label_attribute = as_text(dig(self.state, "manifest", "label_attribute")) or "category"
        try:
            rows, total, refs_common = self._validation_rows(validation_uri, label_attribute)
        except ClientError as exc:
            if error_code(exc) not in ("NoSuchKey", "404", "AccessDenied", "403"):
                raise
            self.data.missing(
                EXAMPLES, f"the validation manifest {validation_uri} is unreadable ({error_code(exc)})"
            )
            self.data.warn(f"the validation manifest {validation_uri} is unreadable ({error_code(exc)})")
            return
        if not rows:
            self.data.missing(EXAMPLES, f"the validation manifest {validation_uri} has no usable labels")
            return
        try:
            prefix = self._validation_prefix(refs_common, total)
        except SplitError as exc:
            self.data.missing(EXAMPLES, str(exc))
            return
        complete = total == len(rows)
        if not complete:
            self.data.examples_note = (
                f"examples picked from {len(rows)} of {total} validation images (at most "
                f"{CANDIDATES_PER_CLASS} per class were read)"
            )
        refs = [ref for ref, _ in rows]
        try:
            uris = [output_uri_for(ref, prefix, output_uri) for ref in refs]
        except ValueError as exc:
            self.data.missing(EXAMPLES, f"validation image outside the transform input prefix: {exc}")
            return
        bodies = self._parallel(self._maybe_output, uris)
        if all(body is None for body in bodies):
            self.data.missing(EXAMPLES, f"no transform output under {output_uri}")
            return
        if self.data.is_detection:
            self._detection_examples(rows, bodies, complete)
        else:
            self._classification_examples(rows, bodies, complete)

    def _no_split_reason(self) -> str:
        failure = self.data.failure or {}
        if failure.get("step"):
            return f"no validation set: the run failed at {failure['step']}"
        return "no validation set in the execution state"

    def _has_outputs(self, output_uri: str | None) -> bool:
        if not output_uri:
            return False
        try:
            bucket, prefix = parse_s3_uri(output_uri)
            response = self.clients.s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        except (ClientError, S3UriError):
            return False
        return bool(response.get("Contents"))

    def _maybe_output(self, uri: str) -> bytes | None:
        return self._maybe_read(uri, limit=1024 * 1024)

    def _validation_rows(
        self, uri: str, label_attribute: str
    ) -> tuple[list[tuple[str, Any]], int, str | None]:
        """``(rows to read outputs for, validation line count, common prefix of all refs)``."""
        everything: list[tuple[str, Any]] = []
        per_class: dict[int, list[tuple[str, Any]]] = {}
        total = 0
        common: str | None = None
        num_classes = len(self.data.class_names)
        for line in self._lines(uri, MAX_VALIDATION_LINES):
            try:
                obj = json.loads(line) if line is not None else None
            except ValueError:
                obj = None
            if not isinstance(obj, dict) or not isinstance(obj.get("source-ref"), str):
                continue
            ref, label = obj["source-ref"], obj.get(label_attribute)
            if self.data.is_detection:
                if not isinstance(label, dict):
                    continue
                try:
                    classes = {c for c, _ in ground_truth_boxes(label)}
                except (ValueError, KeyError, TypeError):
                    continue
            else:
                if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < num_classes:
                    continue
                classes = {label}
            total += 1
            common = common_prefix(common, ref)
            if len(everything) <= FULL_JOIN_LIMIT:
                everything.append((ref, label))
            for class_id in classes or {-1}:
                bucket = per_class.setdefault(class_id, [])
                if len(bucket) < CANDIDATES_PER_CLASS:
                    bucket.append((ref, label))
        if total <= FULL_JOIN_LIMIT:
            return everything, total, common
        seen: set[str] = set()
        rows: list[tuple[str, Any]] = []
        for class_id in sorted(per_class):
            for ref, label in per_class[class_id]:
                if ref not in seen and len(rows) < MAX_OUTPUTS:
                    seen.add(ref)
                    rows.append((ref, label))
        return rows, total, common

    def _classification_examples(
        self, rows: list[tuple[str, Any]], bodies: list[bytes | None], complete: bool
    ) -> None:
        predictions: list[Prediction] = []
        unusable = 0
        for (ref, label), body in zip(rows, bodies, strict=True):
            predicted: int | None = None
            confidence: float | None = None
            if body is not None:
                try:
                    probabilities = parse_prediction(body)
                    predicted = argmax(probabilities)
                    confidence = probabilities[predicted]
                except (PredictionError, ValueError):
                    unusable += 1
            else:
                unusable += 1
            predictions.append(Prediction(ref, int(label), predicted, confidence))
        if unusable:
            self.data.warn(f"{unusable} validation images have no usable transform output")
        if self.data.evaluation is None and complete:
            report = classification_metrics(
                [(p.true_class, p.predicted_class) for p in predictions], self.data.class_names
            )
            report.update({"metric_name": "accuracy", "metric_value": report["accuracy"]})
            self.data.evaluation = evaluation_from_report(report, source="recomputed by the report")
            self.data.unavailable.pop(EVALUATION, None)
            self._evaluation_threshold()
        chosen = choose_classification(predictions, len(self.data.class_names), CLASSIFICATION_PER_CLASS)
        images = self._parallel(
            lambda ref: self._thumbnail(ref, THUMBNAIL_PX), [p.source_ref for p in chosen]
        )
        self.data.classification_examples = [
            ClassificationExample(p.source_ref, p.true_class, p.predicted_class, p.confidence, image)
            for p, image in zip(chosen, images, strict=True)
        ]

    def _evaluation_threshold(self) -> None:
        evaluation = self.data.evaluation
        threshold = as_float(dig(self.state, "config", "quality_threshold"))
        if evaluation is not None and threshold is not None:
            evaluation.quality_threshold = threshold
            evaluation.passed = evaluation.metric_value >= threshold

    def _detection_examples(
        self, rows: list[tuple[str, Any]], bodies: list[bytes | None], complete: bool
    ) -> None:
        images: list[tuple[list[tuple[int, Box]], list[tuple[int, float, Box]] | None]] = []
        unusable = 0
        for (_ref, label), body in zip(rows, bodies, strict=True):
            detections: list[tuple[int, float, Box]] | None = None
            if body is not None:
                try:
                    detections = parse_detections(body)
                except (PredictionError, ValueError, TypeError):
                    unusable += 1
            else:
                unusable += 1
            images.append((ground_truth_boxes(label), detections))
        if unusable:
            self.data.warn(f"{unusable} validation images have no usable transform output")
        if self.data.evaluation is None and complete:
            report = detection_metrics(images, self.data.class_names)
            report.update({"metric_name": "map_50", "metric_value": report["map"]})
            self.data.evaluation = evaluation_from_report(report, source="recomputed by the report")
            self.data.unavailable.pop(EVALUATION, None)
            self._evaluation_threshold()
        class_rows = choose_detection_rows(images, len(self.data.class_names), DETECTION_PER_CLASS)
        samples = choose_detection_samples(images, DETECTION_SAMPLES)
        wanted = sorted(set(samples) | {i for indices in class_rows.values() for i in indices})
        position = {index: n for n, index in enumerate(wanted)}
        pictures = self._parallel(
            lambda ref: self._thumbnail(ref, DETECTION_IMAGE_PX), [rows[i][0] for i in wanted]
        )
        self.data.detection_examples = [
            DetectionExample(rows[i][0], images[i][0], images[i][1], picture)
            for i, picture in zip(wanted, pictures, strict=True)
        ]
        self.data.detection_rows = {c: [position[i] for i in indices] for c, indices in class_rows.items()}
        self.data.detection_samples = [position[i] for i in samples]
