"""Idle endpoints on the local cloud, end to end (slow: real training, transform, hosting).

With ``gtpipe:endpoint.idleMinutes`` 15, a run deploys its model and predictions flow (each one publishes the
endpoint's ``Invocations`` to the local CloudWatch, as SageMaker does). The deployed parker function (its own
role, IAM enforced from the synthesized template) is invoked with scheduled events whose ``time`` drives its
clock: at the real time it keeps the endpoint; 20 minutes later it parks it (DeleteEndpoint, config and model
kept, ``@serving`` marked parked). The prediction API then answers only the documented 503 Waking (with
Retry-After) while the endpoint is created again from the kept config, then 200 from the same model. Parked
again, a new run's deployment creates the endpoint (not an update) and its publish clears the parked mark.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gtpipe_cli.progress import get_run
from local.drivers.client import PredictionApi
from tests.fidelity.synthesized_cloud import function_named
from tests.local_cloud.conftest import Dataset, follow_dropped, jsonl, running_cloud, small_context
from training.datasets import augmented_manifest_line

pytestmark = pytest.mark.slow

IDLE_MINUTES = 15
RUN_TIMEOUT = 420.0
WAKE_TIMEOUT = 120.0


def idle_context() -> dict[str, Any]:
    """The test configuration with idle parking on (assembly cached in ``.local/cdk.out-idle``)."""
    context = small_context()
    endpoint = dict(context.get("gtpipe:endpoint") or {})
    context["gtpipe:endpoint"] = {**endpoint, "idleMinutes": IDLE_MINUTES}
    return context


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A local cloud with :func:`idle_context`."""
    with running_cloud(tmp_path_factory.mktemp("idle-cloud"), idle_context(), "cdk.out-idle") as local_cloud:
        yield local_cloud


def run_to_success(cloud: Any, dataset: Dataset, key: str) -> dict[str, Any]:
    lines = [augmented_manifest_line(r, "category", job_name="prelabeled") for r in dataset.labeled]
    put = cloud.client("s3").put_object(Bucket=dataset.bucket, Key=key, Body=jsonl(lines))
    progress = follow_dropped(cloud, key, put.get("VersionId"), timeout=RUN_TIMEOUT)
    assert progress.run_status == "SUCCEEDED", progress.run
    return dict(progress.run or {})


def item(cloud: Any, run_id: str) -> dict[str, Any]:
    return get_run(cloud.client("dynamodb"), cloud.outputs["RunsTableName"], run_id) or {}


def check_idle(cloud: Any, at: datetime) -> dict[str, Any]:
    """Invoke the deployed parker as its schedule does, with the scheduled event fired ``at``."""
    spec = function_named(cloud, "IdleIdleFunction")
    event = {
        "version": "0",
        "id": "idle-check",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resources": [],
        "detail": {},
    }
    response = cloud.registry.invoke(spec.name, json.dumps(event))
    assert not response.get("FunctionError"), response
    return dict(response["Payload"])


def endpoint_exists(cloud: Any) -> bool:
    try:
        cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.outputs["EndpointName"])
    except ClientError as exc:
        assert "Could not find" in str(exc)
        return False
    return True


def scalable_targets(cloud: Any) -> list[tuple[str, int, int]]:
    """The registered SageMaker scalable targets: (resource id, min, max)."""
    targets = cloud.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")
    return [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets["ScalableTargets"]]


def predict_until_served(api: PredictionApi, image: bytes) -> tuple[list[Any], Any]:
    """Every non-200 answer until the first 200 (WAKE_TIMEOUT at most), and that 200."""
    others: list[Any] = []
    deadline = time.monotonic() + WAKE_TIMEOUT
    while time.monotonic() < deadline:
        response = api.request(image, "image/png")
        if response.status == 200:
            return others, response
        others.append(response)
        time.sleep(0.5)
    raise AssertionError(
        f"not served after {WAKE_TIMEOUT} s: {[(r.status, r.answer()) for r in others[-3:]]}"
    )


def test_an_idle_endpoint_is_parked_woken_by_a_prediction_and_replaced_by_a_new_run(
    cloud: Any, dataset: Dataset
) -> None:
    # Given a deployed model serving predictions
    first = run_to_success(cloud, dataset, "incoming/idle-a.jsonl")
    api = PredictionApi(cloud.outputs)
    image = dataset.holdout[0].path.read_bytes()
    assert api.request(image, "image/png").status == 200
    config_name = item(cloud, "@serving")["endpoint_config_name"]
    scaling_before = scalable_targets(cloud)
    assert scaling_before == [(f"endpoint/{cloud.outputs['EndpointName']}/variant/AllTraffic", 1, 2)]

    # When the parker checks now / Then it keeps the endpoint (just deployed, just used)
    kept = check_idle(cloud, datetime.now(UTC))
    assert kept["parked"] is False, kept
    assert endpoint_exists(cloud)

    # When it checks with its clock 20 minutes ahead (no invocations in its last 15 minutes)
    parked = check_idle(cloud, datetime.now(UTC) + timedelta(minutes=20))

    # Then the endpoint is deleted, its config and model kept, and @serving marked parked with that config
    assert parked["parked"] is True, parked
    assert not endpoint_exists(cloud)
    assert scalable_targets(cloud) == []  # deregistered before DeleteEndpoint, kept in @serving
    sagemaker = cloud.client("sagemaker")
    variant = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)["ProductionVariants"][0]
    sagemaker.describe_model(ModelName=variant["ModelName"])
    record = item(cloud, "@serving")
    assert record["idle_state"] == "parked" and record["parked_endpoint_config_name"] == config_name

    # When predictions arrive
    waiting, served = predict_until_served(api, image)

    # Then the first answers are the documented 503 Waking with Retry-After, and no other error
    assert waiting, "the first request after parking must be answered 503 Waking"
    for response in waiting:
        assert response.status == 503, (response.status, response.answer())
        assert response.answer()["code"] == "Waking" and response.answer()["retry_after"] > 0
        assert {k.lower(): v for k, v in response.headers.items()}["retry-after"] == str(
            response.answer()["retry_after"]
        )
    # and then the same model answers, from the kept config, and @serving serves again
    assert served.json()["model"]["run_id"] == first["run_id"]
    endpoint = sagemaker.describe_endpoint(EndpointName=cloud.outputs["EndpointName"])
    assert endpoint["EndpointConfigName"] == config_name
    record = item(cloud, "@serving")
    assert record["idle_state"] == "serving" and "parked_endpoint_config_name" not in record
    # and the parker's next check gives the woken endpoint back the auto scaling verify had registered
    assert check_idle(cloud, datetime.now(UTC))["parked"] is False
    assert scalable_targets(cloud) == scaling_before
    # and the ledger counts one park and one wake, with the hours served before parking
    usage = item(cloud, "@endpoint-usage")
    assert (usage["parks"], usage["wakes"]) == (1, 1)
    assert usage["served_seconds"] >= 20 * 60 - 5

    # Given it is parked again (its clock 40 minutes ahead: the wake is 40 minutes old by it)
    assert check_idle(cloud, datetime.now(UTC) + timedelta(minutes=40))["parked"] is True
    parked_at = datetime.now(UTC)
    # When a new run deploys
    second = run_to_success(cloud, dataset, "incoming/idle-b.jsonl")
    # Then its deployment created the endpoint (none existed: no blue/green deployment config) and its
    # publish cleared the parked mark
    record = item(cloud, "@serving")
    assert record["source_run_id"] == second["run_id"] and "idle_state" not in record
    endpoint = sagemaker.describe_endpoint(EndpointName=cloud.outputs["EndpointName"])
    assert endpoint["CreationTime"] >= parked_at and "LastDeploymentConfig" not in endpoint
    assert endpoint["EndpointConfigName"] == record["endpoint_config_name"] != config_name
    others, served = predict_until_served(api, image)
    assert not others and served.json()["model"]["run_id"] == second["run_id"]
