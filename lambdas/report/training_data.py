"""What the run trained on and from (README "Model lifecycle: harvest, relabel, retrain"): the version of the
label set's cumulative dataset (``gtpipe_shared.dataset``) and whether training warm-started from the serving
model (``gtpipe_shared.incremental``), shown at the top of the Training section. Pure: the split's answer in
the execution state, else what the split recorded on the run's ledger item."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any


def training_data(state: Mapping[str, Any], ledger_item: Mapping[str, Any]) -> dict[str, Any] | None:
    """``{"dataset", "warm_start"}`` (each a mapping or absent); None when neither is known."""
    split = state.get("split") if isinstance(state.get("split"), Mapping) else {}
    found: dict[str, Any] = {}
    for name in ("dataset", "warm_start"):
        for source in (split, ledger_item):
            value = source.get(name) if isinstance(source, Mapping) else None
            if isinstance(value, Mapping) and value:
                found[name] = dict(value)
                break
    return found or None


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def training_data_html(data: Mapping[str, Any] | None) -> str:
    """The dataset version and the warm start as a short list (empty when neither is known)."""
    if not data:
        return ""
    items = []
    dataset = data.get("dataset") or {}
    version = dataset.get("version") or {}
    if version:
        kind = (
            "cumulative: the label set's dataset plus this run's labels"
            if dataset.get("cumulative")
            else "new"
        )
        items.append(
            f"<li>Dataset version ({_esc(kind)}): train <code>{_esc(version.get('train_version_id') or '-')}</code>, "
            f"validation <code>{_esc(version.get('validation_version_id') or '-')}</code> of "
            f"<code>{_esc(version.get('train_uri') or '-')}</code></li>"
        )
    warm = data.get("warm_start") or {}
    if warm.get("model_uri"):
        items.append(
            f"<li>Warm start: trained incrementally from the serving model of run "
            f"<code>{_esc(warm.get('source_run_id') or '-')}</code> (<code>{_esc(warm['model_uri'])}</code>)</li>"
        )
    elif warm.get("reason"):
        items.append(f"<li>Trained from scratch: {_esc(warm['reason'])}</li>")
    return f'<ul class="muted">{"".join(items)}</ul>' if items else ""
