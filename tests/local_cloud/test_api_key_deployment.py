"""The stack synthesized with ``gtpipe:apiAuth=api-key``: the key is generated locally, published in the
outputs and in API Gateway (``get-api-key --include-value``), and enforced by the HTTPS API (slow: one
more synthesis; no training)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from local.drivers.client import PredictionApi
from tests.local_cloud.conftest import running_cloud, small_context

pytestmark = pytest.mark.slow

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.fixture(scope="module")
def api_key_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    context = {**small_context(), "gtpipe:apiAuth": "api-key"}
    with running_cloud(tmp_path_factory.mktemp("api-key-cloud"), context, "cdk.out-tests-api-key") as cloud:
        yield cloud


def test_the_api_key_is_published_and_stored_in_api_gateway(api_key_cloud: Any) -> None:
    outputs = api_key_cloud.outputs
    key_id = next(value for name, value in outputs.items() if name.startswith("ServingApiKeyId"))
    stored = api_key_cloud.client("apigateway").get_api_key(apiKey=key_id, includeValue=True)
    assert stored["value"] == outputs["ApiKey"] and len(outputs["ApiKey"]) >= 20
    plans = api_key_cloud.client("apigateway").get_usage_plans()["items"]
    assert plans and plans[0]["throttle"] == {"burstLimit": 100, "rateLimit": 50.0}


def test_requests_need_the_key(api_key_cloud: Any) -> None:
    api = PredictionApi(api_key_cloud.outputs)
    without = api.request(PNG, "image/png", sign=False)
    assert without.status == 403 and without.json() == {"message": "Forbidden"}
    wrong = api.request(PNG, "image/png", sign=False, extra_headers={"x-api-key": "x" * 40})
    assert wrong.status == 403
    # With the key the request reaches the predict function, which has no model to call yet.
    with_key = api.request(PNG, "image/png")
    assert with_key.status == 503 and with_key.json()["code"] == "NoModel"
