"""The drift window's report for a driver's summary (local/drivers/drift_window.py), without a cloud."""

from __future__ import annotations

from local.drivers.drift_window import DRIFT_ALARMS, DriftCheck


def test_a_drift_check_names_the_alarms_in_alarm_and_the_breached_metrics() -> None:
    # Given a window that breached the input threshold only, evaluated with the input alarm in ALARM
    check = DriftCheck(
        summary={"metrics": {"WindowRequests": 390, "InputShift": 0.8126}, "breaches": ["InputShift"]},
        states={"Gtpipe-drift-embedding": "OK", "Gtpipe-drift-input": "ALARM", "Gtpipe-drift-live": "OK"},
    )
    # When it is described, then only the input alarm is alarming, and the line names both drift alarms'
    # states, the window's request count and the breached metric with its value
    assert check.alarming == ["Gtpipe-drift-input"]
    assert check.describe() == (
        "Gtpipe-drift-input ALARM, Gtpipe-drift-embedding OK (window of 390 requests; breached: InputShift 0.813)"
    )


def test_a_drift_check_without_breaches_or_states_says_so() -> None:
    # Given a window too small to measure and alarms not yet evaluated
    check = DriftCheck(summary={"metrics": {"WindowRequests": 3}, "breaches": []}, states={})
    # then nothing is alarming and the line says the states are missing and nothing breached
    assert check.alarming == []
    assert check.describe() == (
        f"{DRIFT_ALARMS[0]} missing, {DRIFT_ALARMS[1]} missing (window of 3 requests; breached: none)"
    )
