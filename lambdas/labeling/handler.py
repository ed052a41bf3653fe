"""labeling: the builtin labeling service's job function (open / sweep / finish). Work in progress."""

from __future__ import annotations

from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Dispatch on ``event["action"]`` (first cut: not implemented yet)."""
    raise NotImplementedError("labeling handler: work in progress (issue 9)")
