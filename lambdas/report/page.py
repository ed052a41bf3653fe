"""The report's ``index.html``: one self-contained page (inline CSS, no scripts, no external resources).

Figures are linked relatively (``figures/<name>.png``), so a downloaded copy of ``reports/<run-id>/``
shows the same page. Every string that comes from data (class names, reasons, URIs, the run id) goes
through ``html.escape``.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from report.figures import RenderedFigure
from report.label_errors import label_errors_html
from report.model import LABELS, MONITORING, TEAM, LabelingTeam, RunData
from report.monitoring import monitoring_html
from report.timeline import format_duration
from report.training_data import training_data_html
from report.tuning import tuning_html

FIGURES_DIR = "figures"
SECTIONS = (
    ("labels", "Labels"),
    ("cost", "Labeling cost"),
    ("team", "Labeling team"),
    ("training", "Training"),
    ("evaluation", "Evaluation"),
    ("examples", "Validation examples"),
    ("steps", "Steps"),
    ("monitoring", "Monitoring"),
)
OUTCOME_TEXT = {
    "succeeded": "Succeeded: model deployed",
    "rejected": "Rejected by the quality gate",
    "failed": "Failed",
}
_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#212121;
background:#fafafa;line-height:1.45}
header{background:#263238;color:#fff;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px;word-break:break-all}
header p{margin:0;color:#cfd8dc}main{max-width:1640px;margin:0 auto;padding:12px 28px 40px}
h2{border-bottom:2px solid #cfd8dc;padding-bottom:4px;margin-top:34px}
.badge{display:inline-block;padding:3px 10px;border-radius:12px;font-weight:600;margin-left:8px;font-size:14px}
.succeeded{background:#c8e6c9;color:#1b5e20}.rejected{background:#ffe0b2;color:#e65100}.failed{background:#ffcdd2;color:#b71c1c}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:18px 0}.card{background:#fff;border:1px solid #e0e0e0;border-radius:6px;
padding:10px 14px;min-width:170px}.card .k{font-size:12px;color:#616161;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:20px;font-weight:600}.card .s{font-size:12px;color:#616161}
.failure{background:#ffebee;border-left:5px solid #c62828;padding:10px 16px;margin:16px 0;white-space:pre-wrap;
word-break:break-word}
figure{background:#fff;border:1px solid #e0e0e0;border-radius:6px;margin:14px 0;padding:12px}
figure img{max-width:100%;height:auto;display:block}figcaption{font-size:13px;color:#424242;margin-top:6px}
.unavailable{background:#f5f5f5;border:1px dashed #9e9e9e;padding:14px;color:#616161;border-radius:6px;margin:14px 0}
table{border-collapse:collapse;background:#fff;font-size:13px;margin:10px 0}th,td{border:1px solid #e0e0e0;
padding:4px 8px;text-align:left;vertical-align:top}th{background:#eceff1}td.n{text-align:right;font-variant-numeric:tabular-nums}
.warnings li{color:#e65100}.muted{color:#757575;font-size:13px}code{word-break:break-all}
"""


def esc(value: object) -> str:
    """HTML-escaped text of any value (quotes too, so it is safe in attributes)."""
    return html.escape(str(value), quote=True)


def _time(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else "-"


def _usd(value: float | None) -> str:
    return f"${value:,.2f}" if value is not None else "-"


def _count(value: int | None) -> str:
    return f"{value:,}" if value is not None else "-"


def _card(key: str, value: str, sub: str = "") -> str:
    extra = f'<div class="s">{esc(sub)}</div>' if sub else ""
    return f'<div class="card"><div class="k">{esc(key)}</div><div class="v">{esc(value)}</div>{extra}</div>'


def headline_cards(data: RunData) -> str:
    """The row of headline numbers: outcome, score vs threshold, labels, cost, duration."""
    head = data.headline
    cards = [
        _card("outcome", OUTCOME_TEXT.get(data.outcome, data.outcome), f"ledger status: {head.status or '-'}")
    ]
    if head.metric_value is not None:
        name = head.metric_name or "score"
        threshold = (
            f"threshold {head.quality_threshold:g}" if head.quality_threshold is not None else "no threshold"
        )
        verdict = "passed" if head.passed else "not passed" if head.passed is not None else ""
        cards.append(_card(name, f"{head.metric_value:.3f}", f"{threshold}, {verdict}".strip(", ")))
    else:
        cards.append(_card("validation score", "not available", data.unavailable.get("evaluation", "")))
    if head.total_labeled is not None or head.human_labeled is not None:
        cards.append(
            _card(
                "labels",
                _count(head.total_labeled),
                f"{_count(head.human_labeled)} human, {_count(head.machine_labeled)} machine, "
                f"{_count(head.failed_labels)} failed",
            )
        )
    elif data.labels is not None:
        cards.append(
            _card(
                "labels",
                _count(data.labels.human_objects + data.labels.machine_objects),
                f"from the {data.labels.source}",
            )
        )
    if data.cost is not None:
        cards.append(
            _card(
                "labeling cost",
                _usd(data.cost.actual_total_usd),
                f"estimated {_usd(data.cost.estimated_usd)}"
                + (f", budget {_usd(data.cost.budget_usd)}" if data.cost.budget_usd is not None else ""),
            )
        )
    if head.train_count is not None:
        cards.append(
            _card("split", f"{head.train_count:,} / {_count(head.validation_count)}", "train / validation")
        )
    if data.endpoint_usage:
        usage = data.endpoint_usage
        cards.append(
            _card(
                "endpoint parked",
                f"{usage['parked_hours']:,.1f} h",
                f"{usage['served_hours']:,.1f} h served, {_usd(usage['cost_avoided_usd'])} avoided "
                f"({usage['parks']} parks, {usage['wakes']} wakes)",
            )
        )
    if head.created_at is not None:
        seconds = (head.ended_at - head.created_at).total_seconds() if head.ended_at else None
        cards.append(_card("duration", format_duration(seconds), f"started {_time(head.created_at)}"))
    return '<div class="cards">' + "".join(cards) + "</div>"


def failure_box(data: RunData) -> str:
    """Where and why the run failed (only for failed runs)."""
    if data.outcome != "failed":
        return ""
    failure = data.failure or {}
    step = failure.get("step") or "an unknown step"
    lines = [f"The run failed at {step}."]
    if failure.get("error"):
        lines.append(f"Error: {failure['error']}")
    if failure.get("cause"):
        lines.append(f"Cause: {failure['cause'][:4000]}")
    return f'<div class="failure" role="alert">{esc(chr(10).join(lines))}</div>'


def figure_html(figure: RenderedFigure) -> str:
    """A figure with its caption, or the 'not available' placeholder."""
    if figure.png is None:
        return (
            f'<div class="unavailable" data-figure="{esc(figure.name)}"><strong>{esc(figure.title)}</strong>: '
            f"not available: {esc(figure.unavailable or 'no data')}</div>"
        )
    return (
        f'<figure><img src="{FIGURES_DIR}/{esc(figure.name)}" alt="{esc(figure.alt)}" loading="lazy">'
        f"<figcaption><strong>{esc(figure.title)}.</strong> {esc(figure.caption)}</figcaption></figure>"
    )


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[bool]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if numeric[i] else ''}>{esc(cell)}</td>" for i, cell in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _mean(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "-"


def class_table(data: RunData) -> str:
    """Per-class labels, confidences and validation metrics (full class names)."""
    if not data.class_names:
        return ""
    evaluation = data.evaluation
    detection = data.is_detection
    headers = [
        "class id",
        "class",
        "human labels",
        "machine labels",
        "mean conf. human",
        "mean conf. machine",
    ]
    headers += ["AP", "validation boxes"] if detection else ["precision", "recall", "validation images"]
    rows = []
    for class_id, name in enumerate(data.class_names):
        stats = (
            data.labels.per_class[class_id] if data.labels and class_id < len(data.labels.per_class) else None
        )
        metrics = evaluation.per_class.get(name, {}) if evaluation else {}
        row = [
            str(class_id),
            name,
            _count(stats.human) if stats else "-",
            _count(stats.machine) if stats else "-",
            _mean(stats.mean_confidence(True)) if stats else "-",
            _mean(stats.mean_confidence(False)) if stats else "-",
        ]
        if detection:
            row += [_mean(metrics.get("ap")), str(metrics.get("support", "-"))]
        else:
            row += [
                _mean(metrics.get("precision")),
                _mean(metrics.get("recall")),
                str(metrics.get("support", "-")),
            ]
        rows.append(row)
    numeric = [True, False] + [True] * (len(headers) - 2)
    return "<h3>Per class</h3>" + _table(headers, rows, numeric)


def steps_table(data: RunData) -> str:
    """Durations of the ledger's steps."""
    if not data.steps:
        return ""
    rows = [
        [
            step.name,
            step.status,
            _time(step.started_at),
            _time(step.ended_at),
            format_duration(step.seconds),
            step.job_name or "",
            step.failure_reason or "",
        ]
        for step in data.steps
    ]
    headers = ["step", "status", "started", "ended", "duration", "job", "failure reason"]
    return _table(headers, rows, [False, False, False, False, True, False, False])


def cost_table(data: RunData) -> str:
    """Per-iteration label counts and cost."""
    cost = data.cost
    if cost is None or not cost.iterations:
        return ""
    rows = [
        [
            str(row.iteration),
            _count(row.human_objects),
            _count(row.machine_objects),
            _usd(row.human_usd),
            _usd(row.machine_usd),
            _usd(row.human_usd + row.machine_usd),
        ]
        for row in cost.iterations
    ]
    headers = ["iteration", "human objects", "machine objects", "human cost", "machine cost", "total"]
    notes = [
        n
        for n in (
            cost.estimate_note and f"Estimate: {cost.estimate_note}.",
            cost.actual_note and f"Actual: {cost.actual_note}.",
            cost.attribution_note,
        )
        if n
    ]
    return _table(headers, rows, [True] * 6) + "".join(f'<p class="muted">{esc(n)}</p>' for n in notes)


def _share(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "-"


def _rate(value: float | None, unit: str) -> str:
    return f"{value:,.1f} {unit}" if value is not None else "-"


def _redundancy_card(team: LabelingTeam) -> str:
    """Answers per object (and how many objects got each count) and how often extra answers agreed."""
    spread = ", ".join(f"{objects:,} with {n}" for n, objects in team.answer_counts.items())
    agreed = (
        f"extra answers agreed with the first: {_share(team.extra_agreement)} of {team.extra_answers:,}"
        if team.extra_answers
        else "no extra answers"
    )
    return _card("answers per object", f"{team.answers_per_object:.2f}", f"objects: {spread}; {agreed}")


def team_html(data: RunData) -> str:
    """Throughput cards, the labelers table and per-class agreement of the builtin labeling service's
    team; 'not available' with the reason when there are no statistics."""
    team = data.team
    if team is None:
        reason = data.unavailable.get(TEAM, "no team statistics")
        return f'<div class="unavailable">not available: {esc(reason)}</div>'
    active = format_duration(team.active_seconds) if team.active_seconds else "-"
    cards = [
        _card(
            "answers per hour", _rate(team.answers_per_hour, "/ h"), f"{team.answers:,} answers in {active}"
        ),
        _card("objects per hour", _rate(team.objects_per_hour, "/ h"), f"{team.objects:,} objects labeled"),
        _card(
            "time per task",
            f"{team.mean_seconds_per_task:.1f} s" if team.mean_seconds_per_task is not None else "-",
            "mean of the seconds labelers took per answer",
        ),
    ]
    if team.answers_per_object is not None:
        cards.append(_redundancy_card(team))
    if team.suggestions.get("answers"):  # pre-annotation: how often people took the model's suggestion
        taken, given = team.suggestions["accepted"], team.suggestions["answers"]
        cards.append(
            _card(
                "model suggestions accepted",
                _share(taken / given),
                f"{taken:,} of {given:,} answers on {team.suggestions['objects']:,} suggested objects took the "
                "model's suggestion unchanged",
            )
        )
    span = f"{_time(team.started_at)} to {_time(team.finished_at)}"
    parts = [
        '<div class="cards">' + "".join(cards) + "</div>",
        f'<p class="muted">Source: {esc(team.source)}; active from the first task taken to the last answer: '
        f"{esc(span)}.</p>",
    ]
    unit = "drawn boxes" if data.is_detection else "answers"
    if team.workers:
        gold = any(w.gold_answers for w in team.workers)
        rows = [
            [
                w.username,
                _count(w.answers),
                f"{w.mean_seconds:.1f}" if w.mean_seconds is not None else "-",
                _share(w.agreement),
                *([f"{_share(w.gold_accuracy)} of {w.gold_answers:,}"] if gold else []),
            ]
            for w in team.workers
        ]
        headers = ["labeler", "answers", "mean seconds", "agreement", *(["gold accuracy"] if gold else [])]
        parts.append("<h3>Labelers</h3>")
        parts.append(_table(headers, rows, [False, *[True] * (len(headers) - 1)]))
        parts.append(
            f'<p class="muted">Agreement: share of the labeler\'s {esc(unit)} that match the consolidated label.</p>'
        )
    else:
        parts.append('<p class="muted">No labeler answered.</p>')
    if team.classes:
        rows = [[c.class_name, _count(c.objects), _share(c.agreement)] for c in team.classes]
        objects = "consolidated boxes" if data.is_detection else "objects"
        parts.append("<h3>Agreement per class</h3>")
        parts.append(_table(["class", objects, "agreement"], rows, [False, True, True]))
    if team.label_accuracy:
        parts.append(_label_accuracy_html(team, "known boxes" if data.is_detection else "gold objects"))
    if team.review:
        parts.append(_review_html(team.review))
    return "".join(parts)


def _review_html(review: dict[str, int]) -> str:
    """The review stage's decisions (docs/labeling-service.md, "Review")."""
    keys = ("items", "accepted", "fixed", "rejected", "pending", "rounds", "extra_answers")
    names = ("reviewed", "accepted", "fixed", "rejected", "undecided", "re-queues", "extra answers")
    return (
        "<h3>Review</h3>"
        + _table(list(names), [[_count(review.get(key, 0)) for key in keys]], [True] * len(keys))
        + '<p class="muted">Labels selected for review (answers disagreeing, confidence below the threshold, or '
        "the quality sample) and what reviewers decided; a reject asked one more answer (a re-queue), or "
        "left the object unlabeled when no re-queue was left.</p>"
    )


def _label_accuracy_html(team: LabelingTeam, unit: str) -> str:
    """The label accuracy gold objects measure per class, with its 95% Wilson interval."""
    rows = [
        [
            row.class_name if row.class_name is not None else "all classes",
            _count(row.items),
            f"{row.correct / row.items:.1%}",
            f"{row.low:.1%} to {row.high:.1%}",
        ]
        for row in team.label_accuracy
    ]
    return (
        "<h3>Label accuracy (gold objects)</h3>"
        + _table(["class", unit, "accuracy", "95% interval"], rows, [False, True, True, True])
        + f'<p class="muted">Each gold object consolidated as the data objects are, its own answers left out of '
        f"the labelers' gold records, compared with its known label; {team.gold_answers:,} answers went to "
        "gold objects (not in the output manifest).</p>"
    )


def _score(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def champion_html(data: RunData) -> str:
    """The champion/challenger card: both models' scores on the same images side by side, and the
    decision; empty when no model of the same label set served (no comparison was made)."""
    champion = data.headline.champion
    if not champion:
        return ""
    metric = str(champion.get("metric_name") or data.headline.metric_name or "score")
    images = (
        f"{champion.get('images', '-')} {champion.get('on') or 'validation images'} neither model trained on"
    )
    rows = [
        ["challenger (this run)", data.run_id, _score(champion.get("challenger_value"))],
        [
            "champion (serving)",
            str(champion.get("source_run_id") or "-"),
            _score(champion.get("champion_value")),
        ],
    ]
    verdict = "passed" if champion.get("passed") else "refused"
    return (
        f'<div id="champion"><h3>Champion / challenger: {esc(verdict)}</h3>'
        f'<p class="muted">{esc(metric)} on {esc(images)}; margin '
        f"{esc(champion.get('margin_points'))} points.</p>"
        + _table(["model", "run", metric], rows, [False, False, True])
        + f"<p>{esc(champion.get('reason') or '')}</p></div>"
    )


def render_page(data: RunData, figures: Sequence[RenderedFigure], generated_at: datetime) -> str:
    """The complete HTML page."""
    sections = []
    for key, heading in SECTIONS:
        if key == MONITORING and data.monitoring is None and MONITORING not in data.unavailable:
            continue  # drift monitoring is off: no section
        parts = [figure_html(f) for f in figures if f.section == key]
        if key == "labels":
            if data.labels is not None:
                parts.insert(
                    0,
                    f'<p class="muted">Source: {esc(data.labels.source)} <code>{esc(data.labels.manifest_uri)}</code>; '
                    f"{data.labels.lines:,} lines, {data.labels.failed_objects:,} without a label.</p>",
                )
            elif LABELS in data.unavailable and not parts:
                parts.append(f'<div class="unavailable">not available: {esc(data.unavailable[LABELS])}</div>')
        if key == "cost":
            parts.append(cost_table(data))
        if key == "team":
            # Without statistics the section says why once (not again under the figure's title).
            parts = [team_html(data)] + (parts if data.team is not None else [])
        if key == "evaluation":
            if data.evaluation is not None:
                parts.insert(0, f'<p class="muted">Source: {esc(data.evaluation.source)}.</p>')
            parts.insert(1 if data.evaluation is not None else 0, champion_html(data))
            parts.append(class_table(data))
        if key == "training":
            parts.insert(0, training_data_html(data.training_data))
            parts.append(tuning_html(data.tuning))
            parts.append(label_errors_html(data.label_errors))
        if key == "steps":
            parts.append(steps_table(data))
        if key == MONITORING:
            parts.append(
                monitoring_html(data.monitoring)
                if MONITORING not in data.unavailable
                else f'<div class="unavailable">not available: {esc(data.unavailable[MONITORING])}</div>'
            )
        sections.append(f'<section id="{key}"><h2>{esc(heading)}</h2>{"".join(parts)}</section>')
    warnings_html = (
        '<ul class="warnings">' + "".join(f"<li>{esc(w)}</li>" for w in data.warnings) + "</ul>"
        if data.warnings
        else '<p class="muted">None.</p>'
    )
    head = data.headline
    arns = [
        f"<li>Reused labeling model: <code>{esc(head.reused_model_arn)}</code></li>"
        if head.reused_model_arn
        else "",
        f"<li>Final active-learning model: <code>{esc(head.final_active_learning_model_arn)}</code></li>"
        if head.final_active_learning_model_arn
        else "",
    ]
    facts = (
        f'<ul class="muted"><li>Task type: {esc(data.task_type)}; {len(data.class_names)} classes</li>'
        f"<li>Input: <code>{esc(head.input_uri or '-')}</code> ({esc(head.manifest_kind or 'unknown')} manifest)</li>"
        f"{''.join(arns)}</ul>"
    )
    title = f"gtpipe run {data.run_id}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src 'self'; "
        "style-src 'unsafe-inline'\">"
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>"
        f'<header><h1>{esc(title)}<span class="badge {esc(data.outcome)}">{esc(data.outcome)}</span></h1>'
        f"<p>Report generated {esc(_time(generated_at))}</p></header><main>"
        f"{failure_box(data)}{headline_cards(data)}{facts}{''.join(sections)}"
        f'<section id="warnings"><h2>Warnings</h2>{warnings_html}</section>'
        "</main></body></html>\n"
    )
