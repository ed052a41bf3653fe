"""``gtpipe predict`` on a parked endpoint (gtpipe_cli/waking.py): retries 503 Waking honouring retry_after,
says it is waking, and gives up (exit 4) after --wake-timeout."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from gtpipe_cli.api import ApiResponse, PredictionClient
from gtpipe_cli.errors import CliError, Exit
from gtpipe_cli.waking import retry_after, until_awake
from tests.cli.conftest import gtpipe
from tests.cli.stacks import local_outputs

WAKING = ApiResponse(
    503,
    {"Retry-After": "30"},
    json.dumps({"error": "waking", "code": "Waking", "retry_after": 30}).encode(),
)
OK = ApiResponse(200, {}, json.dumps({"label": "cat"}).encode())


class FakeTime:
    """A clock that only moves when slept on."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def test_waking_answers_are_retried_after_retry_after_until_the_prediction() -> None:
    # Given an API that answers 503 Waking twice, then the prediction
    answers = [WAKING, WAKING, OK]
    fake, err = FakeTime(), io.StringIO()
    # When predicting with a 900 s bound
    response = until_awake(lambda: answers.pop(0), max_wait=900, err=err, sleep=fake.sleep, clock=fake.clock)
    # Then it waited retry_after (30 s) twice, said so each time, and answers the prediction
    assert response is OK and fake.slept == [30.0, 30.0]
    assert err.getvalue().count("the endpoint is waking up") == 2


def test_the_wait_is_bounded() -> None:
    # Given an endpoint that never wakes / When the bound is 60 s
    fake = FakeTime()
    with pytest.raises(CliError) as raised:
        until_awake(lambda: WAKING, max_wait=60, err=io.StringIO(), sleep=fake.sleep, clock=fake.clock)
    # Then it stops with exit 4 (not there yet) before waiting past the bound
    assert raised.value.code == Exit.NOT_YET and "still waking" in raised.value.message
    assert sum(fake.slept) <= 60


def test_only_the_documented_503_is_retried() -> None:
    # Given other answers / Then none is a wait (NoModel, a 502, a prediction)
    no_model = ApiResponse(503, {}, b'{"error": "no model", "code": "NoModel"}')
    assert retry_after(no_model) is None
    assert retry_after(ApiResponse(502, {}, b'{"code": "EndpointError"}')) is None
    assert retry_after(OK) is None
    # and the header is used when the body has no retry_after; an absurd value is bounded
    assert retry_after(ApiResponse(503, {"retry-after": "5"}, b'{"code": "Waking"}')) == 5.0
    assert retry_after(ApiResponse(503, {}, b'{"code": "Waking", "retry_after": 86400}')) == 60.0


def test_gtpipe_predict_waits_for_a_parked_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import trustme

    # Given the API answers 503 Waking, then the prediction (no real sleeping)
    local_outputs(tmp_path, ApiKey="k")
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    answers = [WAKING, OK]
    monkeypatch.setattr(PredictionClient, "predict_any", lambda self, *a, **k: answers.pop(0))
    slept: list[Any] = []
    monkeypatch.setattr("gtpipe_cli.waking.time.sleep", slept.append)
    image = tmp_path / "a.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    # When running gtpipe predict
    result = gtpipe("predict", str(image), "--local", "--state-dir", str(tmp_path))
    # Then it waited once and printed the prediction; stderr said the endpoint was waking
    assert result.code == Exit.OK, result.err
    assert json.loads(result.out)["status"] == 200 and slept == [30.0]
    assert "waking up" in capsys.readouterr().err
