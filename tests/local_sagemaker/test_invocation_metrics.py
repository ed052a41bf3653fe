"""Local endpoints publish ``Invocations`` (AWS/SageMaker, EndpointName/VariantName) to the local CloudWatch for
every InvokeEndpoint, as SageMaker does: what the idle parker reads (gtpipe_shared.idle)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from gtpipe_shared.idle import invocation_queries

from .conftest import REGION, Cloud
from .test_endpoints import deployed, invoke


def invocations(api: Cloud, name: str) -> float:
    now = datetime.now(UTC)
    response = api.session.client("cloudwatch", region_name=REGION).get_metric_data(
        MetricDataQueries=invocation_queries(name, ["AllTraffic"]),
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
    )
    return sum(sum(result["Values"]) for result in response["MetricDataResults"])


def test_each_invocation_is_counted_in_cloudwatch(api: Cloud, model_tar, digits) -> None:
    # Given an InService endpoint nobody has called
    name = deployed(api, model_tar)
    assert invocations(api, name) == 0
    # When it is invoked three times (one request the model refuses counts too: SageMaker counts requests)
    image = digits[0].path.read_bytes()
    for _ in range(2):
        invoke(api, name, image)
    with pytest.raises(ClientError, match="ModelError"):
        invoke(api, name, b"not an image", content_type="text/plain")
    # Then CloudWatch's Sum of the endpoint variant's Invocations is 3
    assert invocations(api, name) == 3
