"""The report's Monitoring section: the serving endpoint's latest drift-monitoring windows (README
"Monitoring"), each metric against its alarm threshold, and live accuracy with how many corrected samples
it rests on.

:func:`latest_windows` reads the window summaries the monitor writes (``monitoring/windows/<yyyy>/<mm>/<dd>/``,
``gtpipe_shared.drift_monitor.window_key``) of the report's day and the day before; :func:`monitoring_html`
renders them (pure). With monitoring off (``gtpipe:monitoring``) the section says so.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timedelta
from typing import Any

from gtpipe_shared.drift import (
    METRIC_CLASS_PSI,
    METRIC_CONFIDENCE_PSI,
    METRIC_EMBEDDING,
    METRIC_INPUT_SHIFT,
    METRIC_LABELED,
    METRIC_LIVE_ACCURACY,
    METRIC_REQUESTS,
)
from gtpipe_shared.drift_monitor import WINDOWS_PREFIX, day_prefixes

LATEST_WINDOWS = 6
COLUMNS = (
    (METRIC_INPUT_SHIFT, "Input shift"),
    (METRIC_EMBEDDING, "Embedding distance"),
    (METRIC_CLASS_PSI, "Class PSI"),
    (METRIC_CONFIDENCE_PSI, "Confidence PSI"),
)


def latest_windows(s3: Any, bucket: str, at: datetime, limit: int = LATEST_WINDOWS) -> list[dict[str, Any]]:
    """The newest ``limit`` window summaries of the day of ``at`` and the day before, newest first."""
    keys: list[str] = []
    for prefix in day_prefixes(WINDOWS_PREFIX, at - timedelta(days=1), at):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
    windows = []
    for key in sorted(keys, reverse=True)[:limit]:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        windows.append(json.loads(body))
    return windows


def _cell(value: Any, threshold: Any, below: bool = False) -> str:
    if not isinstance(value, int | float):
        return '<td class="muted">-</td>'
    breached = isinstance(threshold, int | float) and (value < threshold if below else value > threshold)
    limit = f" ({'min' if below else 'max'} {threshold:g})" if isinstance(threshold, int | float) else ""
    style = ' style="color:#c62828;font-weight:600"' if breached else ""
    return f"<td{style}>{value:.3f}{html.escape(limit)}</td>"


def monitoring_html(windows: list[dict[str, Any]] | None) -> str:
    """The section's body: a table of ``windows`` (newest first), or why there is none."""
    if windows is None:
        return '<p class="muted">Drift monitoring is off (gtpipe:monitoring).</p>'
    if not windows:
        return '<p class="muted">No monitoring window was measured in the last two days.</p>'
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title in COLUMNS)
    rows = []
    for window in windows:
        metrics = window.get("metrics") or {}
        thresholds = window.get("thresholds") or {}
        cells = "".join(_cell(metrics.get(name), thresholds.get(name)) for name, _ in COLUMNS)
        accuracy = _cell(metrics.get(METRIC_LIVE_ACCURACY), thresholds.get(METRIC_LIVE_ACCURACY), below=True)
        breaches = ", ".join(window.get("breaches") or []) or "none"
        end = (window.get("window") or {}).get("end", "?")
        rows.append(
            f"<tr><td>{html.escape(str(end))}</td><td>{html.escape(str(window.get('run_id') or '-'))}</td>"
            f"<td>{int(metrics.get(METRIC_REQUESTS) or 0)}</td>{cells}{accuracy}"
            f"<td>{int(metrics.get(METRIC_LABELED) or 0)}</td><td>{html.escape(breaches)}</td></tr>"
        )
    return (
        '<p class="muted">The serving endpoint\'s latest drift-monitoring windows; a value beyond its alarm '
        "threshold is marked. Live accuracy is on the corrected random sample (count).</p>"
        "<table><thead><tr><th>Window end</th><th>Model run</th><th>Requests</th>"
        f"{head}<th>Live accuracy</th><th>Corrected</th><th>Breaches</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
