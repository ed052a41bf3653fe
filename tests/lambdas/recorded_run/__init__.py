"""A recorded pipeline run, generated: everything the report step reads, as the pipeline writes it.

``build_run`` returns the objects of the data bucket (images, the labeling job's output manifest and
per-iteration consolidation files, the split's manifests, batch-transform outputs, ``metrics.json``),
the runs-ledger item, the execution state and the training job's CloudWatch log lines. ``install``
puts them into (moto's) S3, DynamoDB and CloudWatch Logs.

Generating the run instead of committing it keeps the repository free of binaries and lets tests
vary the shape (1 to 50 classes, empty and single-image classes, hostile class names, failed and
rejected runs, object detection).

Modules: ``common`` (names, clock, the run record, images, training log), ``classification``
(``build_run``), ``detection``, ``resources`` (install, download, page images), ``sample`` (the
command line).

Render a sample report into a folder (``index.html`` + ``figures/``)::

    PYTHONPATH=lambdas .venv/bin/python -m tests.lambdas.recorded_run /tmp/sample-report [--classes 10] [--detection]
"""

from tests.lambdas.recorded_run.classification import build_run
from tests.lambdas.recorded_run.common import (
    BUCKET,
    DETECTION_CLASSES,
    DIGITS,
    HOSTILE_NAMES,
    LOG_GROUP,
    RUNS_TABLE,
    RecordedRun,
    class_names_for,
    digit_image,
    gt_date,
    iso,
    run_start,
    synthetic_image,
)
from tests.lambdas.recorded_run.resources import (
    PageImages,
    create_resources,
    download_report,
    images_of,
    install,
    log_events,
)

__all__ = [
    "BUCKET",
    "DETECTION_CLASSES",
    "DIGITS",
    "HOSTILE_NAMES",
    "LOG_GROUP",
    "RUNS_TABLE",
    "PageImages",
    "RecordedRun",
    "build_run",
    "class_names_for",
    "create_resources",
    "digit_image",
    "download_report",
    "gt_date",
    "images_of",
    "install",
    "iso",
    "log_events",
    "run_start",
    "synthetic_image",
]
