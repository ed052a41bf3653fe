"""predict's part of drift monitoring: one small record per answered request (README "Monitoring").

With ``MONITORING_RECORDS=on`` (``gtpipe:monitoring.enabled``) every answered prediction writes
``monitoring/requests/<yyyy>/<mm>/<dd>/<hh>/<time>-<inference id>.json`` (UTC; about 1 KB): the image's
drift features (``gtpipe_shared.drift_image``), the predicted class and top confidence, and which model
answered. The image itself is not kept. The scheduled ``monitor`` function reads a window's records by their
hour prefixes. Why S3 and not the capture sample: a window needs every request's statistics (capture keeps
5 %); why not CloudWatch metrics from the function: a window's embedding is 64 numbers per request.

Like capture, recording never fails a prediction: a failure is logged and counted (``DriftRecordErrors``).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from gtpipe_shared.aws import client
from gtpipe_shared.config import require_env
from gtpipe_shared.drift_image import image_features
from gtpipe_shared.drift_monitor import request_key, request_record


def recording_on() -> bool:
    """Whether the stack asked for request records (``MONITORING_RECORDS=on``)."""
    return os.environ.get("MONITORING_RECORDS", "").strip().lower() == "on"


def record_request(
    answer: dict[str, Any],
    target: dict[str, Any],
    image: tuple[bytes, tuple[int, int] | None],
    *,
    logger: Logger,
    metrics: Metrics,
) -> None:
    """Write the request record of ``answer`` (the ``@serving`` item ``target`` answered it; ``image`` is
    the endpoint's bytes and the original's size). Never raises."""
    if not recording_on():
        return
    try:
        at = datetime.now(UTC)
        inference_id = str(answer["inference_id"])
        data, size = image
        record = request_record(
            inference_id=inference_id,
            at=at,
            features=image_features(data, size),
            answer=answer,
            serving=target,
        )
        client("s3").put_object(
            Bucket=require_env("DATA_BUCKET"),
            Key=request_key(inference_id, at),
            Body=json.dumps(record).encode(),
            ContentType="application/json",
        )
    except Exception as exc:  # monitoring must never fail the prediction
        logger.warning("drift record failed", extra={"error": f"{type(exc).__name__}: {str(exc)[:200]}"})
        metrics.add_metric(name="DriftRecordErrors", unit=MetricUnit.Count, value=1)
