"""The prediction API over HTTPS on a running local cloud: authentication, throttling and bad images.

One local cloud for the module, synthesized with ``gtpipe:apiAuth=api-key`` and a tiny stage/usage-plan
rate (``gtpipe:apiRateLimit=1``, ``gtpipe:apiBurstLimit=6``): the deployed template's limits drive the local
token buckets, so a short burst is enough to see 429s. No model is deployed: a request that got past
predict's validation would answer 503 ``NoModel``, so a 4xx with the validation's code shows the request
stopped before any endpoint call (slow: one synthesis, cached in ``.local/cdk.out-tests-security``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local.drivers.client import ApiResponse, PredictionApi
from tests.local_cloud.conftest import running_cloud, small_context
from tests.reliability.test_bad_inputs_corpus import Case, case_params

pytestmark = pytest.mark.slow

RATE_LIMIT = 1
BURST_LIMIT = 6
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def api_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    context = {
        **small_context(),
        "gtpipe:apiAuth": "api-key",
        "gtpipe:apiRateLimit": RATE_LIMIT,
        "gtpipe:apiBurstLimit": BURST_LIMIT,
    }
    with running_cloud(tmp_path_factory.mktemp("security-cloud"), context, "cdk.out-tests-security") as cloud:
        yield cloud


@pytest.fixture(scope="module")
def api(api_cloud: Any) -> PredictionApi:
    return PredictionApi(api_cloud.outputs)


def predict_calls(cloud: Any) -> list[Any]:
    """Every recorded invocation of the deployed predict function."""
    (name,) = [n for n in cloud.deployment.functions if "Predict" in n]
    return list(cloud.registry.invocations_of(name))


def assert_gateway_json(response: ApiResponse, status: int, message: str) -> None:
    assert response.status == status, response.body[:300]
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"message": message}


def test_the_deployed_stage_and_usage_plan_carry_the_configured_limits(api_cloud: Any) -> None:
    # given the deployed API
    (model,) = api_cloud.deployment.apis.values()
    # then the stage's method settings and the key's usage plan hold the synthesized limits
    (stage,) = model.stages.values()
    throttle = stage.throttle_for("/predict", "POST")
    assert (throttle.rate_limit, throttle.burst_limit) == (RATE_LIMIT, BURST_LIMIT)
    (plan,) = model.usage_plans.values()
    assert plan.throttle is not None and plan.throttle.burst_limit == BURST_LIMIT


@pytest.mark.parametrize(
    ("headers", "sign"),
    [
        pytest.param({}, False, id="no-credentials"),
        pytest.param({"x-api-key": "x" * 40}, False, id="wrong-api-key"),
        pytest.param({"x-api-key": ""}, False, id="empty-api-key"),
        pytest.param({"X-API-KEY": "y" * 20}, False, id="wrong-api-key-other-spelling"),
    ],
)
def test_requests_without_a_valid_api_key_are_403_and_never_reach_predict(
    api_cloud: Any, api: PredictionApi, headers: dict[str, str], sign: bool
) -> None:
    # given the number of predict invocations so far
    before = len(predict_calls(api_cloud))
    # when a well-formed image request comes without a valid key
    response = api.request(PNG_SIGNATURE + b"\0" * 64, "image/png", sign=sign, extra_headers=headers)
    # then API Gateway answers 403 itself and the predict function is not invoked
    assert_gateway_json(response, 403, "Forbidden")
    assert len(predict_calls(api_cloud)) == before


@pytest.mark.parametrize("case", case_params("image", https_only=True))
def test_bad_images_over_https_get_the_handlers_4xx(api_cloud: Any, api: PredictionApi, case: Case) -> None:
    # given the number of predict invocations so far
    before = len(predict_calls(api_cloud))
    body = case.data()
    assert body is not None
    # when the case's image is posted with the key (a throttled attempt is retried, as a client would)
    response = api.predict(body, case.content_type or "image/png")
    # then the handler's 4xx JSON error comes back over HTTPS, without internals
    assert response.status == case.expect["status"], response.body[:300]
    assert response.headers["Content-Type"] == "application/json"
    answer = response.json()
    assert answer == {"error": answer["error"], "code": case.expect["code"]}
    assert case.expect["contains"] in answer["error"]
    assert b"Traceback" not in response.body
    calls = predict_calls(api_cloud)[before:]
    if case.expect.get("https_answered_by") == "gateway":
        # and an image whose base64 event is over Lambda's 6 MB never reaches predict: the gateway answers
        assert calls == []
        return
    # and predict ran exactly once for it and stopped at validation (no endpoint lookup: no 503 NoModel)
    assert len(calls) == 1
    assert json.loads(calls[0].result["body"])["code"] == case.expect["code"]


def test_a_burst_beyond_the_rate_is_throttled_with_429_before_predict(
    api_cloud: Any, api: PredictionApi
) -> None:
    # given the number of predict invocations so far
    before = len(predict_calls(api_cloud))
    # when four times the burst limit is sent as fast as one client can
    started = time.monotonic()
    responses = [api.request(b"not an image", "image/png") for _ in range(4 * BURST_LIMIT)]
    elapsed = time.monotonic() - started
    # then requests beyond the bucket are answered 429 by the gateway
    throttled = [r for r in responses if r.status == 429]
    passed = [r for r in responses if r.status != 429]
    assert throttled, [r.status for r in responses]
    for response in throttled:
        assert_gateway_json(response, 429, "Too Many Requests")
    # and no more passed than the burst plus what the rate refilled meanwhile
    assert len(passed) <= BURST_LIMIT + math.ceil(elapsed * RATE_LIMIT) + 1
    assert {r.status for r in passed} == {400}
    # and only the requests that passed reached the predict function
    assert len(predict_calls(api_cloud)) - before == len(passed)
