"""CloudWatch ``Invocations`` of local endpoints, as SageMaker publishes them.

SageMaker counts every InvokeEndpoint request a variant receives as ``Invocations`` in the ``AWS/SageMaker``
namespace with the dimensions ``EndpointName`` and ``VariantName``
(https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html). The local endpoints write one
datapoint per request into moto's CloudWatch of the same account and region, so what reads that metric (the idle
parker's GetMetricData, ``gtpipe_shared.idle``) sees local traffic as it would see AWS's.
"""

from __future__ import annotations

import logging

LOG = logging.getLogger(__name__)

NAMESPACE = "AWS/SageMaker"


def publish_invocation(account_id: str, region: str, endpoint_name: str, variant_name: str) -> None:
    """One ``Invocations`` datapoint (value 1, now) for the variant; a failure is logged, never raised (the
    request itself succeeds on AWS even when its metrics are late)."""
    try:
        from moto.cloudwatch.models import cloudwatch_backends

        cloudwatch_backends[account_id][region].put_metric_data(
            NAMESPACE,
            [
                {
                    "MetricName": "Invocations",
                    "Value": 1.0,
                    "Unit": "None",
                    "Dimensions": [
                        {"Name": "EndpointName", "Value": endpoint_name},
                        {"Name": "VariantName", "Value": variant_name},
                    ],
                }
            ],
        )
    except Exception:
        LOG.exception("could not publish Invocations for endpoint %s", endpoint_name)
